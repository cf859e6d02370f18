"""A worker that trains nothing: it beats like a real one until stopped (or for --seconds), then completes.

The heartbeat and serve tests use it so that liveness, not TensorFlow, is what they test.
"""

import argparse
import os
import sys
import time

from lib.runs.heartbeat import Heartbeat
from lib.runs.store import Store


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("--runs-dir")
    args = parser.parse_args()
    store = Store(args.runs_dir)
    run = store.get(args.run_id)
    if run.status != "running":
        return 2
    seconds = float(os.environ.get("BEATING_WORKER_SECONDS", "3"))
    with Heartbeat(store, args.run_id, int(os.environ.get("CONVSTUDIO_ATTEMPT") or run.attempt), interval=0.2):
        end = time.time() + seconds
        while time.time() < end and not store.stop_file(args.run_id).exists():
            time.sleep(0.05)
        status = "stopped" if store.stop_file(args.run_id).exists() else "completed"
        store.finish(args.run_id, status, epochs_completed=1, ran_at=time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main())
