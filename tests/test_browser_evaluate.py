"""The Evaluate page in Chromium: accuracy, the confusion heat map, a real click on a cell, the model's insides."""

from __future__ import annotations

import shutil

import pytest

from lib.inference import evaluation
from lib.runs.store import Store
from tests.conftest import start_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Each cell of the confusion matrix carries an invisible marker, drawn in row-major order (true, predicted).
CELL_MARKERS = ".js-plotly-plot .scatterlayer .point"


def test_evaluate_shows_accuracy_and_a_clickable_heat_map(tmp_path, browser, trained_run, screenshots_dir):
    runs_dir = tmp_path / "runs"
    shutil.copytree(trained_run[0], runs_dir)
    run_id = trained_run[1]
    expected = evaluation.evaluate_run(Store(runs_dir), run_id)
    proc, url = start_app(runs_dir, extra_env={"CONVSTUDIO_NO_SCHEDULER": "1"})
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.set_default_timeout(60_000)
    try:
        page.goto(url)
        page.get_by_role("link", name="Evaluate", exact=True).click()
        page.get_by_text("Test accuracy", exact=True).wait_for()
        page.get_by_text(f"{expected.accuracy:.2%}", exact=True).wait_for()
        assert page.url.endswith(f"/evaluate?run={run_id}")  # a reload opens the same run

        page.locator(".js-plotly-plot .heatmaplayer").first.wait_for()
        target = (3, 3)  # the pickers start on the worst confusion, or on (0, 0): never here
        marker = page.locator(CELL_MARKERS).nth(target[0] * 10 + target[1])
        marker.wait_for(state="attached")
        box = marker.bounding_box()
        centre = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
        page.mouse.move(centre["x"], centre["y"])
        page.wait_for_timeout(300)  # hover first: Plotly selects the point under the pointer on click
        page.mouse.click(centre["x"], centre["y"])
        count = int(expected.confusion[target])
        page.get_by_text(f"True {target[0]}, classified right: {count:,} test images").wait_for(timeout=30_000)
        images = page.locator('[data-testid="stImage"] img')
        images.first.wait_for()
        assert images.count() >= min(24, count)
        page.screenshot(path=screenshots_dir / "evaluate.png", full_page=True)

        # inside the model: the first layer's filters and one layer's feature maps, as pictures
        page.get_by_role("tab", name="Inside the model").click()
        page.locator(".js-plotly-plot .gtitle", has_text="First-layer filters").wait_for(timeout=90_000)
        page.locator(".js-plotly-plot .gtitle", has_text="channels").wait_for()
        page.screenshot(path=screenshots_dir / "evaluate-inside.png", full_page=True)
    except Exception:
        page.screenshot(path=screenshots_dir / "evaluate-failure.png")
        raise
    finally:
        proc.terminate()
        proc.wait(10)
