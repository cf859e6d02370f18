"""The scheduler: liveness by heartbeat, leases between schedulers, `cli serve` without an app."""

import os
import signal
import subprocess
import sys
import time

import pytest

from lib.config import TrainConfig
from lib.runs.executors import LocalExecutor
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store
from tests.conftest import ROOT

BEATER = "tests.helpers.beating_worker"


def make(store, **changes):
    return store.create_run(TrainConfig(**changes))


def scheduler(store, **kwargs):
    kwargs.setdefault("heartbeat_limit_s", 2.0)
    kwargs.setdefault("startup_grace_s", 20.0)
    return Scheduler(store, executor=LocalExecutor(store, ["cpu"], BEATER), **kwargs)


def wait_for(predicate, timeout=60, poll=0.1):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_a_worker_that_stops_beating_is_interrupted_with_its_node_and_resumes(store, monkeypatch):
    monkeypatch.setenv("BEATING_WORKER_SECONDS", "60")
    monkeypatch.setenv("CONVSTUDIO_NODE", "box-7")
    run_id = make(store)
    first = scheduler(store)
    first.tick()
    wait_for(lambda: store.get(run_id).heartbeat)
    assert store.get(run_id).placement == "box-7 · CPU"
    os.kill(store.get(run_id).pid, signal.SIGSTOP)  # hung, not dead: no exit code for the executor to see
    try:
        # a second server sees only the store: the silence is what tells it
        other = scheduler(Store(store.root))
        other.recover()
        wait_for(lambda: (first.tick(), other.tick(), store.get(run_id).status == "interrupted")[-1], timeout=30)
        run = store.get(run_id)
        assert "box-7" in run.error and "stopped reporting" in run.error and "Resume" in run.error
    finally:
        os.kill(store.get(run_id).pid, signal.SIGKILL)
    monkeypatch.setenv("BEATING_WORKER_SECONDS", "0.5")
    assert store.requeue(run_id)
    first.tick()
    wait_for(lambda: (first.tick(), store.get(run_id).status == "completed")[-1], timeout=30)
    assert store.get(run_id).attempt == 2


def test_a_claimed_run_whose_worker_never_started_is_interrupted_after_the_grace(store):
    run_id = make(store)
    run = store.claim_next(["cpu"])  # claimed by a scheduler that died before starting a worker
    store._write(lambda db: db.execute("UPDATE runs SET claimed = claimed - 100 WHERE id = ?", (run_id,)))
    assert scheduler(store, startup_grace_s=60).recover() == [run_id]
    run = store.get(run_id)
    assert run.status == "interrupted" and "never reported" in run.error


def test_a_scheduler_that_could_not_see_the_store_gives_workers_a_fresh_limit(store):
    run_id = make(store)
    store.claim_next(["cpu"])
    store.heartbeat(run_id)
    sched = scheduler(store, heartbeat_limit_s=1.0, lease_ttl_s=1.0)
    sched.tick()
    # the store was out of reach for a while (locked, say): beats could not land either
    store._write(lambda db: db.execute("UPDATE runs SET heartbeat = heartbeat - 5 WHERE id = ?", (run_id,)))
    sched._last_ok -= 5
    sched.tick()
    assert store.get(run_id).status == "running"  # judged over time it could see, not the gap


def test_only_the_lease_holder_starts_work_and_another_takes_over(store):
    ids = [make(store) for _ in range(2)]
    # two holders, as the app and `cli serve` would be (in one process they would share the lease)
    a = scheduler(store, lease_ttl_s=1.0, holder="app")
    b = scheduler(Store(store.root), lease_ttl_s=1.0, holder="serve")
    assert a.tick() == [ids[0]] and a.leading
    assert b.tick() == [] and not b.leading
    a.close()  # hands the lease over at once
    wait_for(lambda: store.get(ids[0]).is_finished, timeout=30)
    assert b.tick() == [ids[1]] and b.leading


def serve(runs_dir, *args, env=None):
    env = {**os.environ, "CONVSTUDIO_RUNS_DIR": str(runs_dir), "CONVSTUDIO_FORCE_CPU": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "lib.cli", "serve", "--interval", "0.3", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_serve_runs_the_queue_without_an_app_and_a_second_serve_starts_nothing_twice(runs_dir, tiny_data_dir):
    store = Store(runs_dir)
    ids = [
        make(store, dataset="mnist", architecture="mlp", epochs=1, data_dir=tiny_data_dir, train_limit=200)
        for _ in range(3)
    ]
    servers = [serve(runs_dir), serve(runs_dir)]
    try:
        wait_for(lambda: all(store.get(i).is_finished for i in ids), timeout=400, poll=1)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        logs = [server.communicate(timeout=30)[1] for server in servers]
    runs = [store.get(i) for i in ids]
    assert [r.status for r in runs] == ["completed"] * 3, [r.error for r in runs]
    assert all(r.attempt == 1 for r in runs)  # each started exactly once
    assert all("Traceback" not in log for log in logs), logs
    assert sum("scheduling" in log for log in logs) >= 1 and any("standing by" in log for log in logs), logs
    assert all(server.returncode == 0 for server in servers)
