"""Issue 14, defect 2 in Chromium: the recipe is applied whole and shown whole, and survives a reload.

AppTest cannot show this: it has no browser keeping a keyed widget's value. Runs with
the scheduler off, so Start only queues the run and the test reads what would train.
"""

from __future__ import annotations

import pytest

from lib import presets
from lib.runs.store import Store
from tests.conftest import start_app
from tests.test_browser_dashboard import open_page, set_number, settle, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
VIEWPORT = {"width": 1400, "height": 1900}


def number_shown(page, label: str) -> str:
    return page.get_by_role("spinbutton", name=label, exact=True).input_value()


def test_the_recipe_is_applied_whole_and_kept_across_a_page_change_and_a_reload(
    tmp_path, browser, tiny_data_dir, screenshots_dir
):
    recipe = presets.get("mnist").settings
    runs_dir = tmp_path / "runs"
    store = Store(runs_dir)
    proc, url = start_app(runs_dir, tiny_data_dir, extra_env={"CONVSTUDIO_NO_SCHEDULER": "1"})
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    try:
        page.goto(url + "/train")
        page.get_by_role("button", name="Start training").wait_for()
        settle(page)
        set_number(page, "Epochs", 3)
        set_number(page, "Batch size", 32)
        page.get_by_role("button", name="Use the recommended recipe").click()
        settle(page)
        # the boxes the user typed into show the recipe's values, not 3 and 32
        wait_for(lambda: number_shown(page, "Epochs") == str(recipe["epochs"]), "Epochs to show the recipe", 10)
        assert number_shown(page, "Batch size") == str(recipe["batch_size"])

        # a page change redraws every widget from scratch: nothing may snap to a coarser step
        open_page(page, "Data")
        open_page(page, "Train")
        settle(page)
        assert number_shown(page, "Epochs") == str(recipe["epochs"])

        # a reload is a new session: the address carries the settings
        wait_for(lambda: f"epochs={recipe['epochs']}" in page.url, "the settings in the address", 10)
        page.reload()
        page.get_by_role("button", name="Start training").wait_for()
        settle(page)
        assert number_shown(page, "Epochs") == str(recipe["epochs"])
        assert number_shown(page, "Batch size") == str(recipe["batch_size"])
        page.get_by_text("Training images to use (0 = all)").wait_for()  # the train-size limit is on Train too
        page.screenshot(path=screenshots_dir / "train-settings.png")

        page.get_by_role("button", name="Start training").click()
        run = wait_for(lambda: next(iter(store.list_runs()), None), "the run to be queued", 15)
        for field, value in recipe.items():
            if field != "mixed_precision":  # no GPU here: the page turns it off, and says so
                assert getattr(run.config, field) == value, field
    except BaseException:
        page.screenshot(path=screenshots_dir / "failure-settings.png")
        raise
    finally:
        proc.terminate()
        proc.wait(10)
