"""Claim runs until the queue is really empty; print the ids claimed and any empty-handed claims as JSON.

A separate program rather than a multiprocessing child: a spawned child re-runs the parent's
__main__, which under pytest may be a Streamlit page left there by AppTest.
"""

import json
import sys

from lib.runs.store import Store

if __name__ == "__main__":
    store = Store(sys.argv[1])
    slots = [str(i) for i in range(100)]
    got, misses = [], []
    while len(misses) < 50:
        run = store.claim_next(slots)
        if run:
            got.append(run.id)
        elif not store.queue():
            break
        else:
            misses.append(len(store.queue()))
    print(json.dumps({"got": got, "misses": misses}))
