"""Issue 14: a second browser tab said "No run yet" while a run trained, and "(yours)" counted only
the runs started in that tab. In Chromium: start a run in one tab, open the app in a second tab of
the same browser: it shows the run, marked as yours; a different browser does not call it yours."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from lib.runs.store import Store
from tests.conftest import start_app
from tests.helpers.browser import settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_train(context, url: str):
    page = context.new_page()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(url + "/train")
    page.get_by_role("heading", name="Train").first.wait_for(timeout=90_000)
    settle(page)
    return page


def test_a_second_tab_shows_the_run_started_in_the_first(tmp_path, browser, tiny_data_dir, screenshots_dir):
    runs_dir = tmp_path / "runs"
    # no scheduler: the run stays queued, so the test needs no training
    proc, url = start_app(runs_dir, tiny_data_dir, extra_env={"CONVSTUDIO_NO_SCHEDULER": "1"})
    try:
        context = browser.new_context()
        first = open_train(context, url)
        first.get_by_role("button", name="Start training").click()
        first.get_by_text("Waiting: place").wait_for(timeout=60_000)
        (run,) = Store(runs_dir).queue()

        second = open_train(context, url)  # the same browser, a new tab: a new Streamlit session
        second.get_by_text(f"Run {run.id}").wait_for(timeout=30_000)  # the live view of that run
        expect(second.get_by_text("No run yet")).to_have_count(0)
        sidebar = second.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_text("(yours)")).to_have_count(1, timeout=10_000)
        second.screenshot(path=str(screenshots_dir / "train-second-tab.png"))

        stranger = open_train(browser.new_context(), url)  # another browser: someone else
        stranger.get_by_text("None of your runs is training").wait_for(timeout=30_000)
        expect(stranger.get_by_role("link", name=run.id[-6:], exact=False).first).to_be_visible()
        expect(stranger.locator('[data-testid="stSidebar"]').get_by_text("(yours)")).to_have_count(0)
    finally:
        proc.kill()
        proc.wait()
