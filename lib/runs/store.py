"""The run store: the single source of truth for runs, their metrics and files.

SQLite in WAL mode (runs/convstudio.db) plus one folder per run (runs/<id>/).
WAL lets one writer per run and many readers in other processes work at once;
busy_timeout plus a retry with backoff rides over a store locked by another
process. Every status change is a guarded UPDATE (`WHERE status IN ...`), so two
processes can never both claim, finish or revive the same run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lib import settings
from lib.config import TrainConfig
from lib.runs.progress import BATCH_COLUMNS, EPOCH_COLUMNS, BatchRow, Progress

STATUSES = ("queued", "running", "stopping", "completed", "stopped", "failed", "interrupted")
ACTIVE = ("running", "stopping")
FINISHED = ("completed", "stopped", "failed", "interrupted")
RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    dataset TEXT NOT NULL,
    architecture TEXT NOT NULL,
    owner TEXT,
    parent_id TEXT,
    device TEXT,
    slot TEXT,
    pid INTEGER,
    progress TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    test_accuracy REAL,
    test_loss REAL,
    epochs_completed INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, seq);
CREATE TABLE IF NOT EXISTS batch_metrics (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    batch INTEGER NOT NULL,
    loss REAL,
    accuracy REAL,
    time REAL NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS epoch_metrics (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL,
    accuracy REAL,
    val_loss REAL,
    val_accuracy REAL,
    learning_rate REAL,
    images_per_second REAL,
    seconds REAL,
    extra TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, epoch)
);
"""

INSERT_BATCH = (
    f"INSERT OR REPLACE INTO batch_metrics (run_id, {', '.join(BATCH_COLUMNS)})"  # noqa: S608 - constants
    f" VALUES (?, {', '.join('?' * len(BATCH_COLUMNS))})"
)
INSERT_EPOCH = (
    f"INSERT OR REPLACE INTO epoch_metrics (run_id, {', '.join(EPOCH_COLUMNS)}, extra)"  # noqa: S608 - constants
    f" VALUES (?, {', '.join('?' * len(EPOCH_COLUMNS))}, ?)"
)


class UnknownRun(KeyError):
    """No run has this id (or the id is not a run id at all)."""

    def __str__(self):
        return f"no run {self.args[0]!r}"


@dataclass
class Run:
    id: str
    seq: int
    created: float
    status: str
    config: TrainConfig
    dataset: str
    architecture: str
    started: float | None = None
    finished: float | None = None
    owner: str | None = None
    parent_id: str | None = None
    device: str | None = None
    slot: str | None = None
    pid: int | None = None
    progress: Progress = field(default_factory=Progress)
    metrics: dict = field(default_factory=dict)
    test_accuracy: float | None = None
    test_loss: float | None = None
    epochs_completed: int = 0
    error: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration(self) -> float | None:
        if not self.started:
            return None
        return (self.finished or time.time()) - self.started


def default_runs_dir() -> str:
    return settings.runs_dir()


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check_run_id(run_id) -> str:
    """Run ids go into paths and queries: anything but the exact pattern is refused."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise UnknownRun(run_id)
    return run_id


class Store:
    def __init__(self, runs_dir: str | os.PathLike | None = None, retries: int = 8):
        self.root = Path(runs_dir or default_runs_dir()).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "convstudio.db"
        self.retries = retries
        self._local = threading.local()
        self._retry(lambda db: db.executescript(SCHEMA))

    # -- connection and retry ---------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():  # never share a connection across fork
            db = sqlite3.connect(self.db_path, timeout=5.0, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def _retry(self, action):
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                return action(self._connection())
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or attempt == self.retries:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _write(self, action):
        """Run `action(db)` in one IMMEDIATE transaction, retried while the store is locked."""

        def transaction(db):
            db.execute("BEGIN IMMEDIATE")
            try:
                result = action(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return self._retry(transaction)

    def _read(self, sql, args=()):
        return self._retry(lambda db: db.execute(sql, args).fetchall())

    # -- runs --------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / check_run_id(run_id)

    def create_run(self, config: TrainConfig, owner: str | None = None, parent_id: str | None = None) -> str:
        config.validate()
        run_id = new_run_id()
        self._write(
            lambda db: db.execute(
                "INSERT INTO runs (id, created, status, config, dataset, architecture, owner, parent_id)"
                " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (run_id, time.time(), config.to_json(), config.dataset, config.architecture, owner, parent_id),
            )
        )
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    def get(self, run_id: str) -> Run:
        rows = self._read("SELECT * FROM runs WHERE id = ?", (check_run_id(run_id),))
        if not rows:
            raise UnknownRun(run_id)
        return _to_run(rows[0])

    def list_runs(self, statuses=None, limit: int | None = None) -> list[Run]:
        sql, args = "SELECT * FROM runs", []
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args += list(statuses)
        sql += " ORDER BY seq DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_to_run(r) for r in self._read(sql, args)]

    def queue(self) -> list[Run]:
        """Queued runs, first to start first."""
        return [_to_run(r) for r in self._read("SELECT * FROM runs WHERE status = 'queued' ORDER BY seq")]

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when the run is not waiting."""
        ids = [r.id for r in self.queue()]
        return ids.index(run_id) + 1 if run_id in ids else None

    def active(self) -> list[Run]:
        return self.list_runs(ACTIVE)

    def claim_next(self, slots: list[str]) -> Run | None:
        """Atomically move the oldest queued run to running on a free slot (a GPU index or 'cpu').

        The check and the claim share one IMMEDIATE transaction, so schedulers in
        several processes (the app, the command line) never put two runs on one slot.
        """

        def claim(db):
            taken = set()
            for (slot,) in db.execute("SELECT slot FROM runs WHERE status IN ('running', 'stopping')"):
                taken.update((slot or "").split(","))  # a multi-GPU run holds "0,1,..."
            free = [s for s in slots if s not in taken]
            row = db.execute("SELECT id, config FROM runs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if not free or row is None:
                return None
            slot = free[0]
            if json.loads(row["config"]).get("multi_gpu") and len(slots) > 1:
                if len(free) < len(slots):
                    return None  # it waits for every GPU; runs behind it wait too, to keep the order
                slot = ",".join(slots)
            claimed = db.execute(
                "UPDATE runs SET status = 'running', started = COALESCE(started, ?), slot = ?, pid = NULL,"
                " error = NULL, progress = ? WHERE id = ? AND status = 'queued'",
                (time.time(), slot, Progress().to_json(), row["id"]),
            ).rowcount
            return row["id"] if claimed else None

        run_id = self._write(claim)
        return self.get(run_id) if run_id else None

    def set_pid(self, run_id: str, pid: int) -> None:
        self._write(lambda db: db.execute("UPDATE runs SET pid = ? WHERE id = ?", (pid, check_run_id(run_id))))

    def update_config(self, run_id: str, config: TrainConfig) -> None:
        config.validate()
        self._write(
            lambda db: db.execute("UPDATE runs SET config = ? WHERE id = ?", (config.to_json(), check_run_id(run_id)))
        )

    def set_device(self, run_id: str, device: str) -> None:
        self._write(lambda db: db.execute("UPDATE runs SET device = ? WHERE id = ?", (device, check_run_id(run_id))))

    def update_progress(
        self, run_id: str, progress: Progress, batch_rows: list[BatchRow] = (), epochs_completed=None
    ) -> None:
        """Progress and any batch metrics since the last call, in one transaction."""

        check_run_id(run_id)

        def write(db):
            db.execute("UPDATE runs SET progress = ? WHERE id = ?", (progress.to_json(), run_id))
            if epochs_completed is not None:
                db.execute("UPDATE runs SET epochs_completed = ? WHERE id = ?", (epochs_completed, run_id))
            db.executemany(
                INSERT_BATCH,
                [(run_id, *(getattr(row, c) for c in BATCH_COLUMNS)) for row in batch_rows],
            )

        self._write(write)

    def add_epoch(self, run_id: str, row: dict) -> None:
        known = {k: row.get(k) for k in EPOCH_COLUMNS}
        extra = json.dumps({k: v for k, v in row.items() if k not in EPOCH_COLUMNS})
        self._write(
            lambda db: db.execute(
                INSERT_EPOCH,
                (check_run_id(run_id), *known.values(), extra),
            )
        )

    def epochs(self, run_id: str) -> list[dict]:
        rows = self._read("SELECT * FROM epoch_metrics WHERE run_id = ? ORDER BY epoch", (check_run_id(run_id),))
        out = []
        for r in rows:
            d = {k: r[k] for k in EPOCH_COLUMNS}
            d.update(json.loads(r["extra"] or "{}"))
            out.append(d)
        return out

    def batches(self, run_id: str, since_step: int = -1, max_points: int | None = None) -> list[dict]:
        """Batch metrics after `since_step`; with max_points, evenly thinned so charts stay small."""
        rows = self._read(
            f"SELECT {', '.join(BATCH_COLUMNS)} FROM batch_metrics"  # noqa: S608 - constants
            " WHERE run_id = ? AND step > ? ORDER BY step",
            (check_run_id(run_id), since_step),
        )
        if max_points and len(rows) > max_points:
            stride = -(-len(rows) // max_points)
            rows = rows[::stride] + ([rows[-1]] if (len(rows) - 1) % stride else [])
        return [dict(r) for r in rows]

    def finish(self, run_id: str, status: str, error: str | None = None, **results) -> bool:
        """Move an active run to a final status; False if it had already finished."""
        if status not in FINISHED:
            raise ValueError(f"{status!r} is not a final status")
        sets, args = ["status = ?", "finished = ?", "error = COALESCE(?, error)"], [status, time.time(), error]
        for key in ("test_accuracy", "test_loss", "epochs_completed"):
            if key in results:
                sets.append(f"{key} = ?")
                args.append(results.pop(key))
        if results:
            sets.append("metrics = ?")
            args.append(json.dumps(results))
        args.append(check_run_id(run_id))
        changed = self._write(
            lambda db: (
                db.execute(
                    # the SET clause is built from constant column names only; values are bound
                    f"UPDATE runs SET {', '.join(sets)} WHERE id = ? AND status IN ('queued', 'running', 'stopping')",  # noqa: S608, E501
                    args,
                ).rowcount
            )
        )
        return bool(changed)

    def request_stop(self, run_id: str) -> bool:
        """Ask a run to stop: a queued run is stopped at once, an active one within a batch."""
        check_run_id(run_id)

        def stop(db):
            if db.execute(
                "UPDATE runs SET status = 'stopped', finished = ? WHERE id = ? AND status = 'queued'",
                (time.time(), run_id),
            ).rowcount:
                return True
            return bool(
                db.execute(
                    "UPDATE runs SET status = 'stopping' WHERE id = ? AND status = 'running'", (run_id,)
                ).rowcount
            )

        changed = self._write(stop)
        if changed:
            # a file the callback can test every batch for the price of one stat()
            self.stop_file(run_id).touch()
        return changed

    def stop_file(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "STOP"

    def requeue(self, run_id: str) -> bool:
        """Put a finished run back in the queue (resume after an interruption)."""
        check_run_id(run_id)
        self.stop_file(run_id).unlink(missing_ok=True)
        return bool(
            self._write(
                lambda db: (
                    db.execute(
                        "UPDATE runs SET status = 'queued', finished = NULL, error = NULL, pid = NULL,"
                        " seq = (SELECT MAX(seq) + 1 FROM runs) WHERE id = ? AND status IN"
                        " ('completed', 'stopped', 'failed', 'interrupted')",
                        (run_id,),
                    ).rowcount
                )
            )
        )

    def delete(self, run_id: str) -> None:
        """Delete a finished or queued run with its metrics and files; active runs must stop first."""
        run = self.get(run_id)
        if run.is_active:
            raise ValueError(f"run {run_id} is {run.status}; stop it before deleting")

        def remove(db):
            db.execute("DELETE FROM batch_metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM epoch_metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

        self._write(remove)
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def model_path(self, run_id: str, which: str = "model") -> Path:
        if which not in ("model", "best", "last"):
            raise ValueError(f"no model file {which!r}")
        return self.run_dir(run_id) / f"{which}.keras"


def _to_run(row: sqlite3.Row) -> Run:
    d = dict(row)
    d["config"] = TrainConfig.from_json(d["config"])
    d["progress"] = Progress.from_json(d["progress"])
    d["metrics"] = json.loads(d["metrics"] or "{}")
    return Run(**d)
