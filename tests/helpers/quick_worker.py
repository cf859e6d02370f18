"""A worker that 'trains' in a blink: records the order it ran in, then completes its run.

The 50-run queue test uses it so that the queue, not TensorFlow's start-up, is what is tested.
"""

import argparse
import sys
import time

from lib.runs.store import Store


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("--runs-dir")
    args = parser.parse_args()
    store = Store(args.runs_dir)
    if store.get(args.run_id).status != "running":
        return 2
    time.sleep(0.05)
    store.finish(args.run_id, "completed", test_accuracy=1.0, epochs_completed=1, ran_at=time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main())
