"""A worker that 'trains' in a blink: records the order it ran in, then completes its run.

The 50-run queue test uses it so that the queue, not TensorFlow's start-up, is what is tested.
"""

import sys
import time

from tests.helpers.fake_worker import claimed_run


def main() -> int:
    claimed = claimed_run()
    if claimed is None:
        return 2
    store, run = claimed
    time.sleep(0.05)
    store.finish(run.id, "completed", test_accuracy=1.0, epochs_completed=1, ran_at=time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main())
