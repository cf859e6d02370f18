"""What the run store's two database backends share, and the SQLite one (PostgreSQL: store_pg.py).

The store's SQL is written once, in the dialect both share: `?` placeholders,
`INSERT ... ON CONFLICT ... DO UPDATE`, guarded `UPDATE ... WHERE status IN ...`.
What differs lives here: connecting, placeholders, column types in DDL, how a
write transaction excludes other writers (SQLite: BEGIN IMMEDIATE; PostgreSQL:
row locks, plus a transaction-scoped advisory lock for the few steps that read
then write, like claiming a slot), where the schema version is kept, and how a
fault is recognised. Both retry a busy or unreachable database with backoff for
a bounded time, then raise a StoreError that says what happened.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import zlib
from contextlib import closing
from pathlib import Path

from lib import settings
from lib.runs.store_errors import StoreDamaged, StoreError, damaged_message, translate


class Connection:
    """One connection in one transaction: `execute(sql, args)` with `?` placeholders, rows as dicts."""

    def __init__(self, raw, dialect: str):
        self.raw, self.dialect = raw, dialect

    def execute(self, sql: str, args=()):
        if self.dialect == "postgresql":
            sql = sql.replace("?", "%s")
        return self.raw.execute(sql, tuple(args))

    def executemany(self, sql: str, rows) -> None:
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        else:
            self.raw.executemany(sql, rows)

    def lock(self, name: str) -> None:
        """Exclude every other writer holding the same named lock until this transaction ends.

        SQLite's BEGIN IMMEDIATE already excludes all writers; PostgreSQL takes an
        advisory lock so two schedulers cannot both see a slot free and fill it twice.
        """
        if self.dialect == "postgresql":
            self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(name.encode()),))


class Backend:
    dialect = ""
    where = ""

    def __init__(self, wait_s: float | None = None):
        self.wait_s = settings.store_wait_s() if wait_s is None else wait_s

    def run(self, action, write: bool = False, wait_s: float | None = None):
        """`action(Connection)` in one transaction, retried while the store is busy for up to wait_s."""
        deadline = time.monotonic() + (self.wait_s if wait_s is None else wait_s)
        delay, started = 0.05, time.monotonic()
        while True:
            try:
                return self._attempt(action, write, max(0.1, deadline - time.monotonic()))
            except StoreError:
                raise
            except Exception as exc:
                if not self.retryable(exc) or time.monotonic() + delay > deadline:
                    raise translate(exc, self.where, waited=time.monotonic() - started) from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    # subclasses: _attempt, retryable, ddl_types, read_version, write_version, has_table, close


# -- SQLite --------------------------------------------------------------------------
class SqliteBackend(Backend):
    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike, wait_s: float | None = None):
        super().__init__(wait_s)
        self.path = Path(path)
        self.where = str(self.path)
        self._local = threading.local()

    def _connection(self, busy_s: float) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():  # never share a connection across fork
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            db.row_factory = _dict_row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db, self._local.pid = db, os.getpid()
        db.execute(f"PRAGMA busy_timeout = {int(min(busy_s, 5.0) * 1000)}")
        return db

    def _attempt(self, action, write: bool, busy_s: float):
        db = self._connection(busy_s)
        if db.in_transaction:
            # a Ctrl-C that lands just after BEGIN IMMEDIATE returns (it waited there for the lock, the
            # signal with it) raises before the try below: the lock would stay held by this connection
            db.execute("ROLLBACK")
        if not write:
            return action(Connection(db, self.dialect))
        db.execute("BEGIN IMMEDIATE")
        try:
            result = action(Connection(db, self.dialect))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def retryable(self, exc: Exception) -> bool:
        text = str(exc).lower()
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)

    ddl_types = {"seq": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL", "bigint": "INTEGER"}
    # AUTOINCREMENT never hands out a number below the largest used, so MAX + 1 is safe
    next_seq = "(SELECT MAX(seq) + 1 FROM runs)"

    def read_version(self, db: Connection) -> int:
        return db.execute("PRAGMA user_version").fetchone()["user_version"]

    def write_version(self, db: Connection, version: int) -> None:
        db.execute(f"PRAGMA user_version = {int(version)}")

    def has_table(self, db: Connection, name: str) -> bool:
        return (
            db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
        )

    def quick_check(self) -> list[str]:
        """SQLite's own consistency check: [] when sound, else what it found (a damaged file raises)."""
        rows = self.run(lambda db: db.execute("PRAGMA quick_check").fetchall())
        return [r["quick_check"] for r in rows if r["quick_check"] != "ok"]

    def backup_to(self, target: str | os.PathLike) -> Path:
        """An online, consistent copy through sqlite3's backup API (writers may keep going)."""
        target = Path(target)
        tmp = target.with_name(target.name + ".partial")
        tmp.unlink(missing_ok=True)
        try:
            with closing(sqlite3.connect(self.path, timeout=self.wait_s)) as src:
                with closing(sqlite3.connect(tmp)) as dst:
                    src.backup(dst)
            os.replace(tmp, target)
        except (sqlite3.Error, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise translate(exc, f"{self.where} -> {target}") from None
        return target

    def restore_from(self, source: str | os.PathLike) -> None:
        """Replace the store's contents with a backup's, online (other processes see the change)."""
        source = Path(source)
        try:
            with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
                problems = [r[0] for r in src.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
                if problems:
                    raise StoreDamaged(damaged_message(str(source), problems[0]))
                if not src.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
                    raise StoreDamaged(damaged_message(str(source), "it has no runs table"))
                with closing(sqlite3.connect(self.path, timeout=self.wait_s)) as dst:
                    src.backup(dst)
        except sqlite3.DatabaseError as exc:
            raise translate(exc, str(source)) from None

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _dict_row(cursor, row) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}
