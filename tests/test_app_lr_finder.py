"""The Train page's learning-rate finder and its link to the Sweeps page, through AppTest (no real training)."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lib.runs.store import Store
from lib.sweeps.lr_finder import check_range, is_finder, result
from tests.conftest import ROOT
from tests.test_lr_finder import range_test_curve


@pytest.fixture
def env(runs_dir, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    return runs_dir


def open_train() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def finish_finder(store: Store, run_id: str, losses) -> None:
    """What the worker records at the end of the ramp."""
    assert store.claim_next(["cpu"]).id == run_id
    rates = check_range(1e-6, 1.0, 200).rates()[: len(losses)]
    store.finish(run_id, "completed", epochs_completed=0, lr_find=result(rates, losses))


def test_find_a_learning_rate_queues_a_finder_run_then_offers_the_suggestion(env):
    at = open_train()
    assert any(link.label == "Search these settings" for link in at.get("page_link"))
    at.button(key="lrf_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = Store(env)
    (run,) = store.queue()
    assert is_finder(run.config) and run.config.architecture == at.session_state["cs_config"]["architecture"]
    assert any("waiting in the queue" in c.value for c in at.caption)

    rates = check_range(1e-6, 1.0, 200).rates()
    finish_finder(store, run.id, range_test_curve(rates, steepest_at=3e-3, blows_up_at=0.3))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    use = at.button(key="lrf_use")
    assert "Use this rate" in use.label
    use.click().run()
    assert 1e-3 <= at.session_state["cs_config"]["learning_rate"] <= 9e-3
    assert at.number_input(key="w_learning_rate").value == at.session_state["cs_config"]["learning_rate"]


def test_a_curve_that_suggests_nothing_says_why(env):
    at = open_train()
    at.button(key="lrf_start").click().run()
    store = Store(env)
    (run,) = store.queue()
    finish_finder(store, run.id, np.full(200, 2.3))
    at.run()
    assert not at.exception
    assert any("did not fall" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "lrf_use"]


def test_bad_settings_are_an_error_not_a_traceback(env):
    at = open_train()
    at.session_state["cs_config"] = {**at.session_state["cs_config"], "dropout": 5.0}
    at.button(key="lrf_start").click().run()
    assert not at.exception
    assert any("dropout" in e.value for e in at.error)
    assert Store(env).queue() == []


def test_the_finder_range_is_chosen_on_the_page_and_reaches_the_run(env):
    at = open_train()
    assert at.number_input(key="lrf_range_start").value == 1e-6
    assert at.number_input(key="lrf_range_end").value == 1.0 and at.number_input(key="lrf_range_steps").value == 200
    at.number_input(key="lrf_range_start").set_value(1e-5)
    at.number_input(key="lrf_range_end").set_value(0.1)
    at.number_input(key="lrf_range_steps").set_value(120).run()
    assert not at.exception and not at.button(key="lrf_start").disabled
    at.button(key="lrf_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (run,) = Store(env).queue()
    assert run.config.extra["lr_find"] == {"start": 1e-5, "end": 0.1, "steps": 120}
    at.switch_page("pages/evaluate.py").run()
    at.switch_page("pages/train.py").run()  # the range survives a visit to another page
    assert at.number_input(key="lrf_range_start").value == 1e-5 and at.number_input(key="lrf_range_steps").value == 120


@pytest.mark.parametrize(
    "start, end, steps, words",
    [
        (1e-2, 1e-4, 200, "must be below the end rate"),
        (0.0, 1.0, 200, "between 1e-08 and 10"),
        (1e-6, 50.0, 200, "between 1e-08 and 10"),
        (1e-3, 2e-3, 200, "less than a factor of 10"),
        (1e-6, 1.0, 5, "from 20 to 1000"),
        (1e-6, 1.0, 100000, "from 20 to 1000"),
    ],
)
def test_a_bad_finder_range_is_refused_with_the_reason_in_plain_text(env, start, end, steps, words):
    at = open_train()
    at.number_input(key="lrf_range_start").set_value(start)
    at.number_input(key="lrf_range_end").set_value(end)
    at.number_input(key="lrf_range_steps").set_value(steps).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.button(key="lrf_start").disabled
    reasons = [m.value for m in at.markdown if "The finder is off until its range is fixed" in m.value]
    assert len(reasons) == 1 and words in reasons[0], reasons
    assert not at.button(key="start").disabled  # the run's own settings are still fine to train
    assert Store(env).queue() == []
