"""Playwright helpers shared by the browser tests: knowing when Streamlit has finished a rerun.

The app hides Streamlit's own running indicator (ui/frame.py), so its visibility says nothing.
Streamlit marks its root element with the script's state for exactly this purpose
(data-test-script-state: initial, running, notRunning, rerunRequested, ...).
"""

from __future__ import annotations

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the script rerun a widget started has finished."""
    page.wait_for_timeout(300)  # the click's rerun request reaches the server and the state turns 'running'
    page.locator(IDLE).wait_for(state="attached", timeout=timeout)


# Installed before the page's own scripts (page.add_init_script): counts the animation frames in
# which Streamlit's running indicator is in the page, and those in which it can be seen (laid out
# with a size, not display:none). The indicator appears once a rerun has taken 500 ms.
WATCH_STATUS_WIDGET = """(() => {
    const seen = window.__csStatusWidget = {present: 0, visible: 0, frames: 0};
    const look = () => {
        const el = document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
        seen.frames += 1;
        if (el) {
            seen.present += 1;
            const box = el.getBoundingClientRect();
            if (el.checkVisibility() && box.width > 0 && box.height > 0) seen.visible += 1;
        }
        requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
})()"""


def watch_status_widget(page) -> None:
    """Count, from the next page load on, the frames showing Streamlit's running indicator."""
    page.add_init_script(WATCH_STATUS_WIDGET)


def status_widget_seen(page) -> dict:
    """{'present': frames, 'visible': frames, 'frames': frames} since the page loaded."""
    return page.evaluate("() => ({...window.__csStatusWidget})")
