"""Sweeps driven through the real queue and store, with a blink-fast worker: grid, pruning, stop, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from lib.config import TrainConfig
from lib.runs.access import Policy
from lib.runs.scheduler import Scheduler
from lib.sweeps.driver import STOPPED_WITH_SWEEP, Driver, SweepBusy, drive, reopen_sweep, stop_sweep
from lib.sweeps.record import SweepRecords, SweepSpec, UnknownSweep
from lib.sweeps.space import SearchSpace
from lib.sweeps.strategy import TrialRecord

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = TrainConfig(dataset="mnist", architecture="lenet5", epochs=2)


def spec(varies, strategy="grid", **kw) -> SweepSpec:
    return SweepSpec(base=kw.pop("base", BASE), space=SearchSpace.parse(varies), strategy=strategy, **kw)


def scheduler(store) -> Scheduler:
    return Scheduler(store, ["cpu"], worker_module="tests.helpers.sweep_worker")


def run_to_end(store, sweep_id, policy=None, events=None) -> str:
    driver = Driver(store, SweepRecords(store), sweep_id, policy=policy)
    return drive(driver, scheduler(store), poll=0.05, on_event=(events.append if events is not None else None))


@pytest.fixture(autouse=True)
def quick_epochs(monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_TEST_EPOCH_S", "0.2")


def test_a_grid_sweep_runs_exactly_its_grid_as_linked_runs(store):
    records = SweepRecords(store)
    sweep_id = records.create(spec(["learning_rate=0.001,0.01", "batch_size=32,64"]), owner="ana")
    events = []
    assert run_to_end(store, sweep_id, events=events) == "completed"
    trials = records.trials(sweep_id)
    assert sorted((t.record.params["learning_rate"], t.record.params["batch_size"]) for t in trials) == [
        (0.001, 32), (0.001, 64), (0.01, 32), (0.01, 64),
    ]  # fmt: skip
    runs = [store.get(t.run_id) for t in trials]
    assert all(r.status == "completed" and r.owner == "ana" for r in runs)
    assert len({r.id for r in runs}) == 4 == len(store.list_runs())
    for trial, run in zip(trials, runs, strict=True):
        assert run.config.extra["sweep"] == sweep_id and run.config.extra["trial"] == trial.number
        assert run.config.learning_rate == trial.record.params["learning_rate"]
        assert trial.state == "complete" and trial.record.value == max(trial.record.intermediate.values())
        assert records.sweep_of_run(run.id) == (sweep_id, trial.number)
    assert [e.kind for e in events].count("queued") == 4 and events[-1].kind == "done"
    assert "best trial" in events[-1].text
    assert records.get(sweep_id).state == "completed" and records.get(sweep_id).driver is None


def _seed_putting_last(varies, value):
    """A grid seed whose shuffled order tries `value` last (so that good trials set the median first)."""
    for seed in range(50):
        search = spec(varies, pruner="median", seed=seed, base=BASE.replace(epochs=4)).search()
        records = []
        while not search.done(records):
            record = search.propose(records)
            record.state, record.value = "complete", 0.5
            records.append(record)
        if records[-1].params["learning_rate"] == value:
            return seed
    raise AssertionError("no seed found")


def test_median_pruning_stops_the_bad_trial_early_with_its_reason_on_the_run(store, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_TEST_EPOCH_S", "0.5")
    varies = ["learning_rate=0.001,0.002,1.0"]
    records = SweepRecords(store)
    seed = _seed_putting_last(varies, 1.0)
    sweep_id = records.create(spec(varies, pruner="median", seed=seed, base=BASE.replace(epochs=4)))
    assert run_to_end(store, sweep_id) == "completed"
    trials = {t.record.params["learning_rate"]: t for t in records.trials(sweep_id)}
    bad = trials[1.0]
    assert bad.state == "pruned" and "median" in bad.reason and "epoch 1" in bad.reason
    run = store.get(bad.run_id)
    assert run.status == "stopped" and run.epochs_completed < 4
    assert run.error == bad.reason
    assert trials[0.001].state == trials[0.002].state == "complete"


def test_stopping_a_sweep_stops_its_trials_and_resuming_carries_on(store, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_TEST_EPOCH_S", "0.5")
    records = SweepRecords(store)
    sweep_id = records.create(spec(["learning_rate=1e-4:1e-2:log"], "random", trials=3, parallel=2))
    driver = Driver(store, records, sweep_id)
    sched = scheduler(store)
    assert driver.claim()
    deadline = time.time() + 30
    while not any(r.status == "running" for r in store.list_runs()) and time.time() < deadline:
        sched.tick()
        driver.tick()
        time.sleep(0.05)
    assert stop_sweep(store, records, sweep_id) == 2  # one running, one queued
    assert records.get(sweep_id).state == "stopped"
    assert driver.tick() == "stopped"  # a driver notices and does nothing more
    sched.wait(records.trials(sweep_id)[0].run_id)
    assert {r.status for r in store.list_runs()} == {"stopped"}
    assert all(t.state == "fail" and t.reason == STOPPED_WITH_SWEEP for t in records.trials(sweep_id))

    assert len(reopen_sweep(store, records, sweep_id)) == 2
    assert run_to_end(store, sweep_id) == "completed"
    trials = records.trials(sweep_id)
    assert len(trials) == 3 and all(t.state == "complete" for t in trials)
    assert len(store.list_runs()) == 3  # the stopped trials carried on in their own runs


def test_a_killed_driver_is_replaced_and_no_trial_is_repeated(store, runs_dir):
    records = SweepRecords(store)
    sweep_id = records.create(spec(["learning_rate=1e-5:1e-1:log"], "random", trials=5, seed=4))
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.sweep_driver_process", str(runs_dir), sweep_id], cwd=ROOT
    )
    try:
        deadline = time.time() + 60
        while sum(t.state == "complete" for t in records.trials(sweep_id)) < 2 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    before = records.trials(sweep_id)
    assert 2 <= len(before) < 5 and records.get(sweep_id).driver  # killed mid-sweep, lease left behind
    assert run_to_end(store, sweep_id) == "completed"  # its lease is taken over at once: its process is gone
    after = records.trials(sweep_id)
    assert [t.record.params for t in after[: len(before)]] == [t.record.params for t in before]
    assert len(after) == 5 and all(t.state == "complete" for t in after)
    assert len({t.run_id for t in after}) == 5 == len(store.list_runs())  # one run per trial, none twice
    # and the settings are those an uninterrupted sweep draws
    search = records.get(sweep_id).search()
    replay: list[TrialRecord] = []
    for _ in range(5):
        replay.append(search.propose(replay))
        replay[-1].state, replay[-1].value = "complete", after[len(replay) - 1].record.value
    assert [r.params for r in replay] == [t.record.params for t in after]


def test_one_driver_at_a_time(store):
    records = SweepRecords(store)
    sweep_id = records.create(spec(["batch_size=32,64"]))
    first = Driver(store, records, sweep_id, name="elsewhere:1")
    second = Driver(store, records, sweep_id, name="elsewhere:2")
    assert first.claim() and not second.claim()
    with pytest.raises(SweepBusy):
        second.tick()
    with pytest.raises(SweepBusy, match="elsewhere:1"):
        drive(second)
    first.release()
    assert second.claim()


def test_the_queue_limit_makes_trials_wait_not_fail(store):
    records = SweepRecords(store)
    blocker = store.create_run(BASE, owner="ana")
    sweep_id = records.create(spec(["batch_size=32,64"]), owner="ana")
    driver = Driver(store, records, sweep_id, policy=Policy(max_queued_per_user=1))
    assert driver.claim()
    assert driver.tick() == "running"
    (trial,) = records.trials(sweep_id)
    assert trial.run_id is None and trial.state == "running"  # recorded, waiting for room in the queue
    store.request_stop(blocker)
    driver.tick()
    assert records.trials(sweep_id)[0].run_id is not None


def test_unknown_and_hostile_sweep_ids(store):
    records = SweepRecords(store)
    for bad in ("nope", "sw-20260101-000000-zzzzzz", None, "../../etc"):
        with pytest.raises(UnknownSweep):
            records.get(bad)
    with pytest.raises(UnknownSweep):
        records.get("sw-20260101-000000-abcdef")


def test_a_sweep_on_a_postgresql_store(runs_dir, postgres_url, monkeypatch):
    """The sweep tables and every guarded update work on the team backend too."""
    from lib.runs.store import Store

    monkeypatch.setenv("CONVSTUDIO_STORE", postgres_url)  # the workers open the same store
    store = Store(runs_dir, url=postgres_url)
    try:
        records = SweepRecords(store)
        sweep_id = records.create(spec(["learning_rate=0.001,0.01"], pruner="median", base=BASE.replace(epochs=3)))
        assert run_to_end(store, sweep_id) == "completed"
        trials = records.trials(sweep_id)
        assert len(trials) == 2 and {t.state for t in trials} <= {"complete", "pruned"}
        assert not records.add_trial(sweep_id, TrialRecord(0, {"learning_rate": 0.001}))  # number 0 is taken
        assert records.get(sweep_id).state == "completed" and records.list()[0].id == sweep_id
    finally:
        store.close()
