"""The queue and its workers: real worker processes, killed, stopped, recovered and resumed."""

import os
import signal
import time

import pytest

from lib.config import TrainConfig
from lib.runs.scheduler import Scheduler
from lib.train.worker import describe_error

pytestmark = pytest.mark.slow


def config(data_dir, **changes):
    base = dict(dataset="mnist", architecture="simple_cnn", batch_size=16, data_dir=data_dir, epochs=1)
    return TrainConfig(**{**base, **changes})


def wait_for(predicate, timeout=90, poll=0.2, scheduler=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if scheduler:
            scheduler.tick()
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("timed out")


def test_killed_worker_fails_its_run_and_the_queue_moves_on(store, tiny_data_dir):
    victim = store.create_run(config(tiny_data_dir, epochs=200))
    follower = store.create_run(config(tiny_data_dir))
    scheduler = Scheduler(store, slots=["cpu"])
    assert scheduler.tick() == [victim]
    assert store.queue_position(follower) == 1  # waits its turn behind the running run
    wait_for(lambda: store.batches(victim), scheduler=scheduler)  # mid-epoch, training for real
    os.kill(store.get(victim).pid, signal.SIGKILL)
    run = wait_for(lambda: (r := store.get(victim)).is_finished and r, scheduler=scheduler)
    assert run.status == "failed" and "SIGKILL" in run.error
    done = wait_for(lambda: (r := store.get(follower)).is_finished and r, scheduler=scheduler)
    assert done.status == "completed" and done.test_accuracy is not None


def test_stop_ends_the_run_soon_and_keeps_the_model(store, tiny_data_dir):
    run_id = store.create_run(config(tiny_data_dir, epochs=200))
    scheduler = Scheduler(store, slots=["cpu"])
    scheduler.tick()
    wait_for(lambda: store.batches(run_id), scheduler=scheduler)
    asked = time.time()
    store.request_stop(run_id)
    run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, scheduler=scheduler)
    assert run.status == "stopped" and run.epochs_completed < 200
    assert time.time() - asked < 20  # stopped within a batch, then evaluated and saved
    assert store.model_path(run_id).exists() and run.test_accuracy is not None


def test_a_worker_exception_fails_the_run_with_its_reason(store, tiny_data_dir, tmp_path):
    run_id = store.create_run(config(str(tmp_path)))  # a data dir without the dataset
    scheduler = Scheduler(store, slots=["cpu"])
    run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, scheduler=scheduler)
    assert run.status == "failed" and "not available offline" in run.error


def test_runs_orphaned_by_a_dead_server_are_interrupted_then_resume_where_they_were(store, tiny_data_dir):
    from lib.train import fit

    run_id = store.create_run(config(tiny_data_dir, epochs=2))
    store.claim_next(["cpu"])
    fit.train_run(store, run_id)  # two epochs done
    # as a dead server left it: still 'running', its worker silent for two minutes
    store._write(
        lambda db: db.execute("UPDATE runs SET status='running', heartbeat=heartbeat - 120 WHERE id=?", (run_id,))
    )
    assert Scheduler(store, slots=["cpu"]).recover() == [run_id]
    run = store.get(run_id)
    assert run.status == "interrupted" and "after epoch 2" in run.error
    # resume: two more epochs continue the count and the optimizer's iterations
    store._write(lambda db: db.execute("UPDATE runs SET config=json_set(config, '$.epochs', 4) WHERE id=?", (run_id,)))
    iterations_before = _iterations(store.model_path(run_id, "last"))
    assert store.requeue(run_id)
    scheduler = Scheduler(store, slots=["cpu"])
    run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, scheduler=scheduler)
    assert run.status == "completed"
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2, 3, 4]
    assert _iterations(store.model_path(run_id, "last")) == 2 * iterations_before


def _iterations(path):
    from lib.model_files import load_model

    return int(load_model(path).optimizer.iterations.numpy())


def test_out_of_memory_errors_suggest_a_smaller_batch():
    message = describe_error(MemoryError("Unable to allocate 12 GiB"), batch_size=256)
    assert message.startswith("Out of memory") and "128" in message
