"""The run store's tables and their versions, for SQLite and PostgreSQL alike.

A store records the schema version it was written with (SQLite: PRAGMA user_version;
PostgreSQL: a one-row schema_version table). Opening a store:
- a new, empty store is built by the same steps an old one is upgraded by, so every
  migration runs on every fresh store (and in every test);
- an older store is backed up first, then migrated in place, in one transaction;
- a store from a newer ConvStudio is refused: we would not know what its columns mean.
A store made before versions existed (user_version 0 with a runs table) is version 1.
Reading never depends on the exact columns (unknown ones are ignored), so a newer
minor addition or a hand-added column does not break listing.
"""

from __future__ import annotations

import time

from lib.runs.store_errors import StoreTooNew
from lib.runs.store_sql import Backend, Connection

# Version 1: the store as it was before versions were recorded.
V1 = """
CREATE TABLE IF NOT EXISTS runs (
    seq {seq},
    id TEXT UNIQUE NOT NULL,
    created {real} NOT NULL,
    started {real},
    finished {real},
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    dataset TEXT NOT NULL,
    architecture TEXT NOT NULL,
    owner TEXT,
    parent_id TEXT,
    device TEXT,
    slot TEXT,
    pid INTEGER,
    progress TEXT NOT NULL DEFAULT '{{}}',
    metrics TEXT NOT NULL DEFAULT '{{}}',
    test_accuracy {real},
    test_loss {real},
    epochs_completed INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, seq);
CREATE TABLE IF NOT EXISTS batch_metrics (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    batch INTEGER NOT NULL,
    loss {real},
    accuracy {real},
    time {real} NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS epoch_metrics (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    loss {real},
    accuracy {real},
    val_loss {real},
    val_accuracy {real},
    learning_rate {real},
    images_per_second {real},
    seconds {real},
    extra TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (run_id, epoch)
)
"""

# Version 2: liveness by heartbeat (any machine), where a run ran, which claim owns it,
# the scheduler's lease, and the store's identity (to check a node sees the same runs folder).
V2 = """
ALTER TABLE runs ADD COLUMN heartbeat {real};
ALTER TABLE runs ADD COLUMN claimed {real};
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN node TEXT;
ALTER TABLE runs ADD COLUMN gpu TEXT;
ALTER TABLE runs ADD COLUMN executor TEXT;
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires {real} NOT NULL,
    info TEXT NOT NULL DEFAULT '{{}}'
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""

# Version 3: sweeps (lib/sweeps) and their trials, each trial linked to the run that trains it.
# A store that a sweep already used before version 3 made these tables itself, with the same
# columns: IF NOT EXISTS keeps them and their rows.
V3 = """
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    created {real} NOT NULL,
    owner TEXT,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    driver TEXT,
    heartbeat {real},
    finished {real},
    error TEXT
);
CREATE TABLE IF NOT EXISTS sweep_trials (
    sweep_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    run_id TEXT,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    value {real},
    intermediate TEXT NOT NULL DEFAULT '{{}}',
    system_attrs TEXT NOT NULL DEFAULT '{{}}',
    reason TEXT,
    PRIMARY KEY (sweep_id, number)
);
CREATE INDEX IF NOT EXISTS sweep_trials_run ON sweep_trials(run_id)
"""

STEPS = (V1, V2, V3)  # STEPS[n - 1] takes a store from version n - 1 to version n
VERSION = len(STEPS)
TABLES = ("runs", "batch_metrics", "epoch_metrics", "leases", "meta", "sweeps", "sweep_trials")


def statements(step: str, backend: Backend) -> list[str]:
    sql = step.format(**backend.ddl_types)
    return [s.strip() for s in sql.split(";") if s.strip()]


def stored_version(backend: Backend, db: Connection) -> int:
    version = backend.read_version(db)
    if version == 0 and backend.has_table(db, "runs"):
        return 1
    return version


def too_new_message(where: str, version: int) -> str:
    return (
        f"the run store {where} was written by a newer ConvStudio (schema {version}; this one knows up to"
        f" {VERSION}): upgrade ConvStudio, or point --runs-dir / --store at another store"
    )


def upgrade(backend: Backend, backup) -> int | None:
    """Bring the store to VERSION. `backup(version)` is called before an existing store changes.

    Returns the version migrated from, or None when nothing had to change.
    """
    current = backend.run(lambda db: stored_version(backend, db))
    if current == VERSION:
        return None
    if current > VERSION:
        raise StoreTooNew(too_new_message(backend.where, current))
    if current > 0:
        backup(current)

    def migrate(db: Connection):
        db.lock("convstudio-schema")
        found = stored_version(backend, db)  # another process may have migrated meanwhile
        if found > VERSION:
            raise StoreTooNew(too_new_message(backend.where, found))
        for version in range(found + 1, VERSION + 1):
            for sql in statements(STEPS[version - 1], backend):
                db.execute(sql)
        if found < VERSION:
            backend.write_version(db, VERSION)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('migrated', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"{found}->{VERSION} at {time.strftime('%Y-%m-%d %H:%M:%S')}",),
            )
        return found

    return backend.run(migrate, write=True)
