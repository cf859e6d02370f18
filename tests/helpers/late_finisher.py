"""A worker's last act: open the store, wait for a line on stdin, then record the run's failure.

With a store locked meanwhile, the failure must be recorded once the store is writable again.
"""

import sys

from lib.runs.store import Store

if __name__ == "__main__":
    runs_dir, run_id = sys.argv[1], sys.argv[2]
    store = Store(runs_dir)
    print("ready", flush=True)
    sys.stdin.readline()
    recorded = store.finish(run_id, "failed", error="disk full (recorded late)", wait_s=300)
    print("recorded" if recorded else "not recorded", flush=True)
