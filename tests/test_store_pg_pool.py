"""A PostgreSQL store dropped without close() closes its connection pool.

Pages and helpers make Store objects and let them go; each PostgreSQL one owns a pool whose
threads keep a connection open (and, once the server is gone, retry and log an error every few
seconds for as long as the process lives: CI's log ended with a screen of them).
"""

from __future__ import annotations

import gc

from lib.runs.store import Store


def test_a_dropped_store_closes_its_pool(postgres_url, tmp_path):
    store = Store(tmp_path / "runs", url=postgres_url)
    store.list_runs()
    pool = store.backend._pool
    assert pool is not None and not pool.closed
    del store
    gc.collect()
    assert pool.closed
