"""A worker that trains nothing: it beats like a real one until stopped (or for --seconds), then completes.

The heartbeat and serve tests use it so that liveness, not TensorFlow, is what they test.
"""

import os
import sys
import time

from lib.runs.heartbeat import Heartbeat
from tests.helpers.fake_worker import claimed_run


def main() -> int:
    claimed = claimed_run()
    if claimed is None:
        return 2
    store, run = claimed
    seconds = float(os.environ.get("BEATING_WORKER_SECONDS", "3"))
    with Heartbeat(store, run.id, int(os.environ.get("CONVSTUDIO_ATTEMPT") or run.attempt), interval=0.2):
        end = time.time() + seconds
        while time.time() < end and not store.stop_file(run.id).exists():
            time.sleep(0.05)
        status = "stopped" if store.stop_file(run.id).exists() else "completed"
        store.finish(run.id, status, epochs_completed=1, ran_at=time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main())
