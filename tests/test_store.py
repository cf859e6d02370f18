"""The run store: lifecycle, guarded transitions, safety of ids, sharing across processes."""

import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from lib.config import ConfigError, TrainConfig
from lib.runs.progress import BatchRow, Progress
from lib.runs.store import Store, UnknownRun
from tests.conftest import ROOT


def make(store, **changes):
    return store.create_run(TrainConfig(**changes))


def test_runs_queue_in_order_and_claims_respect_slots(store):
    first, second, third = (make(store) for _ in range(3))
    assert [r.id for r in store.queue()] == [first, second, third]
    assert store.queue_position(third) == 3
    assert store.claim_next(["cpu"]).id == first
    assert store.claim_next(["cpu"]) is None  # the only slot is busy
    assert store.claim_next(["0", "1"]).slot in ("0", "1")  # another GPU slot
    assert store.queue_position(third) == 1


def test_invalid_config_is_never_stored(store):
    with pytest.raises(ConfigError):
        make(store, batch_size=0)
    assert store.list_runs() == []


def test_finish_is_guarded_and_stop_reaches_the_callback_file(store):
    run_id = make(store)
    store.claim_next(["cpu"])
    assert store.request_stop(run_id)
    assert store.get(run_id).status == "stopping" and store.stop_file(run_id).exists()
    assert store.finish(run_id, "stopped", test_accuracy=0.5, epochs_completed=1, train_seconds=2.0)
    assert not store.finish(run_id, "failed", error="late")  # already final: nothing changes
    run = store.get(run_id)
    assert (run.status, run.test_accuracy, run.error, run.metrics["train_seconds"]) == ("stopped", 0.5, None, 2.0)


def test_stopping_a_queued_run_takes_it_out_of_the_queue(store):
    run_id = make(store)
    assert store.request_stop(run_id)
    assert store.get(run_id).status == "stopped" and store.queue() == []


def test_metrics_round_trip_and_thinning(store):
    run_id = make(store)
    store.update_progress(
        run_id, Progress("training", batch=3), [BatchRow(i, 1, i, 1.0 / (i + 1), 0.5, 0.0) for i in range(1000)]
    )
    store.add_epoch(run_id, {"epoch": 1, "loss": 0.3, "val_accuracy": 0.9, "confusion": [[1, 0], [0, 1]]})
    assert store.get(run_id).progress == Progress("training", batch=3)
    assert len(store.batches(run_id)) == 1000
    assert len(store.batches(run_id, since_step=989)) == 10
    thin = store.batches(run_id, max_points=100)
    assert len(thin) <= 101 and thin[0]["step"] == 0 and thin[-1]["step"] == 999
    epoch = store.epochs(run_id)[0]
    assert epoch["loss"] == 0.3 and epoch["confusion"] == [[1, 0], [0, 1]]


def test_delete_removes_rows_and_files_but_not_active_runs(store):
    run_id = make(store)
    store.claim_next(["cpu"])
    with pytest.raises(ValueError, match="stop it"):
        store.delete(run_id)
    store.finish(run_id, "completed")
    store.delete(run_id)
    with pytest.raises(UnknownRun):
        store.get(run_id)
    assert not store.run_dir(run_id).exists()


@pytest.mark.parametrize("bad", ["../etc", "x' OR '1'='1", "", None, "20260101-000000-zzzzzz", "a/../../b"])
def test_hostile_run_ids_never_reach_paths_or_queries(store, bad):
    with pytest.raises(UnknownRun):
        store.get(bad)
    with pytest.raises(UnknownRun):
        store.run_dir(bad)


def test_requeue_puts_an_interrupted_run_at_the_back(store):
    a, b = make(store), make(store)
    store.claim_next(["cpu"])
    store.finish(a, "interrupted", error="server died")
    assert store.requeue(a)
    assert [r.id for r in store.queue()] == [b, a]
    assert store.get(a).error is None


def test_concurrent_claims_from_processes_never_take_a_run_twice(runs_dir):
    store = Store(runs_dir)
    ids = {make(store) for _ in range(40)}
    claimers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.claimer", str(runs_dir)], cwd=ROOT, stdout=subprocess.PIPE
        )
        for _ in range(4)
    ]
    parts = [json.loads(c.communicate(timeout=120)[0]) for c in claimers]
    claimed = [i for p in parts for i in p["got"]]
    misses = [m for p in parts for m in p["misses"]]
    assert len(claimed) == len(set(claimed)) == 40, f"claims that found nothing while runs waited: {misses}"
    assert set(claimed) == ids and store.queue() == []


def test_writes_retry_while_another_process_holds_the_lock(store):
    run_id = make(store)
    blocker = sqlite3.connect(store.db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(1.0, lambda: blocker.execute("COMMIT")).start()
    store._connection().execute("PRAGMA busy_timeout = 100")  # force our retry path, not sqlite's own wait
    start = time.time()
    store.update_progress(run_id, Progress("training"))
    assert time.time() - start >= 0.9  # it waited for the lock instead of failing
    assert store.get(run_id).progress == Progress("training")


def test_a_multi_gpu_run_waits_for_every_gpu_and_holds_them_all(store):
    single = make(store)
    wide = make(store, multi_gpu=True)
    after = make(store)
    gpus = ["0", "1"]
    assert store.claim_next(gpus).id == single  # on GPU 0
    assert store.claim_next(gpus) is None  # the multi-GPU run waits for GPU 0; the run behind it waits too
    store.finish(single, "completed")
    claimed = store.claim_next(gpus)
    assert claimed.id == wide and claimed.slot == "0,1"
    assert store.claim_next(gpus) is None  # every GPU is taken
    store.finish(wide, "completed")
    assert store.claim_next(gpus).id == after
