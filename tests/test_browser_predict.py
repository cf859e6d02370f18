"""Draw on the Predict page's canvas with the mouse in Chromium and read the model's answer from the page."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import start_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PREDICTION = re.compile(r"Prediction: (\S+) · ([0-9.]+)% confident")


def open_predict(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url + "/predict")
    page.get_by_text("Draw a digit on the canvas").wait_for(timeout=60_000)
    return page


def draw(page, strokes) -> None:
    """Each stroke is a list of (x, y) canvas pixels, drawn as one mouse down - move - up.

    Fabric.js listens on its upper canvas; the component sends the drawing when the mouse goes up.
    """
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for(state="visible")
    page.wait_for_timeout(1500)  # Fabric attaches its mouse handlers after the element appears
    box = canvas.bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=20)
        page.mouse.up()


def read_prediction(page) -> tuple[str, float]:
    page.get_by_text("Predicted in").wait_for(timeout=60_000)  # the last thing a result shows
    match = PREDICTION.search(page.get_by_text("Prediction:").inner_text())
    assert match, "no prediction text on the page"
    return match.group(1), float(match.group(2))


def test_drawing_with_the_mouse_shows_a_prediction(tmp_path, browser, trained_run, screenshots_dir):
    runs_dir = tmp_path / "runs"
    shutil.copytree(trained_run[0], runs_dir)
    proc, url = start_app(runs_dir)
    try:
        page = open_predict(browser, url)
        draw(page, [[(60, 80), (220, 80)]])  # a horizontal bar, like the tiny dataset's classes
        label, confidence = read_prediction(page)
        assert label in [str(d) for d in range(10)]
        assert 10.0 <= confidence <= 100.0  # the top class of ten has at least a tenth
        expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(1, timeout=30_000)
        # the drawing, the 28x28 model input, the Grad-CAM overlay
        expect(page.locator('[data-testid="stImage"] img')).to_have_count(3, timeout=30_000)
        page.screenshot(path=str(screenshots_dir / "predict-draw.png"), full_page=True)

        page.get_by_role("button", name="Clear").click()
        page.get_by_text("Draw a digit on the canvas").wait_for(timeout=30_000)
        expect(page.get_by_text("Prediction:")).to_have_count(0)
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def lenet_on_digits(tmp_path_factory, shared_data_dir) -> Path:
    """A runs folder with a LeNet-5 trained on the real digit sample (trained once per module)."""
    from lib.config import TrainConfig
    from lib.runs.store import Store
    from lib.train import fit

    runs_dir = tmp_path_factory.mktemp("lenet") / "runs"
    store = Store(runs_dir)
    run_id = store.create_run(TrainConfig(dataset="mnist", architecture="lenet5", epochs=3, data_dir=shared_data_dir))
    store.claim_next(["cpu"])
    fit.train_run(store, run_id)
    return runs_dir


# PREDICT_TEST_REPEAT=10 runs the drawing test ten times against one trained model (issue 14 asked
# for ten runs in a row to show it is reliable)
@pytest.mark.realdata
@pytest.mark.parametrize("attempt", range(int(os.environ.get("PREDICT_TEST_REPEAT", "1"))))
def test_a_drawn_one_and_seven_are_recognised(
    tmp_path, browser, lenet_on_digits, shared_data_dir, screenshots_dir, attempt
):
    """With a LeNet-5 trained on real digits, what a person draws is named correctly, also after Clear."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(lenet_on_digits, runs_dir)
    proc, url = start_app(runs_dir, shared_data_dir)
    try:
        page = open_predict(browser, url)
        draw(page, [[(150, 40), (140, 240)]])  # a one, slightly slanted, off-centre
        assert read_prediction(page)[0] == "1"

        page.get_by_role("button", name="Clear").click()
        page.get_by_text("Draw a digit on the canvas").wait_for(timeout=30_000)
        expect(page.locator("canvas.upper-canvas")).to_have_count(1)  # the same canvas, not a second one
        draw(page, [[(70, 60), (200, 60), (110, 230)]])  # a seven in one stroke
        assert read_prediction(page)[0] == "7"
    finally:
        page.screenshot(path=str(screenshots_dir / "predict-seven.png"), full_page=True)
        proc.kill()
        proc.wait()


@pytest.mark.realdata
def test_a_stroke_started_right_after_clear_is_kept(tmp_path, browser, lenet_on_digits, shared_data_dir):
    """Issue 14: a stroke begun within half a second of Clear vanished (a new canvas replaced the old one)."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(lenet_on_digits, runs_dir)
    proc, url = start_app(runs_dir, shared_data_dir)
    try:
        page = open_predict(browser, url)
        draw(page, [[(150, 40), (140, 240)]])
        read_prediction(page)
        canvas = page.locator("canvas.upper-canvas")
        box = canvas.bounding_box()
        page.get_by_role("button", name="Clear").click()
        page.get_by_text("Draw a digit on the canvas").wait_for(timeout=30_000)
        page.wait_for_timeout(150)  # the user goes straight on drawing: no time for a new canvas to settle
        page.mouse.move(box["x"] + 70, box["y"] + 60)
        page.mouse.down()
        for x, y in [(200, 60), (110, 230)]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=20)
        page.mouse.up()
        assert read_prediction(page)[0] == "7"
    finally:
        proc.kill()
        proc.wait()
