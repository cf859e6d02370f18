"""A worker for sweep tests: 'trains' a run in a blink, with a validation accuracy made up from its settings.

Best near learning rate 1e-3, chance (0.1) from 0.5 up, rising with the epochs; each epoch takes
CONVSTUDIO_TEST_EPOCH_S seconds (default 0.3) and honours the stop file like the real callback.
"""

import math
import os
import sys
import time

from tests.helpers.fake_worker import claimed_run


def accuracy(config, epoch: int) -> float:
    if config.learning_rate >= 0.5:
        return 0.1
    best = 0.95 - 0.08 * abs(math.log10(config.learning_rate) + 3) - 0.0001 * config.batch_size
    return best * (0.7 + 0.3 * epoch / config.epochs)


def main() -> int:
    claimed = claimed_run(("running", "stopping"))
    if claimed is None:
        return 2
    store, run = claimed
    store.set_pid(run.id, os.getpid())
    pause = float(os.environ.get("CONVSTUDIO_TEST_EPOCH_S", "0.3"))
    done = run.epochs_completed
    for epoch in range(done + 1, run.config.epochs + 1):
        if store.stop_file(run.id).exists():
            break
        time.sleep(pause)
        store.add_epoch(run.id, {"epoch": epoch, "val_accuracy": accuracy(run.config, epoch), "seconds": pause})
        done = epoch
    stopped = store.stop_file(run.id).exists() and done < run.config.epochs
    store.finish(run.id, "stopped" if stopped else "completed", epochs_completed=done, test_accuracy=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
