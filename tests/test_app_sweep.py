"""The Sweeps page through Streamlit's AppTest: start a sweep, watch one, use and extend its best trial."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.config import TrainConfig
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store
from lib.sweeps.driver import Driver, drive
from lib.sweeps.record import SweepRecords, SweepSpec
from lib.sweeps.space import SearchSpace
from tests.conftest import ROOT

TIMEOUT = 90


@pytest.fixture
def env(runs_dir, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    monkeypatch.setenv("CONVSTUDIO_TEST_EPOCH_S", "0.05")
    return runs_dir


def open_sweeps(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    at.switch_page("pages/sweep.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def finished_sweep(runs_dir, tiny_data_dir) -> str:
    """A 3-point grid driven to the end by the blink-fast test worker."""
    store = Store(runs_dir)
    records = SweepRecords(store)
    base = TrainConfig(dataset="mnist", architecture="simple_cnn", epochs=2, data_dir=tiny_data_dir)
    sweep_id = records.create(SweepSpec(base, SearchSpace.parse(["learning_rate=0.0001,0.001,0.01"]), "grid"))
    scheduler = Scheduler(store, ["cpu"], worker_module="tests.helpers.sweep_worker")
    assert drive(Driver(store, records, sweep_id), scheduler, poll=0.05) == "completed"
    return sweep_id


def charts(at: AppTest) -> str:
    return " ".join(el.proto.spec for el in at.get("plotly_chart"))


def test_a_finished_sweep_shows_trials_parallel_coordinates_importance_and_the_best(env, tiny_data_dir):
    sweep_id = finished_sweep(env, tiny_data_dir)
    at = open_sweeps({"sweep": sweep_id})
    assert any(sweep_id in s.value for s in at.subheader)
    table = at.dataframe[0].value
    assert len(table) == 3 and set(table["learning_rate"]) == {0.0001, 0.001, 0.01}
    assert '"parcoords"' in charts(at)
    assert any("Best: trial" in m.value and "0.001" in m.value for m in at.markdown)
    assert at.button(key="sw_use") and at.button(key="sw_longer")


def test_use_these_settings_copies_the_best_trial_to_the_train_page(env, tiny_data_dir):
    sweep_id = finished_sweep(env, tiny_data_dir)
    at = open_sweeps({"sweep": sweep_id})
    at.button(key="sw_use").click().run()
    assert not at.exception, [e.value for e in at.exception]
    config = at.session_state["cs_config"]
    assert config["learning_rate"] == 0.001 and "sweep" not in config["extra"]
    assert at.title[0].value == "Train"


def test_train_it_longer_queues_the_best_settings_with_more_epochs(env, tiny_data_dir):
    sweep_id = finished_sweep(env, tiny_data_dir)
    at = open_sweeps({"sweep": sweep_id})
    at.number_input(key="sw_longer_epochs").set_value(7)
    at.button(key="sw_longer").click().run()
    assert not at.exception, [e.value for e in at.exception]
    queued = Store(env).queue()
    assert len(queued) == 1 and queued[0].config.epochs == 7 and queued[0].config.learning_rate == 0.001
    assert "sweep" not in queued[0].config.extra


def test_starting_a_sweep_from_the_form_records_it_and_shows_it(env):
    at = open_sweeps()
    at.multiselect(key="sw_fields").set_value(["learning_rate", "batch_size"]).run()
    at.text_input(key="sw_spec_batch_size").set_value("16,32").run()
    at.number_input(key="sw_trials").set_value(3)
    at.button(key="sw_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (sweep,) = SweepRecords(Store(env)).list()
    assert sweep.spec.strategy == "random" and sweep.spec.trials == 3
    assert sweep.spec.space.names == ["learning_rate", "batch_size"]
    assert at.query_params["sweep"] == [sweep.id] or at.query_params["sweep"] == sweep.id
    assert at.button(key="sw_stop")  # running: it can be stopped


def test_a_bad_spec_is_an_error_on_the_page_and_nothing_is_recorded(env):
    at = open_sweeps()
    at.text_input(key="sw_spec_learning_rate").set_value("1e-2:1e-4").run()
    at.button(key="sw_start").click().run()
    assert not at.exception
    assert any("below its high end" in e.value for e in at.error)
    assert SweepRecords(Store(env)).list() == []


def test_stop_and_resume_from_the_page(env, tiny_data_dir):
    store = Store(env)
    records = SweepRecords(store)
    base = TrainConfig(dataset="mnist", architecture="simple_cnn", epochs=2, data_dir=tiny_data_dir)
    sweep_id = records.create(SweepSpec(base, SearchSpace.parse(["batch_size=16,32"]), "grid", parallel=2))
    driver = Driver(store, records, sweep_id)
    driver.claim()
    driver.tick()  # two trials queued (nothing trains them here)
    driver.release()
    at = open_sweeps({"sweep": sweep_id})
    at.button(key="sw_stop").click().run()
    assert records.get(sweep_id).state == "stopped"
    assert {r.status for r in store.list_runs()} == {"stopped"}
    at.button(key="sw_resume").click().run()
    assert records.get(sweep_id).state == "running"
    assert {r.status for r in store.list_runs()} == {"queued"}


def test_a_hostile_sweep_id_in_the_address_is_ignored(env):
    at = open_sweeps({"sweep": "../../etc/passwd"})
    assert not at.exception
    assert any("No sweep yet" in i.value for i in at.info)


def test_the_runs_page_names_each_trials_sweep(env, tiny_data_dir):
    sweep_id = finished_sweep(env, tiny_data_dir)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["sweep"]) == [sweep_id] * 3


def test_a_damaged_sweep_record_is_a_warning_and_the_others_are_listed(env, tiny_data_dir):
    sweep_id = finished_sweep(env, tiny_data_dir)
    store = Store(env)
    store._write(
        lambda db: db.execute(
            "INSERT INTO sweeps (id, created, state, spec) VALUES ('sw-20250101-000000-aaaaaa', 1.0, 'running', '[')"
        )
    )
    at = open_sweeps({"sweep": "sw-20250101-000000-aaaaaa"})  # a link to it is dropped, not a traceback
    assert not at.exception, [e.value for e in at.exception]
    assert any("sw-20250101-000000-aaaaaa cannot be read" in w.value for w in at.warning)
    (table,) = at.dataframe
    assert table.value["sweep"].tolist() == [sweep_id]
