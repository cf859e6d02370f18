"""Dispatch latency: from a run queued to its first batch reported, local executor vs Ray.

Each trial queues one small real run (MLP, MNIST sample, 1,000 images, 1 epoch) and ticks a
scheduler until the run's first batch row is in the store. Local: a worker subprocess on this
machine. Ray: a warm three-node cluster on 127.0.0.1 (one warm-up run first, not counted),
the run placed as a detached Ray actor on a node with a (declared) GPU. Both include the worker's own
start (Python, TensorFlow, the dataset), which is the same on both sides: the difference is
what Ray adds (target: under 3 s). Exits non-zero on a miss.

    .venv/bin/python bench/dispatch_latency.py [--data-dir ../shared/data] [--trials 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.config import TrainConfig  # noqa: E402
from lib.runs.executors import LocalExecutor  # noqa: E402
from lib.runs.scheduler import Scheduler  # noqa: E402
from lib.runs.store import Store  # noqa: E402
from tests.helpers.ray_cluster import RayCluster  # noqa: E402 - the loopback cluster the tests use


def one_trial(store: Store, scheduler: Scheduler, data_dir: str) -> float:
    config = TrainConfig(architecture="mlp", epochs=1, train_limit=1000, data_dir=data_dir, batch_size=64)
    run_id = store.create_run(config)
    queued = time.perf_counter()
    first = None
    while True:
        scheduler.tick()
        if first is None and store.batches(run_id, max_points=1):
            first = time.perf_counter() - queued
        run = store.get(run_id)
        if run.is_finished:
            if run.status != "completed" or first is None:
                raise SystemExit(f"run {run_id} {run.status}: {run.error}")
            return first
        time.sleep(0.05)


def measure(name: str, store: Store, scheduler: Scheduler, data_dir: str, trials: int, warmup: bool) -> float:
    if warmup:
        one_trial(store, scheduler, data_dir)
    times = [one_trial(store, scheduler, data_dir) for _ in range(trials)]
    print(
        f"{name:6} queued -> first batch: "
        + ", ".join(f"{t:.2f}" for t in times)
        + f" s; median {statistics.median(times):.2f} s",
        flush=True,
    )
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    data_dir = str(Path(args.data_dir).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "local")
        local = measure(
            "local", store, Scheduler(store, executor=LocalExecutor(store, ["cpu"])), data_dir, args.trials, True
        )
        from lib.runs.executors_ray import RayExecutor  # after the helper set the loopback mode

        with RayCluster() as cluster:
            store = Store(Path(tmp) / "ray")
            scheduler = Scheduler(store, executor=RayExecutor(store, cluster.address))
            ray = measure("ray", store, scheduler, data_dir, args.trials, True)
            scheduler.close()
    added = ray - local
    ok = added < 3.0
    print(f"Ray adds {added:+.2f} s to dispatch (target < 3 s) -> {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
