"""Issue 14: Predict forgot the drawing and the uploads when the user left the page and came back.

In Chromium: draw, upload, go to the Runs page, come back: the drawing is on the canvas again, the
uploads are listed again, and their predictions show without drawing or uploading anew.
"""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect

from tests.conftest import start_app
from tests.test_app_predict import digit_png
from tests.test_browser_dashboard import open_page
from tests.test_browser_predict import draw, open_predict, read_prediction

pytestmark = [pytest.mark.browser, pytest.mark.slow]

INK_PIXELS = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 127) n++; return n; }"""


def ink_on_canvas(page) -> int:
    """White pixels on Fabric's lower canvas, where the drawing is rendered."""
    return page.locator("canvas.dc-canvas.lower-canvas").evaluate(INK_PIXELS)


def test_the_drawing_and_uploads_are_back_after_a_page_change(tmp_path, browser, trained_run, screenshots_dir):
    runs_dir = tmp_path / "runs"
    shutil.copytree(trained_run[0], runs_dir)
    proc, url = start_app(runs_dir, extra_env={"CONVSTUDIO_NO_SCHEDULER": "1"})
    try:
        page = open_predict(browser, url)
        draw(page, [[(60, 80), (220, 80)], [(140, 40), (140, 240)]])
        read_prediction(page)
        drawn = page.get_by_text("Prediction:").inner_text()
        assert ink_on_canvas(page) > 1000

        open_page(page, "Runs")
        open_page(page, "Predict")
        page.get_by_text("Predicted in").wait_for(timeout=60_000)  # at once, without a new stroke
        assert page.get_by_text("Prediction:").inner_text() == drawn
        expect(page.locator("canvas.upper-canvas")).to_have_count(1)
        page.wait_for_timeout(1000)  # Fabric renders the loaded drawing
        assert ink_on_canvas(page) > 1000, "the canvas came back empty"
        page.screenshot(path=str(screenshots_dir / "predict-drawing-kept.png"), full_page=True)

        page.get_by_role("tab", name="Upload").click()
        page.get_by_text("Drop one or more images here").wait_for(timeout=30_000)
        page.locator('input[type="file"]').set_input_files(
            [{"name": "seven.png", "mimeType": "image/png", "buffer": digit_png()}]
        )
        expect(page.get_by_text("Prediction:")).to_have_count(1, timeout=60_000)
        expect(page.get_by_text("seven.png", exact=True)).to_have_count(2, timeout=30_000)  # uploader list, result

        open_page(page, "Runs")
        open_page(page, "Predict")  # opens on the tab left open, with the images uploaded before
        page.get_by_text("you uploaded earlier in this session").wait_for(timeout=60_000)
        expect(page.get_by_text("seven.png", exact=True)).to_have_count(1)  # the result; the uploader is empty
        expect(page.get_by_text("Prediction:")).to_have_count(1, timeout=30_000)
        page.screenshot(path=str(screenshots_dir / "predict-uploads-kept.png"), full_page=True)
    finally:
        proc.kill()
        proc.wait()
