"""The run store: lifecycle, guarded transitions, safety of ids, sharing across processes.

Every test that takes `store` runs against both backends: SQLite in the runs folder and a
throw-away PostgreSQL cluster (skipped, with the reason, where PostgreSQL is not installed).
"""

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
from lib.runs.store_errors import StoreError
from tests.conftest import ROOT

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store_url(request, runs_dir, monkeypatch):
    """None for SQLite in the runs folder, else a fresh PostgreSQL database (also in CONVSTUDIO_STORE)."""
    if request.param == "sqlite":
        monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
        return None
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("CONVSTUDIO_STORE", url)
    return url


@pytest.fixture
def store(runs_dir, store_url):
    store = Store(runs_dir, url=store_url)
    yield store
    store.close()


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


def test_concurrent_claims_from_processes_never_take_a_run_twice(store, runs_dir):
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


def test_writes_retry_while_another_process_holds_the_lock(runs_dir):
    store = Store(runs_dir)
    run_id = make(store)
    blocker = sqlite3.connect(store.db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(1.0, lambda: blocker.execute("COMMIT")).start()
    store.backend._connection(0.1)  # a 100 ms busy timeout: our retry path is tested, not sqlite's own wait
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


def test_requeued_runs_never_collide_with_new_ones(store):
    """PostgreSQL hands out seq numbers from a sequence: a requeued run must take its number from it too."""
    a = make(store)
    store.claim_next(["cpu"])
    store.finish(a, "interrupted")
    assert store.requeue(a)
    b, c = make(store), make(store)
    assert [r.id for r in store.queue()] == [a, b, c]


def test_a_worker_whose_claim_was_taken_over_can_no_longer_write(store, runs_dir, store_url):
    run_id = make(store)
    first = store.claim_next(["cpu"])
    old_worker = Store(runs_dir, url=store_url)
    old_worker.bind_attempt(run_id, first.attempt)
    assert old_worker.heartbeat(run_id, node="n1", gpu="0") == "running"
    assert store.get(run_id).placement == "n1 · GPU 0"
    # the scheduler gives up on it (no heartbeat) and the run is resumed: a second claim
    assert store.mark_lost(run_id, first.attempt, time.time() + 1, "node n1 went away")
    assert store.requeue(run_id)
    second = store.claim_next(["cpu"])
    assert second.attempt == first.attempt + 1
    assert old_worker.heartbeat(run_id) is None  # told to stop
    old_worker.update_progress(run_id, Progress("training", batch=7))
    assert not old_worker.finish(run_id, "completed", test_accuracy=0.1)
    run = store.get(run_id)
    assert run.status == "running" and run.progress.batch == 0 and run.test_accuracy is None
    old_worker.close()


def test_a_beat_that_lands_first_keeps_the_run_alive(store):
    run_id = make(store)
    run = store.claim_next(["cpu"])
    store.heartbeat(run_id)
    assert not store.mark_lost(run_id, run.attempt, time.time() - 60, "silent")  # it beat a moment ago
    assert store.get(run_id).status == "running"


def test_a_stop_request_comes_back_with_the_heartbeat(store):
    run_id = make(store)
    store.claim_next(["cpu"])
    store.request_stop(run_id)
    assert store.heartbeat(run_id) == "stopping"


def test_only_one_holder_of_a_lease_until_it_expires(store):
    assert store.acquire_lease("scheduler:x", "a", ttl_s=30)
    assert not store.acquire_lease("scheduler:x", "b", ttl_s=30)
    assert store.acquire_lease("scheduler:x", "a", ttl_s=0.2)  # renewed, shorter
    time.sleep(0.3)
    assert store.acquire_lease("scheduler:x", "b", ttl_s=30)  # expired: b takes over
    assert [lease["holder"] for lease in store.leases()] == ["b"]
    store.release_lease("scheduler:x", "b")
    assert store.leases() == []


def test_runs_on_two_machines_each_fill_their_own_gpu_zero(store):
    a, b, c = make(store), make(store), make(store)
    assert store.claim_next(["0"], node="server1").id == a
    assert store.claim_next(["0"], node="server1") is None
    assert store.claim_next(["0"], node="server2").id == b
    assert store.get(b).node == "server2"
    assert store.queue_position(c) == 1


def test_fifty_queued_runs_are_claimed_in_order_exactly_once(store):
    ids = [make(store) for _ in range(50)]
    claimed = []
    while run := store.claim_next([str(i) for i in range(100)]):
        claimed.append(run.id)
    assert claimed == ids


def test_a_wrong_password_is_one_line_without_the_password(postgres_cluster, runs_dir):
    url = postgres_cluster.url().replace(postgres_cluster.password, "hunter2-secret")
    with pytest.raises(StoreError) as caught:
        Store(runs_dir, url=url, wait_s=1)
    message = str(caught.value)
    assert "hunter2-secret" not in message and postgres_cluster.password not in message
    assert "\n" not in message and ":***@" in message


def test_a_second_machine_without_the_shared_runs_folder_is_told_so(postgres_url, tmp_path):
    first = Store(tmp_path / "shared-runs", url=postgres_url)
    make(first)
    with pytest.raises(StoreError, match="not the one the store"):
        Store(tmp_path / "local-empty-folder", url=postgres_url)
    first.close()
