"""Queue N runs from a separate process: python -m tests.helpers.enqueue RUNS_DIR N TAG."""

import sys

from lib.config import TrainConfig
from lib.runs.store import Store

if __name__ == "__main__":
    runs_dir, count, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    store = Store(runs_dir)
    for i in range(count):
        store.create_run(TrainConfig(epochs=1, extra={"tag": f"{tag}-{i}"}))
