"""A second Ctrl-C during `cli train` stops the waiting, not the run's clean stop: no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from lib.runs.store import Store
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def wait(predicate, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_second_ctrl_c_prints_no_traceback_and_the_run_still_stops_cleanly(runs_dir, tiny_data_dir):
    cmd = [sys.executable, "-m", "lib.cli", "--runs-dir", str(runs_dir), "train", "--dataset", "mnist",
           "--data-dir", tiny_data_dir, "--model", "simple_cnn", "--epochs", "500", "--batch-size", "8"]  # fmt: skip
    env = {**os.environ, "CONVSTUDIO_FORCE_CPU": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        assert first.startswith("run ") and "queued" in first, first
        run_id = first.split()[1]
        store = Store(runs_dir)
        wait(lambda: store.batches(run_id))  # training for real
        proc.send_signal(signal.SIGINT)
        lines = [first]
        while "stopping" not in lines[-1]:
            lines.append(proc.stderr.readline())
            assert lines[-1], lines
        proc.send_signal(signal.SIGINT)  # while the worker is still finishing its stop
        out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = "".join(lines) + rest
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert proc.returncode == 130 and "not waiting" in stderr, stderr
    try:
        run = wait(lambda: (r := store.get(run_id)).is_finished and r)  # the worker finishes its clean stop
    except AssertionError:
        log = store.run_dir(run_id) / "worker.log"
        tail = log.read_text()[-4000:] if log.exists() else "no log"
        raise AssertionError(f"{store.get(run_id)!r}\nthe command said: {stderr}\nworker: {tail}") from None
    assert run.status == "stopped" and store.model_path(run_id).is_file()


def ctrl_c_twice_while_the_store_is_locked(runs_dir, data_dir, lock_s: int, pause_s: float = 0.0, **env):
    """`cli train`, then two Ctrl-C while another program holds the store's write lock for `lock_s`
    seconds (the stop request waits on it); returns (store, run id, exit code, stderr after 'stopping')."""
    cmd = [sys.executable, "-m", "lib.cli", "--runs-dir", str(runs_dir), "train", "--dataset", "mnist",
           "--data-dir", data_dir, "--model", "simple_cnn", "--epochs", "500", "--batch-size", "8"]  # fmt: skip
    env = {**os.environ, "CONVSTUDIO_FORCE_CPU": "1", **env}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    store = Store(runs_dir)
    locker = None
    try:
        run_id = proc.stderr.readline().split()[1]
        wait(lambda: store.batches(run_id))
        locker = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.store_locker", str(store.db_path), str(lock_s)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert locker.stdout.readline().strip() == "locked"
        proc.send_signal(signal.SIGINT)
        lines = [""]
        while "stopping" not in lines[-1]:
            lines.append(proc.stderr.readline())
            assert lines[-1], lines
        time.sleep(pause_s)
        proc.send_signal(signal.SIGINT)  # while the stop request waits for the lock
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        if locker is not None:
            locker.wait(timeout=30)
    return store, run_id, proc.returncode, rest


def test_a_stop_that_cannot_be_recorded_is_not_reported_as_asked(runs_dir, tiny_data_dir):
    """The first Ctrl-C's stop request waits on a store another program holds locked; when it gives
    up and a second Ctrl-C is waiting, the line must say the run still trains and how to stop it."""
    store, run_id, code, rest = ctrl_c_twice_while_the_store_is_locked(
        runs_dir, tiny_data_dir, 15, CONVSTUDIO_STORE_WAIT_S="3"
    )  # the request gives up after 3 s
    assert code == 130 and "Traceback" not in rest, rest
    assert "could not be recorded" in rest and f"lib.cli stop {run_id}" in rest and "stops on its own" not in rest
    store.request_stop(run_id)  # the worker inherited the 3 s wait too: it may have failed the run meanwhile
    wait(lambda: store.get(run_id).is_finished)


def test_a_second_ctrl_c_while_the_stop_is_being_recorded_waits_for_it(runs_dir, tiny_data_dir):
    """The stop request waits on a store locked for a few seconds; a second Ctrl-C meanwhile must not
    cut it off (CI's run went on training for good, no stop recorded): the command leaves once it is."""
    store, run_id, code, rest = ctrl_c_twice_while_the_store_is_locked(runs_dir, tiny_data_dir, 6, pause_s=0.5)
    assert code == 130 and "Traceback" not in rest, rest
    assert "stops on its own" in rest and "could not be recorded" not in rest, rest
    run = wait(lambda: (r := store.get(run_id)).is_finished and r, timeout=180)
    assert run.status == "stopped", run
