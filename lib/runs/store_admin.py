"""Looking after a run store: check it, back it up, restore it, copy it to another database.

`python -m lib.cli store check | backup | restore | migrate` are thin wrappers around these.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from lib import settings
from lib.runs import schema
from lib.runs.store import Store
from lib.runs.store_errors import StoreDamaged, StoreError, translate
from lib.runs.store_sql import SqliteBackend
from lib.runs.store_url import open_backend

COPY_CHUNK = 500  # rows per INSERT batch when copying a store
STARTUP_GRACE_S = 120.0  # as the scheduler's: how long a claimed run's worker may take to beat first
# what `store migrate` copies, each table in this order (runs keep their queue order; seq is the target's own)
COPIED = {
    "runs": "seq",
    "epoch_metrics": "run_id",
    "batch_metrics": "run_id",
    "sweeps": "created",
    "sweep_trials": "sweep_id, number",
}


@dataclass
class CheckReport:
    where: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(runs_dir, url: str | None = None) -> CheckReport:
    """Everything that can be said about a store without changing it."""
    root = Path(runs_dir).resolve()
    backend = open_backend(url, root)
    report = CheckReport(backend.where)
    try:
        if isinstance(backend, SqliteBackend) and not backend.path.exists():
            report.notes.append("no store yet: one is made when the first run is queued")
            return report
        try:
            problems = backend.quick_check()
        except StoreDamaged as exc:
            report.problems.append(str(exc))
            return report
        report.problems += [f"damaged: {p}" for p in problems[:5]]
        version = backend.run(lambda db: schema.stored_version(backend, db))
        report.notes.append(f"schema version {version} (this ConvStudio writes {schema.VERSION})")
        if version > schema.VERSION:
            report.problems.append(schema.too_new_message(backend.where, version))
        if report.problems:
            return report
    finally:
        backend.close()
    store = Store(root, url=url, check=False, check_folder=False)
    try:
        runs = store.list_runs()
        report.notes.append(f"{len(runs)} runs, {sum(r.is_active for r in runs)} active")
        report.problems += [str(bad) for bad in store.bad_rows]
        report.notes += [
            f"run {r.id}: ignored unknown settings {', '.join(r.ignored_keys)}" for r in runs if r.ignored_keys
        ]
        sweeps = store.list_sweeps()
        report.notes.append(f"{len(sweeps)} sweeps, {sum(s.state == 'running' for s in sweeps)} running")
        report.problems += [str(bad) for bad in store.bad_sweeps]
    finally:
        store.close()
    return report


def default_backup_path(store: Store) -> Path:
    return store.root / "backups" / f"convstudio-{time.strftime('%Y%m%d-%H%M%S')}.db"


def backup(store: Store, target: str | os.PathLike | None = None) -> Path:
    """A consistent copy of a SQLite store, taken while it is in use (sqlite3's backup API)."""
    if not isinstance(store.backend, SqliteBackend):
        raise StoreError(
            f"the run store {store.where} is on a PostgreSQL server: back it up with the server's own tools"
            " (pg_dump), which also keep its history"
        )
    target = Path(target) if target else default_backup_path(store)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise translate(exc, str(target.parent)) from None
    return store.backend.backup_to(target)


def restore(runs_dir, source: str | os.PathLike, url: str | None = None) -> Path | None:
    """Put a backup in place of the SQLite store. A damaged store is moved aside (returned), not deleted.

    Refused while workers or a scheduler write to a sound store (stop them first); a damaged
    store cannot say who writes to it, and restoring it is what it needs.
    """
    root = Path(runs_dir).resolve()
    backend = open_backend(url, root)
    if not isinstance(backend, SqliteBackend):
        raise StoreError(f"the run store {backend.where} is on a PostgreSQL server: restore it with pg_restore")
    source = Path(source)
    if not source.is_file():
        raise StoreError(f"no backup file {source}")
    moved = None
    try:
        if backend.path.exists():
            try:
                sound = not backend.quick_check()
            except StoreDamaged:
                sound = False
            if sound:
                _refuse_while_written(backend)
            backend.close()
            if not sound:
                moved = backend.path.with_name(f"{backend.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
                os.replace(backend.path, moved)
                for suffix in ("-wal", "-shm"):
                    Path(f"{backend.path}{suffix}").unlink(missing_ok=True)
        backend.restore_from(source)
    except OSError as exc:
        raise translate(exc, str(backend.path)) from None
    finally:
        backend.close()
    return moved


def _refuse_while_written(backend) -> None:
    """A restore replaces the database under whoever writes to it: a worker would go on writing its
    heartbeats and epochs into the restored store (runs that are not there, or are at another point),
    and a scheduler could start a run from the old queue. So while any does, refuse and say who."""
    now = time.time()
    limit = settings.heartbeat_limit_s()

    def read(db):
        if schema.stored_version(backend, db) < 2:
            return [], []  # older than heartbeats and leases: nothing to go by
        runs = db.execute(
            "SELECT id, node, heartbeat, claimed FROM runs WHERE status IN ('running', 'stopping') ORDER BY seq"
        ).fetchall()
        leases = db.execute("SELECT name, holder, info FROM leases WHERE expires >= ?", (now,)).fetchall()
        return runs, leases

    runs, leases = backend.run(read)
    alive = [r for r in runs if _alive(r, now, limit)]
    if alive:
        n = len(alive)
        shown = ", ".join(f"{r['id']}{' on ' + r['node'] if r['node'] else ''}" for r in alive[:5])
        raise StoreError(
            f"stop the workers first: {n} run{' is' if n == 1 else 's are'} running ({shown}{', ...' if n > 5 else ''})"
            f" and writing to {backend.where}; stop them (`python -m lib.cli stop ID`) or let them finish, then restore"
        )
    if leases:
        holders = ", ".join(_holder(lease) for lease in leases)
        raise StoreError(
            f"stop the scheduler first: {holders} holds {backend.where} (`serve`, or the app's own scheduler) and"
            " could start a run during the restore; stop it, restore, then start it again"
        )


def _alive(run: dict, now: float, limit: float) -> bool:
    """A worker is alive while it beats; one just claimed has the scheduler's start-up grace to begin."""
    if run["heartbeat"]:
        return now - run["heartbeat"] <= limit
    return now - (run["claimed"] or 0.0) <= max(limit, STARTUP_GRACE_S)


def _holder(lease: dict) -> str:
    info = json.loads(lease["info"] or "{}")
    kind = f"{info['executor']} " if info.get("executor") else ""
    return f"the {kind}scheduler on {info.get('node', '?')} (pid {info.get('pid', '?')})"


def _columns(store: Store, table: str) -> list[str]:
    sql = f"SELECT * FROM {table} LIMIT 0"  # noqa: S608 - a constant table name
    return store.backend.run(lambda db: [d[0] for d in db.execute(sql).description])


def migrate(source_url: str | None, target_url: str | None, runs_dir) -> dict:
    """Copy every run, with its metrics, and every sweep with its trials, from one store into an empty one.

    The runs folder is then the target's.
    """
    source = Store(runs_dir, url=source_url)
    target = Store(runs_dir, url=target_url, check_folder=False)
    try:
        if source.where == target.where:
            raise StoreError("store migrate: --from and --to are the same store")
        held = target._read("SELECT COUNT(*) AS n FROM runs")[0]["n"]
        if held:
            raise StoreError(f"the target store {target.where} already holds {held} runs: migrate into an empty store")
        counts = {table: _copy(source, target, table) for table in COPIED}
        target.claim_runs_folder()
        return counts
    finally:
        source.close()
        target.close()


def _copy(source: Store, target: Store, table: str) -> int:
    """Rows of `table` in order (runs keep their queue order; seq is the target's own)."""
    keep = [c for c in _columns(source, table) if c in set(_columns(target, table)) and c != "seq"]
    rows = source._read(f"SELECT {', '.join(keep)} FROM {table} ORDER BY {COPIED[table]}")  # noqa: S608 - known columns
    sql = f"INSERT INTO {table} ({', '.join(keep)}) VALUES ({', '.join('?' * len(keep))})"  # noqa: S608
    for start in range(0, len(rows), COPY_CHUNK):
        chunk = [[row[c] for c in keep] for row in rows[start : start + COPY_CHUNK]]
        target._write(lambda db, chunk=chunk: db.executemany(sql, chunk))
    return len(rows)
