"""Issue 14, defect 4 in Chromium: Stop says 'stopping' at once, then shows what was kept.

A real run through the app's scheduler and worker on the tiny dataset, one image per
step so that it is still training when Stop is pressed.
"""

from __future__ import annotations

import time

import pytest

from lib.config import TrainConfig
from lib.runs.store import Store
from tests.conftest import start_app
from tests.test_browser_dashboard import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
VIEWPORT = {"width": 1400, "height": 1900}


def test_stop_says_stopping_at_once_and_ends_with_the_kept_model(tmp_path, browser, tiny_data_dir, screenshots_dir):
    runs_dir = tmp_path / "runs"
    store = Store(runs_dir)
    config = TrainConfig(data_dir=tiny_data_dir, epochs=50, batch_size=1, steps_per_execution=1, dropout=0.0)
    run_id = store.create_run(config)
    proc, url = start_app(runs_dir, tiny_data_dir)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{url}/train?run={run_id}")
        page.get_by_text(f"{run_id} · running").wait_for(timeout=120_000)
        wait_for(lambda: store.get(run_id).epochs_completed >= 1, "a first epoch", 120)
        page.get_by_role("button", name="Stop").click()
        clicked = time.monotonic()
        page.get_by_text(f"{run_id} · stopping").wait_for(timeout=5_000)
        page.get_by_text("Stopping...").wait_for(timeout=5_000)
        shown_after = time.monotonic() - clicked
        assert shown_after < 3, f"'stopping' took {shown_after:.1f} s to show"

        page.get_by_text(f"{run_id} · stopped").wait_for(timeout=120_000)
        page.get_by_text("Model kept").wait_for(timeout=10_000)
        run = store.get(run_id)
        assert run.status == "stopped" and run.test_accuracy is not None
        page.get_by_text(f"Test accuracy {run.test_accuracy:.2%}").wait_for(timeout=10_000)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("Nothing is training.").wait_for(timeout=10_000)  # one state in both places
        assert "evaluating" not in sidebar.inner_text()
        page.screenshot(path=screenshots_dir / "train-stopped.png")
    except BaseException:
        page.screenshot(path=screenshots_dir / "failure-stop.png")
        raise
    finally:
        proc.terminate()
        proc.wait(10)
