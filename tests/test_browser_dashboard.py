"""The whole dashboard in Debian's Chromium: pick data, look at the model, train, reload, compare.

Real MNIST from ../shared/data when present, else Fashion-MNIST from Debian.
Trains simple_cnn for one epoch on 6,000 images through the UI and the real
scheduler and worker; batch size 4 keeps the run long enough (~25 s on two
cores, after the worker's start) to reload the page in the middle of it.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from lib.config import TrainConfig
from lib.runs.store import Store
from tests.conftest import FASHION_DEBIAN, SHARED_DATA, SHARED_MNIST, start_app
from tests.helpers.browser import settle  # also imported from here by the other browser tests

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TRAIN_LIMIT = 6000
VIEWPORT = {"width": 1400, "height": 1900}  # Streamlit scrolls inside the page: a tall window shows it all
PLOTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(g => ({
    title: ((g.layout && g.layout.title && g.layout.title.text) || '').replace(/<[^>]+>/g, ''),
    points: (g.data || []).map(t => (t.x || []).length)}))"""


def pick_data() -> tuple[str | None, str, str]:
    """(data dir, dataset title, dataset name): the shared MNIST sample, else Debian's Fashion-MNIST."""
    forced = os.environ.get("CONVSTUDIO_BROWSER_DATASET")  # to exercise the fallback where ../shared exists
    if forced != "fashion_mnist" and (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        return str(SHARED_DATA), "MNIST handwritten digits", "mnist"
    if not (FASHION_DEBIAN / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail("neither ../shared/data/mnist nor Debian's dataset-fashion-mnist is installed")
    return None, "Fashion-MNIST", "fashion_mnist"


def set_number(page, label: str, value) -> None:
    field = page.get_by_role("spinbutton", name=label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    settle(page)
    assert field.input_value() == str(value), f"{label} did not take {value}"


def open_page(page, name: str) -> None:
    """Click a page in the navigation; again if a rerun that was under way (a run finishing) swallowed it."""
    for _ in range(3):
        settle(page)
        page.get_by_role("link", name=name, exact=True).click()
        try:
            page.get_by_role("heading", name=name, exact=True).first.wait_for(timeout=10_000)
            return
        except PlaywrightTimeout:
            continue
    pytest.fail(f"the {name} page never opened")


def traces(page, title: str) -> list[list[int]]:
    """Points per trace of every Plotly chart with this title (a redraw can briefly leave an old copy)."""
    return [p["points"] for p in page.evaluate(PLOTS) if p["title"] == title]


def batch_points(page) -> int:
    return max((t[0] for t in traces(page, "Batch loss") if t), default=0)


def test_train_in_the_browser_survives_a_reload_and_shows_every_page(tmp_path, browser, screenshots_dir):
    data_dir, title, name = pick_data()
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    store = Store(runs_dir)
    proc, url = start_app(runs_dir, data_dir)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    try:
        # -- Data -------------------------------------------------------------
        page.goto(url)
        page.get_by_role("combobox", name="Dataset").wait_for()
        if name != "mnist":  # MNIST, the default, is then missing: the page says where to put it
            page.get_by_text("Put these files").wait_for()
            page.get_by_role("combobox", name="Dataset").click()
            page.get_by_role("option", name=title).click()
        page.get_by_text("Training images", exact=True).wait_for()
        set_number(page, "Use at most this many training images (0 = all)", TRAIN_LIMIT)
        page.get_by_text("Images per class").first.wait_for()
        page.screenshot(path=screenshots_dir / "data.png")

        # -- Model ------------------------------------------------------------
        open_page(page, "Model")
        page.get_by_text("Parameters", exact=True).wait_for()
        page.get_by_text("693,962", exact=True).wait_for()  # simple_cnn on 28x28x1, 10 classes
        page.get_by_text("Memory per batch of 64").wait_for()
        page.get_by_test_id("stDataFrame").wait_for()
        settle(page)
        page.screenshot(path=screenshots_dir / "model.png")

        # -- Train ------------------------------------------------------------
        open_page(page, "Train")
        set_number(page, "Epochs", 1)
        set_number(page, "Batch size", 4)
        page.get_by_role("button", name="Start training").click()

        run = wait_for(lambda: next(iter(store.list_runs()), None), "the run to be created", 10)
        assert (run.config.dataset, run.config.architecture, run.config.epochs) == (name, "simple_cnn", 1)
        assert (run.config.batch_size, run.config.train_limit) == (4, TRAIN_LIMIT)
        assert (run.config.seed, run.config.validation_split) == (42, 0.1)  # untouched knobs keep what they showed
        page.get_by_text(f"{run.id} · running").wait_for(timeout=30_000)
        wait_for(lambda: f"run={run.id}" in page.url and "/train?" in page.url, "the run id in the URL", 10)

        # a reload (or a closed tab) does not touch the run; the URL brings it back
        assert store.get(run.id).status == "running"
        page.reload()
        page.get_by_text(f"{run.id} · running").wait_for(timeout=30_000)
        first = wait_for(lambda: batch_points(page), "batch points", 60)
        later = wait_for(lambda: (n := batch_points(page)) > first and n, "the batch-loss chart to grow", 30)
        assert later > first
        # for the README: a few seconds more of curve, if the run lasts that long
        wait_for(lambda: batch_points(page) >= 12 or store.get(run.id).is_finished, "a longer curve", 10)
        page.screenshot(path=screenshots_dir / "train-running.png")

        page.get_by_text(f"{run.id} · completed").wait_for(timeout=90_000)
        page.get_by_text(re.compile("Test accuracy")).first.wait_for()  # not the folded recipe's "test accuracy"
        finished = store.get(run.id)
        assert finished.status == "completed" and finished.test_accuracy > 0.5
        wait_for(
            lambda: [1, 1] in traces(page, "Epoch accuracy"),
            "the train and validation points",
            15,
            lambda: f"charts: {page.evaluate(PLOTS)}",
        )
        page.screenshot(path=screenshots_dir / "train-completed.png")

        # -- Runs -------------------------------------------------------------
        open_page(page, "Runs")
        page.get_by_text("1 of 1 runs").wait_for()
        table = page.get_by_test_id("stDataFrame")
        table.wait_for()
        settle(page)
        box = table.bounding_box()
        page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the first row's tick box
        page.get_by_role("button", name="Train again", exact=True).wait_for()
        page.get_by_text("Select two or more runs to compare them.").wait_for()
        page.screenshot(path=screenshots_dir / "runs.png")
        assert page.evaluate(CUT_LABELS) == [], "labels cut short on the Runs page"  # five in a row were

        # -- Predict (owned by another page; only that it opens) -----------------------
        open_page(page, "Predict")
        page.screenshot(path=screenshots_dir / "predict.png")
    except BaseException:  # pytest.fail raises a BaseException
        page.screenshot(path=screenshots_dir / "failure.png")  # what the user would have seen
        raise
    finally:
        proc.terminate()
        proc.wait(10)


# buttons whose label does not fit (an ellipsis hides the end): any element inside wider than its box
CUT_LABELS = """() => [...document.querySelectorAll('[data-testid="stDownloadButton"] button, .stButton button')]
    .filter(b => b.offsetParent !== null
        && [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
    .map(b => b.innerText)"""


def wait_for(probe, what: str, seconds: float, details=None):
    """Poll probe() until it returns something truthy; fail naming what never came (and details())."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {seconds:g} s waiting for {what}" + (f"; {details()}" if details else ""))


def test_a_deep_link_to_a_run_works_on_a_freshly_started_server(tmp_path, browser, tiny_data_dir):
    """A reload right after a server restart: the first request is /train?run=ID, not the home page."""
    runs_dir = tmp_path / "runs"
    store = Store(runs_dir)
    run_id = store.create_run(TrainConfig(data_dir=tiny_data_dir))
    store.request_stop(run_id)  # a finished run: nothing for the scheduler to start
    proc, url = start_app(runs_dir, tiny_data_dir)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{url}/train?run={run_id}")
        page.get_by_text(f"{run_id} · stopped").wait_for(timeout=30_000)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("Server", exact=True).wait_for()  # app.py's frame, not the bare page
        assert sidebar.get_by_role("link", name="Train", exact=True).is_visible()
        assert not sidebar.get_by_text("custom data", exact=True).count()  # no file-list navigation
    finally:
        proc.terminate()
        proc.wait(10)
