"""The Predict page's layout at 1400 x 900 in Chromium (issue 14's rough edges): the canvas's own
toolbar, which floated over the brush slider with a second trash icon, is out of the way, and the
camera's Take photo button is on screen without scrolling."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, start_app
from tests.helpers.browser import settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORT = {"width": 1400, "height": 900}
CANVAS_HOST = '[data-testid="stBidiComponentIsolated"]'
TOOLBAR_BUTTONS = ".dc-toolbar-card > button"  # inside the component's shadow root (Playwright looks in)


@pytest.fixture
def camera_browser():
    """Headless Chromium with a fake camera that needs no permission prompt."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install chromium (test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            ],
        )  # fmt: skip
        yield b
        b.close()


@pytest.fixture
def predict_page(tmp_path, camera_browser, trained_run):
    runs_dir = tmp_path / "runs"
    shutil.copytree(trained_run[0], runs_dir)
    proc, url = start_app(runs_dir, extra_env={"CONVSTUDIO_NO_SCHEDULER": "1"})
    try:
        page = camera_browser.new_context(viewport=VIEWPORT, permissions=["camera"]).new_page()
        page.goto(url + "/predict")
        page.get_by_text("Draw a digit on the canvas").wait_for(timeout=90_000)
        yield page
    finally:
        proc.kill()
        proc.wait()


def hit_is_in_canvas(page, box) -> bool:
    """Does a click at the middle of `box` reach the canvas component (its shadow host) at all?"""
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return page.evaluate(
        "([x, y, host]) => { const el = document.elementFromPoint(x, y); return !!(el && el.closest(host)); }",
        [x, y, CANVAS_HOST],
    )


def test_the_canvas_toolbar_neither_covers_the_slider_nor_offers_a_second_clear(predict_page, screenshots_dir):
    page = predict_page
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for(state="visible")
    canvas.hover()  # the toolbar slides up above the canvas on hover
    page.wait_for_timeout(800)
    for button in page.locator(TOOLBAR_BUTTONS).all():  # upload, undo, redo, edit and the trash icon
        box = button.bounding_box()
        assert box is not None
        name = button.get_attribute("aria-label")
        assert not hit_is_in_canvas(page, box), f"the canvas's own '{name}' button can be clicked (over the slider)"
    page.screenshot(path=str(screenshots_dir / "predict-canvas-hover.png"))
    assert page.get_by_role("button", name="Clear").count() == 1  # the page's Clear: the one way to clear


def test_take_photo_is_on_screen_without_scrolling(predict_page, screenshots_dir):
    page = predict_page
    page.get_by_role("tab", name="Camera").click()
    settle(page)
    button = page.get_by_role("button", name="Take photo")
    button.wait_for(timeout=30_000)
    page.locator("video").first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(1000)  # the video takes its size from the camera's first frames
    box = button.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= VIEWPORT["height"], f"Take photo is below the fold at {box}"
    page.screenshot(path=str(screenshots_dir / "predict-camera.png"))
