"""The worker: trains one run that a scheduler has claimed, and makes sure its end reaches the store.

python -m lib.train RUN_ID [--runs-dir DIR]
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback

from lib.runs.store import Store, UnknownRun
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
    store = Store(runs_dir)
    try:
        run = store.get(run_id)
    except UnknownRun:
        print(f"error: no run {run_id!r} in {store.root}", file=sys.stderr)
        return 2
    if run.status not in ("running", "stopping"):
        print(f"error: run {run_id} is {run.status}, not claimed by a scheduler", file=sys.stderr)
        return 2
    store.set_pid(run_id, os.getpid())
    try:
        (lr_find.find_rate if is_finder(run.config) else fit.train_run)(store, run_id)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the store
        traceback.print_exc()
        store.finish(run_id, "failed", error=describe_error(exc, run.config.batch_size))
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.train", description="Train one claimed run.")
    parser.add_argument("run_id")
    parser.add_argument("--runs-dir", default=None)
    args = parser.parse_args(argv)
    return run_worker(args.run_id, args.runs_dir)
