"""Issue 14, defect 1 in Chromium: on the Runs page the selection follows run ids, not row positions.

Tick a run, continue it (it moves to the top of the table), tick another one, delete:
exactly the two ticked runs are named and deleted. Before the fix the browser kept the
first tick on its row position, now another run, and that run was deleted instead.
The scheduler is off, so a continued run stays queued and nothing trains.
"""

from __future__ import annotations

import re

import pytest

from lib.config import TrainConfig
from lib.runs.store import Store
from tests.conftest import start_app
from tests.test_browser_dashboard import settle, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
VIEWPORT = {"width": 1400, "height": 1900}
HEADER_PX = ROW_PX = 35  # Streamlit's data grid


def finished_run(store: Store, data_dir: str, architecture: str) -> str:
    """A completed one-epoch run with an epoch checkpoint (an empty file: nothing here loads it)."""
    run_id = store.create_run(TrainConfig(architecture=architecture, epochs=1, data_dir=data_dir))
    store.claim_next(["cpu"])
    store.finish(run_id, "completed", test_accuracy=0.9, epochs_completed=1)
    store.model_path(run_id, "last").parent.mkdir(parents=True, exist_ok=True)
    store.model_path(run_id, "last").touch()
    return run_id


def tick_row(page, index: int) -> None:
    table = page.get_by_test_id("stDataFrame")
    table.wait_for()
    settle(page)
    box = table.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + HEADER_PX + ROW_PX // 2 + ROW_PX * index)
    settle(page)


def test_the_selection_follows_the_runs_when_the_table_reorders(tmp_path, browser, tiny_data_dir, screenshots_dir):
    runs_dir = tmp_path / "runs"
    store = Store(runs_dir)
    oldest, middle, newest = (finished_run(store, tiny_data_dir, a) for a in ("simple_cnn", "lenet5", "mlp"))
    proc, url = start_app(runs_dir, tiny_data_dir, extra_env={"CONVSTUDIO_NO_SCHEDULER": "1"})
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    try:
        page.goto(url + "/runs")
        page.get_by_text("3 of 3 runs").wait_for()
        tick_row(page, 2)  # newest first: the last row is the oldest run
        page.get_by_role("button", name="Continue this run").click()
        page.get_by_text(f"Run {oldest} is queued for 3 more epoch(s)").wait_for()
        watch = page.get_by_role("link", name=f"Watch run {oldest} on the Train page")
        assert f"run={oldest}" in watch.get_attribute("href")  # the link opens this very run
        wait_for(lambda: store.get(oldest).status == "queued", "the run to be queued", 10)

        # the continued run is now on top: the table's rows are (oldest, newest, middle)
        tick_row(page, 1)  # the newest run, now second
        page.get_by_role("button", name="Delete 2 run(s)").click()
        warning = page.get_by_text(re.compile(r"^Delete .* cannot be undone")).inner_text()
        assert oldest in warning and newest in warning and middle not in warning, warning
        page.screenshot(path=screenshots_dir / "runs-delete-confirmation.png")
        page.get_by_role("button", name="Yes, delete").click()
        wait_for(lambda: [r.id for r in store.list_runs()] == [middle], "exactly the two ticked runs to go", 15)
        page.get_by_text("1 of 1 runs").wait_for()
        settle(page)
        page.screenshot(path=screenshots_dir / "runs.png")
    except BaseException:
        page.screenshot(path=screenshots_dir / "failure-runs.png")
        raise
    finally:
        proc.terminate()
        proc.wait(10)
