"""The worker's heartbeat thread: it beats, carries a stop request home, and ends a worker whose claim is gone."""

import time

from lib.config import TrainConfig
from lib.runs.heartbeat import Heartbeat


def claimed(store):
    run_id = store.create_run(TrainConfig())
    return run_id, store.claim_next(["cpu"]).attempt


def test_it_beats_with_where_the_worker_runs(store, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_NODE", "gpu-box")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    run_id, attempt = claimed(store)
    with Heartbeat(store, run_id, attempt, interval=0.05):
        first = store.get(run_id).heartbeat
        time.sleep(0.3)
        run = store.get(run_id)
    assert first and run.heartbeat > first
    assert run.placement == "gpu-box · GPU 1" and run.pid


def test_a_stop_asked_from_another_machine_becomes_the_local_stop_file(store):
    run_id, attempt = claimed(store)
    with Heartbeat(store, run_id, attempt, interval=0.05):
        store.request_stop(run_id)
        store.stop_file(run_id).unlink()  # as if the request came through another machine's folder
        time.sleep(0.3)
    assert store.stop_file(run_id).exists()


def test_a_worker_whose_run_was_claimed_again_is_told_to_stop(store):
    run_id, attempt = claimed(store)
    lost = []
    beat = Heartbeat(store, run_id, attempt, interval=0.05, on_lost=lambda: lost.append(time.time())).start()
    try:
        store.mark_lost(run_id, attempt, time.time() + 1, "silent")
        store.requeue(run_id)
        store.claim_next(["cpu"])  # the run now belongs to attempt + 1
        time.sleep(0.3)
    finally:
        beat.stop()
    assert lost, "the old worker was not told its claim is gone"
