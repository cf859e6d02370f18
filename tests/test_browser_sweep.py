"""A small sweep started from the Sweeps page in Debian's Chromium, trained by the real queue and workers."""

from __future__ import annotations

import pytest

from lib.runs.store import Store
from lib.sweeps.record import SweepRecords
from tests.conftest import start_app
from tests.test_browser_dashboard import open_page, set_number, settle, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
VIEWPORT = {"width": 1400, "height": 2200}
PARCOORDS = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .flatMap(g => (g.data || []).filter(t => t.type === 'parcoords').map(t => t.dimensions.length))"""


def test_start_a_sweep_and_see_its_parallel_coordinates(tmp_path, browser, tiny_data_dir, screenshots_dir):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    records = SweepRecords(Store(runs_dir))
    proc, url = start_app(runs_dir, tiny_data_dir)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    try:
        page.goto(url)
        open_page(page, "Sweeps")
        page.get_by_role("button", name="Start the sweep").wait_for()
        set_number(page, "Trials", 2)
        set_number(page, "Epochs per trial", 1)
        page.get_by_role("button", name="Start the sweep").click()
        sweep = wait_for(lambda: next(iter(records.list()), None), "the sweep to be recorded", 15)
        assert sweep.spec.trials == 2 and sweep.spec.space.names == ["learning_rate"]
        page.get_by_text(f"Sweep {sweep.id}").wait_for(timeout=30_000)
        wait_for(lambda: records.get(sweep.id).state == "completed", "both trials to train", 240)
        trials = records.trials(sweep.id)
        assert len(trials) == 2 and all(t.state == "complete" for t in trials)
        # one axis for the learning rate, one for the score; both trials drawn
        dims = wait_for(lambda: page.evaluate(PARCOORDS), "the parallel-coordinates chart", 30)
        assert dims[0] == 2
        page.get_by_text("Best: trial").wait_for()
        settle(page)
        page.screenshot(path=screenshots_dir / "sweep.png", full_page=True)
    finally:
        page.close()
        proc.terminate()
        proc.wait(timeout=30)
