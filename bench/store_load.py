"""The store under load: 20 workers writing metrics at their normal rate while 20 viewers poll.

Each worker is a process that "trains" like a GPU worker: every step waits 20 ms for the
device (a sleep: the CPU is idle then, as it is while a GPU computes) and then, like the
streaming callback, writes progress plus the batch rows since the last write to the store
every 0.25 s, in line (the worst case: the real callback writes from a helper thread).
Viewers poll like a Train page: the run, its new batch rows and its epochs, once a second.

Reported per backend (SQLite in WAL mode; PostgreSQL, a throw-away cluster on 127.0.0.1):
the workers' median images/s with 20 workers and 20 viewers against one worker alone, the
slowest store write, and every store error (target: within 5%, no errors). Exits non-zero
on a miss.

    .venv/bin/python bench/store_load.py [--workers 20] [--viewers 20] [--seconds 20] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.config import TrainConfig  # noqa: E402
from lib.runs.progress import BatchRow, Progress  # noqa: E402
from lib.runs.store import Store  # noqa: E402
from lib.runs.store_errors import StoreError  # noqa: E402

STEP_S = 0.020  # one batch on the device
BATCH = 64
WRITE_EVERY_S = 0.25  # the streaming callback's interval
POLL_S = 1.0  # a page's fragment


def worker(runs_dir: str, url: str | None, run_id: str, seconds: float, start_at: float) -> dict:
    store = Store(runs_dir, url=url)
    time.sleep(max(0.0, start_at - time.time()))
    steps, errors, rows, slowest = 0, 0, [], 0.0
    end = time.perf_counter() + seconds
    last_write = began = time.perf_counter()
    while time.perf_counter() < end:
        time.sleep(STEP_S)
        steps += 1
        rows.append(BatchRow(steps, 1, steps, 0.5, 0.8, time.time()))
        if time.perf_counter() - last_write >= WRITE_EVERY_S:
            t = time.perf_counter()
            try:
                store.update_progress(run_id, Progress("training", epoch=1, epochs=1, batch=steps, steps=10**6), rows)
            except StoreError:
                errors += 1
            slowest = max(slowest, time.perf_counter() - t)
            rows, last_write = [], time.perf_counter()
    elapsed = time.perf_counter() - began
    return {"images_per_second": steps * BATCH / elapsed, "errors": errors, "slowest_write_s": slowest}


def viewer(runs_dir: str, url: str | None, run_ids: list[str], seconds: float, start_at: float) -> dict:
    store = Store(runs_dir, url=url)
    time.sleep(max(0.0, start_at - time.time()))
    polls, errors, seen = 0, 0, {}
    end = time.time() + seconds
    while time.time() < end:
        for run_id in run_ids:
            try:
                store.get(run_id)
                new = store.batches(run_id, since_step=seen.get(run_id, -1))
                if new:
                    seen[run_id] = new[-1]["step"]
                store.epochs(run_id)
                polls += 1
            except StoreError:
                errors += 1
        time.sleep(POLL_S)
    return {"polls": polls, "errors": errors}


def child(argv: list[str]) -> None:
    kind, runs_dir, url, payload, seconds, start_at = argv
    url = url or None
    seconds, start_at = float(seconds), float(start_at)
    if kind == "worker":
        print(json.dumps(worker(runs_dir, url, payload, seconds, start_at)))
    else:
        print(json.dumps(viewer(runs_dir, url, payload.split(","), seconds, start_at)))


def spawn(kind, runs_dir, url, payload, seconds, start_at):
    return subprocess.Popen(
        [sys.executable, __file__, "--child", kind, str(runs_dir), url or "", payload, str(seconds), str(start_at)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def trial(runs_dir: Path, url: str | None, workers: int, viewers: int, seconds: float) -> dict:
    store = Store(runs_dir, url=url)
    ids = [store.create_run(TrainConfig()) for _ in range(workers)]
    for _ in ids:
        store.claim_next([str(i) for i in range(workers)])
    start_at = time.time() + 3.0 + 0.15 * (workers + viewers)  # every process imported and connected first
    procs = [spawn("worker", runs_dir, url, run_id, seconds, start_at) for run_id in ids]
    # viewers watch the runs in turn, several each, like pages open on different runs
    procs += [spawn("viewer", runs_dir, url, ",".join(ids[i % workers :: viewers] or ids[:1]), seconds, start_at)
              for i in range(viewers)]  # fmt: skip
    results = [json.loads(p.communicate(timeout=seconds + 120)[0]) for p in procs]
    made = results[:workers]
    return {
        "images_per_second": statistics.median(r["images_per_second"] for r in made),
        "slowest_write_s": max(r["slowest_write_s"] for r in made),
        "errors": sum(r["errors"] for r in results),
        "viewer_polls": sum(r.get("polls", 0) for r in results[workers:]),
    }


def run_backend(name: str, url: str | None, args) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        alone = trial(Path(tmp) / "alone", url and url_for(url, "alone"), 1, 0, args.seconds)
        loaded = trial(Path(tmp) / "loaded", url and url_for(url, "loaded"), args.workers, args.viewers, args.seconds)
    ratio = loaded["images_per_second"] / alone["images_per_second"]
    ok = ratio >= 0.95 and loaded["errors"] == 0
    print(
        f"{name:10} alone {alone['images_per_second']:7.0f} img/s | {args.workers} workers + {args.viewers} viewers:"
        f" median {loaded['images_per_second']:7.0f} img/s ({ratio:.3f} of alone), slowest write"
        f" {loaded['slowest_write_s'] * 1000:.0f} ms, {loaded['viewer_polls']} viewer polls,"
        f" {loaded['errors']} store errors -> {'ok' if ok else 'MISSED (target >= 0.95, 0 errors)'}",
        flush=True,
    )
    return ok


_CLUSTER = None


def url_for(base: str, name: str) -> str:
    return _CLUSTER.database(f"bench_{name}")


def main() -> int:
    global _CLUSTER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    ok = True
    if args.backend in ("sqlite", "both"):
        ok &= run_backend("SQLite", None, args)
    if args.backend in ("postgresql", "both"):
        from tests.helpers.postgres import PostgresCluster, missing_reason  # the bench's own throw-away server

        if missing_reason():
            print(f"PostgreSQL skipped: {missing_reason()}")
        else:
            with PostgresCluster() as _CLUSTER:
                ok &= run_backend("PostgreSQL", _CLUSTER.url(), args)
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        sys.exit(main())
