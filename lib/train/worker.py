"""The worker: trains one run that a scheduler has claimed, and makes sure its end reaches the store.

python -m lib.train RUN_ID [--runs-dir DIR]
"""

from __future__ import annotations

import argparse
import errno
import sys
import traceback

from lib import settings
from lib.runs.heartbeat import Heartbeat
from lib.runs.store import Store, UnknownRun
from lib.runs.store_errors import StoreError
from lib.sweeps.lr_finder import is_finder
from lib.train import fit, lr_find


def describe_error(exc: BaseException, batch_size: int | None = None) -> str:
    """One line a user can act on: out-of-memory suggests a smaller batch, a full disk says so."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
    lowered = str(exc).lower()
    if (
        type(exc).__name__ == "ResourceExhaustedError"
        or isinstance(exc, MemoryError)
        or "out of memory" in lowered
        or "oom when allocating" in lowered
    ):
        half = f" (try {max(1, batch_size // 2)})" if batch_size else ""
        return f"Out of memory: use a smaller batch size{half} or a narrower model. [{text}]"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        return f"Could not write the run's files: the disk is full or the runs folder is not writable. [{text}]"
    return text


def run_worker(run_id: str, runs_dir: str | None = None) -> int:
    """Train one run that a scheduler has claimed. Returns the process exit code."""
    try:
        store = Store(runs_dir)
        run = store.get(run_id)
    except (UnknownRun, StoreError) as exc:  # the scheduler's heartbeat check reports the run
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if run.status not in ("running", "stopping"):
        print(f"error: run {run_id} is {run.status}, not claimed by a scheduler", file=sys.stderr)
        return 2
    attempt = settings.attempt() or run.attempt
    with Heartbeat(store, run_id, attempt):  # liveness for any scheduler, on any machine
        try:
            (lr_find.find_rate if is_finder(run.config) else fit.train_run)(store, run_id)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the store
            traceback.print_exc()
            # a locked store is waited out for minutes: the failure is recorded once it is writable again
            store.finish(run_id, "failed", error=describe_error(exc, run.config.batch_size), wait_s=fit.FINAL_WAIT_S)
            return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.train", description="Train one claimed run.")
    parser.add_argument("run_id")
    parser.add_argument("--runs-dir", default=None)
    args = parser.parse_args(argv)
    return run_worker(args.run_id, args.runs_dir)
