"""The PostgreSQL backend of the run store (psycopg 3 with a small connection pool).

Several app servers, schedulers and workers on different machines share one
database. Status changes are guarded UPDATEs, which PostgreSQL row-locks and
re-checks; steps that read then write (claiming a slot) take a transaction-scoped
advisory lock. A row held by another transaction is waited on for a few seconds,
then retried with backoff like a busy SQLite file.
"""

from __future__ import annotations

import os
import threading
import weakref

import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from lib import settings
from lib.runs.store_errors import redact
from lib.runs.store_sql import Backend, Connection


def _close_quietly(pool, pid: int) -> None:
    if os.getpid() == pid:  # a forked child does not own its parent's pool
        pool.close(timeout=1)


class PostgresBackend(Backend):
    dialect = "postgresql"

    def __init__(self, url: str, wait_s: float | None = None, pool_size: int | None = None):
        super().__init__(wait_s)
        self.url = url
        self.where = redact(url)
        self.pool_size = pool_size or settings.store_pool_size()
        self._pool, self._pid = None, None
        self._pool_lock = threading.Lock()

    def _get_pool(self):
        with self._pool_lock:
            if self._pool is None or self._pid != os.getpid():  # a forked child opens its own
                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self.pool_size,
                    # a row another transaction holds is waited on for 5 s, then retried by run()
                    kwargs={"row_factory": dict_row, "options": "-c lock_timeout=5000", "connect_timeout": 10},
                    open=False,
                    name="convstudio-store",
                )
                self._pool.open(wait=False)
                self._pid = os.getpid()
                # a Store dropped without close() must not leave its pool's threads reconnecting forever
                weakref.finalize(self, _close_quietly, self._pool, self._pid)
            return self._pool

    def _attempt(self, action, write: bool, busy_s: float):
        with self._get_pool().connection(timeout=busy_s) as raw:
            with raw.transaction():
                return action(Connection(raw, self.dialect))

    def retryable(self, exc: Exception) -> bool:
        if isinstance(exc, (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable)):
            return True
        return isinstance(exc, (psycopg.OperationalError, PoolTimeout)) and not isinstance(
            exc, errors.InvalidPassword | errors.InvalidAuthorizationSpecification
        )

    ddl_types = {"seq": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION", "bigint": "BIGINT"}
    # from the serial's own sequence, so a later INSERT cannot be handed the same number
    next_seq = "nextval(pg_get_serial_sequence('runs', 'seq'))"

    def read_version(self, db: Connection) -> int:
        if not self.has_table(db, "schema_version"):
            return 0
        row = db.execute("SELECT version FROM schema_version").fetchone()
        return row["version"] if row else 0

    def write_version(self, db: Connection, version: int) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def has_table(self, db: Connection, name: str) -> bool:
        return db.execute("SELECT to_regclass(?) AS t", (name,)).fetchone()["t"] is not None

    def quick_check(self) -> list[str]:
        self.run(lambda db: db.execute("SELECT 1").fetchone())  # the server checks its own pages
        return []

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None
