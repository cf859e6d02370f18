"""What every stand-in worker starts with: the scheduler's command line, the store, the claimed run.

The stand-ins (quick_worker, beating_worker, sweep_worker) replace `python -m lib.train` in tests
where the queue, liveness or a sweep is under test rather than TensorFlow; they are started with
the real worker's arguments: RUN_ID --runs-dir DIR.
"""

from __future__ import annotations

import argparse

from lib.runs.store import Store


def claimed_run(statuses: tuple[str, ...] = ("running",)):
    """(store, run) for the run named on the command line, or None when it is not in `statuses`
    (not claimed for this worker: it must not touch the run, and exits 2 like the real one)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("--runs-dir")
    args = parser.parse_args()
    store = Store(args.runs_dir)
    run = store.get(args.run_id)
    return (store, run) if run.status in statuses else None
