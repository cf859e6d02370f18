"""Faults and load: what happens when workers, servers, memory and disks fail, and under many runs."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib.config import TrainConfig
from lib.runs import resume
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def tiny(data_dir, **changes):
    base = dict(dataset="mnist", architecture="simple_cnn", batch_size=16, epochs=1, data_dir=data_dir)
    return TrainConfig(**{**base, **changes})


def finish_all(store, scheduler, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        scheduler.tick()
        if all(r.is_finished for r in store.list_runs()):
            return store.list_runs()
        time.sleep(0.2)
    raise AssertionError(f"runs still open: {[(r.id, r.status) for r in store.list_runs() if not r.is_finished]}")


def test_out_of_memory_fails_clearly_and_offers_half_the_batch(store, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_FAULT", "oom")
    run_id = store.create_run(tiny(tiny_data_dir, batch_size=64))
    finish_all(store, Scheduler(store, slots=["cpu"]))
    run = store.get(run_id)
    assert run.status == "failed" and run.error.startswith("Out of memory") and "(try 32)" in run.error
    monkeypatch.delenv("CONVSTUDIO_FAULT")
    retry = resume.retry_with_half_batch(store, run_id)
    finish_all(store, Scheduler(store, slots=["cpu"]))
    assert store.get(retry).config.batch_size == 32 and store.get(retry).status == "completed"


def test_a_full_disk_fails_the_run_and_leaves_the_store_and_other_runs_intact(store, tiny_data_dir, monkeypatch):
    good = store.create_run(tiny(tiny_data_dir))
    finish_all(store, Scheduler(store, slots=["cpu"]))
    monkeypatch.setenv("CONVSTUDIO_FAULT", "disk-full")
    bad = store.create_run(tiny(tiny_data_dir))
    finish_all(store, Scheduler(store, slots=["cpu"]))
    assert store.get(bad).status == "failed" and "disk is full" in store.get(bad).error
    assert store.get(good).status == "completed" and store.model_path(good).exists()
    assert len(store.epochs(good)) == 1
    check = sqlite3.connect(store.db_path).execute("PRAGMA integrity_check").fetchone()[0]
    assert check == "ok"


def start_scheduler_process(runs_dir):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.scheduler_process", str(runs_dir)], cwd=ROOT, env=dict(os.environ)
    )


def wait(predicate, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_killed_server_leaves_its_worker_training_and_a_restart_finds_it(store, runs_dir, tiny_data_dir):
    run_id = store.create_run(tiny(tiny_data_dir, epochs=4))
    server = start_scheduler_process(runs_dir)
    wait(lambda: store.batches(run_id))
    server.kill()  # SIGKILL: no chance to clean up
    server.wait()
    assert store.get(run_id).status == "running"
    restarted = Scheduler(store, slots=["cpu"])
    assert restarted.recover() == []  # its worker is alive: not interrupted
    run = wait(lambda: (r := store.get(run_id)).is_finished and r)
    assert run.status == "completed" and run.epochs_completed == 4


def test_a_run_whose_server_and_worker_died_is_interrupted_and_resumes_from_its_checkpoint(
    store, runs_dir, tiny_data_dir
):
    run_id = store.create_run(tiny(tiny_data_dir, epochs=200, batch_size=8))
    server = start_scheduler_process(runs_dir)
    wait(lambda: store.get(run_id).epochs_completed >= 1)
    server.kill()
    worker = store.get(run_id).pid
    os.kill(worker, signal.SIGKILL)
    server.wait()
    # no /proc: the silence of its heartbeat tells (limit shortened from 30 s for the test)
    assert wait(lambda: Scheduler(store, slots=["cpu"], heartbeat_limit_s=4).recover(), timeout=30) == [run_id]
    run = store.get(run_id)
    done = run.epochs_completed
    assert run.status == "interrupted" and store.model_path(run_id, "last").exists()
    store.update_config(run_id, run.config.replace(epochs=done + 1))
    assert store.requeue(run_id)
    finish_all(store, Scheduler(store, slots=["cpu"]))
    assert store.get(run_id).status == "completed"
    assert [e["epoch"] for e in store.epochs(run_id)] == list(range(1, done + 2))


def test_fifty_runs_queued_from_several_processes_all_complete_in_order_once(runs_dir):
    queuers = [
        subprocess.Popen([sys.executable, "-m", "tests.helpers.enqueue", str(runs_dir), "10", f"p{i}"], cwd=ROOT)
        for i in range(5)
    ]
    assert all(q.wait(timeout=60) == 0 for q in queuers)
    store = Store(runs_dir)
    assert len(store.queue()) == 50
    # two schedulers in this process, as if the app and a command line both ran one
    schedulers = [Scheduler(store, slots=["cpu"], worker_module="tests.helpers.quick_worker") for _ in range(2)]
    deadline = time.time() + 240
    while time.time() < deadline and not all(r.is_finished for r in store.list_runs()):
        for s in schedulers:
            s.tick()
        time.sleep(0.05)
    runs = sorted(store.list_runs(), key=lambda r: r.seq)
    assert len(runs) == 50 and all(r.status == "completed" for r in runs)
    assert len({r.config.extra["tag"] for r in runs}) == 50  # none lost, none duplicated
    ran_at = [r.metrics["ran_at"] for r in runs]
    assert ran_at == sorted(ran_at)  # in queue order, one at a time
