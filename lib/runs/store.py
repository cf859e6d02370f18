"""The run store: the single source of truth for runs, their metrics and files.

One interface, two databases (store_url.py picks one): SQLite in WAL mode in the runs
folder (runs/convstudio.db; nothing to set up), or PostgreSQL for a team sharing the
work. Run files always live in one folder per run under the runs folder (runs/<id>/),
a shared filesystem when there are several machines.

Every status change is a guarded UPDATE (`WHERE status IN ...`), so two processes can
never both claim, finish or revive the same run; each claim numbers an `attempt`, and a
worker bound to an older attempt can no longer write. Faults (a locked, unwritable,
full, damaged or too-new store, an unreachable server) surface as one StoreError whose
message names the store and what to do; see store_errors.py.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path

from lib import settings
from lib.config import TrainConfig
from lib.runs import schema
from lib.runs.progress import BATCH_COLUMNS, EPOCH_COLUMNS, BatchRow, Progress
from lib.runs.store_errors import StoreDamaged, StoreError, WrongRunsFolder, damaged_message, translate
from lib.runs.store_rows import (  # noqa: F401 - re-exported: callers import them from here
    ACTIVE,
    FINISHED,
    STATUSES,
    BadRow,
    Run,
    UnknownRun,
    check_run_id,
    new_run_id,
    row_to_run,
    try_row_to_run,
)
from lib.runs.store_sql import SqliteBackend
from lib.runs.store_sweeps import SweepTables
from lib.runs.store_url import open_backend

MARKER = ".convstudio-store"  # in the runs folder: which store its runs belong to

UPSERT_BATCH = (
    f"INSERT INTO batch_metrics (run_id, {', '.join(BATCH_COLUMNS)})"  # noqa: S608 - constants
    f" VALUES (?, {', '.join('?' * len(BATCH_COLUMNS))}) ON CONFLICT (run_id, step) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in BATCH_COLUMNS if c != "step")
)
UPSERT_EPOCH = (
    f"INSERT INTO epoch_metrics (run_id, {', '.join(EPOCH_COLUMNS)}, extra)"  # noqa: S608 - constants
    f" VALUES (?, {', '.join('?' * len(EPOCH_COLUMNS))}, ?) ON CONFLICT (run_id, epoch) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*EPOCH_COLUMNS, "extra") if c != "epoch")
)
ACTIVE_SQL = "('running', 'stopping')"
LIVE_SQL = "('queued', 'running', 'stopping')"
BEAT = (
    "UPDATE runs SET heartbeat = ?, node = COALESCE(?, node), gpu = COALESCE(?, gpu), pid = COALESCE(?, pid)"
    " WHERE id = ? AND status IN ('running', 'stopping')"
)
MARK_LOST = (
    "UPDATE runs SET status = 'interrupted', finished = ?, error = ? WHERE id = ? AND status IN ('running', 'stopping')"
    " AND attempt = ? AND COALESCE(heartbeat, claimed, started, 0) < ?"
)
REQUEUE = (  # {next_seq}: the backend's way to the next queue number
    "UPDATE runs SET status = 'queued', finished = NULL, error = NULL, pid = NULL, heartbeat = NULL,"
    " seq = {next_seq} WHERE id = ? AND status IN ('completed', 'stopped', 'failed', 'interrupted')"
)


def default_runs_dir() -> str:
    return settings.runs_dir()


class Store(SweepTables):  # the sweep tables' methods live in store_sweeps.py
    def __init__(
        self,
        runs_dir: str | os.PathLike | None = None,
        url: str | None = None,
        wait_s: float | None = None,
        check: bool = True,
        check_folder: bool = True,
    ):
        self.root = Path(runs_dir or default_runs_dir()).resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise translate(exc, str(self.root)) from None
        self.url = url if url is not None else settings.store_url()
        self.backend = open_backend(self.url, self.root, **({} if wait_s is None else {"wait_s": wait_s}))
        self.where = self.backend.where
        self.db_path = self.backend.path if isinstance(self.backend, SqliteBackend) else None
        self.bad_rows: list[BadRow] = []  # rows the last listing had to skip
        self._attempts: dict[str, int] = {}  # run id -> the claim this process's worker holds
        try:
            if check:
                self.check_sound()
            self.migrated_from = schema.upgrade(self.backend, self._backup_before_migration)
            if check_folder:
                self._check_runs_folder()
        except BaseException:
            self.backend.close()  # a refused store leaves no connection (or pool thread) behind
            raise

    # -- plumbing ----------------------------------------------------------------
    def _write(self, action, wait_s: float | None = None):
        """`action(db)` in one write transaction, retried while the store is busy."""
        return self.backend.run(action, write=True, wait_s=wait_s)

    def _read(self, sql, args=()):
        return self.backend.run(lambda db: db.execute(sql, args).fetchall())

    def _guard(self, run_id: str, attempt: int | None = None) -> tuple[str, tuple]:
        """A WHERE fragment that only matches while the claim `attempt` (by default the one this
        process's worker holds) is still the run's latest."""
        attempt = self._attempts.get(run_id) if attempt is None else attempt
        if attempt is not None:
            return " AND attempt = ?", (attempt,)
        return "", ()

    def check_sound(self) -> None:
        """Refuse a damaged database at open, with what to do (SQLite's quick_check)."""
        if self.db_path is not None and not self.db_path.exists():
            return
        problems = self.backend.quick_check()
        if problems:
            raise StoreDamaged(damaged_message(self.where, problems[0]))

    def _backup_before_migration(self, version: int) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        if isinstance(self.backend, SqliteBackend):
            self.backend.backup_to(self.db_path.with_name(f"{self.db_path.name}.v{version}-{stamp}.bak"))
            return

        def copy(db):
            for table in schema.TABLES:
                if self.backend.has_table(db, table):
                    copy_name = f"backup_v{version}_{stamp.replace('-', '_')}_{table}"
                    db.execute(f"CREATE TABLE {copy_name} AS SELECT * FROM {table}")  # noqa: S608 - our names

        self._write(copy)

    def _check_runs_folder(self) -> None:
        """A node must see the runs folder the store's runs were written to (a shared filesystem).

        Only a database server can be reached from a machine that lacks the folder: a SQLite
        store lives in its runs folder (or names its file), so it needs no check.
        """
        if isinstance(self.backend, SqliteBackend):
            return
        marker = self.root / MARKER
        store_id = self.store_id()
        has_runs = self._read("SELECT 1 AS x FROM runs LIMIT 1") != []
        try:
            found = marker.read_text().strip() if marker.exists() else None
            if found is None and not has_runs:
                self.claim_runs_folder(store_id)
                return
        except OSError as exc:
            raise translate(exc, str(self.root)) from None
        if found != store_id:
            raise WrongRunsFolder(
                f"the runs folder {self.root} on this machine is not the one the store {self.where} keeps its runs in"
                f" ({'it has no ' + MARKER if found is None else 'it belongs to another store'}): mount the shared"
                " runs folder here (NFS or similar) and point --runs-dir / CONVSTUDIO_RUNS_DIR at it"
            )

    def store_id(self) -> str:
        """This store's identity, made on first use (a read after that: opening needs no write lock)."""
        rows = self._read("SELECT value FROM meta WHERE key = 'store_id'")
        if rows:
            return rows[0]["value"]

        def create(db):
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING",
                (secrets.token_hex(8),),
            )
            return db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()["value"]

        return self._write(create)

    def claim_runs_folder(self, store_id: str | None = None) -> None:
        """Mark the runs folder as this store's (store migrate does this for the new store)."""
        store_id = store_id or self.store_id()
        tmp = self.root / f"{MARKER}.{os.getpid()}.tmp"
        try:
            tmp.write_text(store_id + "\n")
            os.replace(tmp, self.root / MARKER)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise translate(exc, str(self.root)) from None

    def close(self) -> None:
        self.backend.close()

    # -- runs --------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / check_run_id(run_id)

    def create_run(self, config: TrainConfig, owner: str | None = None, parent_id: str | None = None) -> str:
        config.validate()
        run_id = new_run_id()
        try:
            self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise translate(exc, str(self.root)) from None
        self._write(
            lambda db: db.execute(
                "INSERT INTO runs (id, created, status, config, dataset, architecture, owner, parent_id)"
                " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (run_id, time.time(), config.to_json(), config.dataset, config.architecture, owner, parent_id),
            )
        )
        return run_id

    def get(self, run_id: str) -> Run:
        rows = self._read("SELECT * FROM runs WHERE id = ?", (check_run_id(run_id),))
        if not rows:
            raise UnknownRun(run_id)
        run = try_row_to_run(rows[0])
        if isinstance(run, BadRow):
            raise StoreError(f"{run} in the run store {self.where}: delete it or restore a backup")
        return run

    def _runs(self, sql: str, args=()) -> list[Run]:
        runs, self.bad_rows = [], []
        for row in self._read(sql, args):
            run = try_row_to_run(row)
            (self.bad_rows if isinstance(run, BadRow) else runs).append(run)
        return runs

    def list_runs(self, statuses=None, limit: int | None = None) -> list[Run]:
        """Newest first. Rows that cannot be read are skipped and left in `self.bad_rows`."""
        sql, args = "SELECT * FROM runs", []
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args += list(statuses)
        sql += " ORDER BY seq DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(int(limit))
        return self._runs(sql, args)

    def queue(self) -> list[Run]:
        """Queued runs, first to start first."""
        return self._runs("SELECT * FROM runs WHERE status = 'queued' ORDER BY seq")

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when the run is not waiting."""
        ids = [r["id"] for r in self._read("SELECT id FROM runs WHERE status = 'queued' ORDER BY seq")]
        return ids.index(run_id) + 1 if run_id in ids else None

    def active(self) -> list[Run]:
        return self.list_runs(ACTIVE)

    def claim_next(self, slots: list[str], node: str | None = None, executor: str = "local") -> Run | None:
        """Atomically move the oldest queued run to running on a free slot (a GPU index, 'cpu', a Ray place).

        Slots are per node for the local executor (two servers each have a GPU 0) and
        cluster-wide for Ray. The check and the claim share one transaction under one
        lock, so schedulers in several processes or machines never fill a slot twice.
        """
        node = node or settings.node_name()

        def claim(db):
            db.lock("convstudio-claim")
            taken = set()
            for row in db.execute(
                f"SELECT slot FROM runs WHERE status IN {ACTIVE_SQL} AND COALESCE(executor, 'local') = ?"  # noqa: S608
                " AND (? = 'ray' OR node = ? OR node IS NULL)",
                (executor, executor, node),
            ).fetchall():
                taken.update((row["slot"] or "").split(","))  # a multi-GPU run holds "0,1,..."
            free = [s for s in slots if s not in taken]
            row = db.execute("SELECT id, config FROM runs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if not free or row is None:
                return None
            slot = free[0]
            if _wants_all_gpus(row["config"]) and len(slots) > 1 and executor == "local":
                if len(free) < len(slots):
                    return None  # it waits for every GPU; runs behind it wait too, to keep the order
                slot = ",".join(slots)
            now = time.time()
            claimed = db.execute(
                "UPDATE runs SET status = 'running', started = COALESCE(started, ?), claimed = ?, heartbeat = NULL,"
                " attempt = attempt + 1, slot = ?, node = ?, gpu = NULL, executor = ?, pid = NULL, error = NULL,"
                " progress = ? WHERE id = ? AND status = 'queued'",
                (now, now, slot, node if executor == "local" else None, executor, Progress().to_json(), row["id"]),
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

    # -- the worker's side: liveness and progress -----------------------------------
    def bind_attempt(self, run_id: str, attempt: int) -> None:
        """From now on this process writes to the run only while `attempt` is still its latest claim."""
        self._attempts[check_run_id(run_id)] = int(attempt)

    def heartbeat(
        self, run_id: str, node: str | None = None, gpu: str | None = None, pid: int | None = None
    ) -> str | None:
        """Say the worker is alive (and where it runs). Returns the run's status, or None when the
        claim was lost (the run finished, or was given up on and claimed again): the worker must stop."""
        guard, guard_args = self._guard(check_run_id(run_id))

        sql = BEAT + guard

        def beat(db):
            changed = db.execute(sql, (time.time(), node, gpu, pid, run_id, *guard_args)).rowcount
            if not changed:
                return None
            return db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()["status"]

        return self._write(beat)

    def update_progress(
        self, run_id: str, progress: Progress, batch_rows: list[BatchRow] = (), epochs_completed=None
    ) -> None:
        """Progress and any batch metrics since the last call, in one transaction (also a heartbeat)."""
        guard, guard_args = self._guard(check_run_id(run_id))

        def write(db):
            if not db.execute(
                f"UPDATE runs SET progress = ?, heartbeat = ?, epochs_completed = COALESCE(?, epochs_completed)"  # noqa: S608
                f" WHERE id = ?{guard}",
                (progress.to_json(), time.time(), epochs_completed, run_id, *guard_args),
            ).rowcount:
                return  # a newer claim owns the run: this worker's rows would mix with its
            db.executemany(UPSERT_BATCH, [(run_id, *(getattr(row, c) for c in BATCH_COLUMNS)) for row in batch_rows])

        self._write(write)

    def add_epoch(self, run_id: str, row: dict) -> None:
        known = {k: row.get(k) for k in EPOCH_COLUMNS}
        extra = json.dumps({k: v for k, v in row.items() if k not in EPOCH_COLUMNS})
        self._write(lambda db: db.execute(UPSERT_EPOCH, (check_run_id(run_id), *known.values(), extra)))

    def epochs(self, run_id: str) -> list[dict]:
        rows = self._read("SELECT * FROM epoch_metrics WHERE run_id = ? ORDER BY epoch", (check_run_id(run_id),))
        out = []
        for r in rows:
            d = {k: r[k] for k in EPOCH_COLUMNS}
            try:
                extra = json.loads(r["extra"] or "{}")
            except ValueError:
                extra = {}
            d.update(extra if isinstance(extra, dict) else {})
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

    # -- endings ---------------------------------------------------------------------
    def finish(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        wait_s: float | None = None,
        attempt: int | None = None,
        **results,
    ) -> bool:
        """Move a live run to a final status; False if it had already finished (or was claimed again).

        A worker's own result waits longer for a locked store than a page does (wait_s): it
        must be recorded once the store is writable again, not lost. With `attempt`, only that
        claim of the run is ended (a scheduler reporting a worker it started, not a later one).
        """
        if status not in FINISHED:
            raise ValueError(f"{status!r} is not a final status")
        guard, guard_args = self._guard(check_run_id(run_id), attempt)
        sets, args = ["status = ?", "finished = ?", "error = COALESCE(?, error)"], [status, time.time(), error]
        for key in ("test_accuracy", "test_loss", "epochs_completed"):
            if key in results:
                sets.append(f"{key} = ?")
                args.append(results.pop(key))
        if results:
            sets.append("metrics = ?")
            args.append(json.dumps(results))
        # the SET clause is built from constant column names only; values are bound
        sql = f"UPDATE runs SET {', '.join(sets)} WHERE id = ? AND status IN {LIVE_SQL}{guard}"  # noqa: S608
        return bool(self._write(lambda db: db.execute(sql, (*args, run_id, *guard_args)).rowcount, wait_s=wait_s))

    def mark_lost(self, run_id: str, attempt: int, older_than: float, reason: str) -> bool:
        """Interrupt a run whose worker (claim `attempt`) has said nothing since `older_than`.

        Guarded by the attempt and the heartbeat itself, so a beat that lands meanwhile wins.
        """
        return bool(
            self._write(
                lambda db: (
                    db.execute(MARK_LOST, (time.time(), reason, check_run_id(run_id), attempt, older_than)).rowcount
                )
            )
        )

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
            # a file the callback can test every batch for the price of one stat(); a worker on
            # another machine also learns it from its heartbeat and makes the file there
            try:
                self.stop_file(run_id).touch()
            except OSError:
                pass  # the status alone still reaches the worker through its heartbeat
        return changed

    def stop_file(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "STOP"

    def requeue(self, run_id: str) -> bool:
        """Put a finished run back in the queue (resume after an interruption), last in line."""
        check_run_id(run_id)
        self.stop_file(run_id).unlink(missing_ok=True)
        return bool(
            self._write(lambda db: db.execute(REQUEUE.format(next_seq=self.backend.next_seq), (run_id,)).rowcount)
        )

    def delete(self, run_id: str) -> None:
        """Delete a finished or queued run with its metrics and files; active runs must stop first."""
        check_run_id(run_id)
        rows = self._read("SELECT status FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise UnknownRun(run_id)
        if rows[0]["status"] in ACTIVE:
            raise ValueError(f"run {run_id} is {rows[0]['status']}; stop it before deleting")

        def remove(db):
            db.execute("DELETE FROM batch_metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM epoch_metrics WHERE run_id = ?", (run_id,))
            db.execute(f"DELETE FROM runs WHERE id = ? AND status NOT IN {ACTIVE_SQL}", (run_id,))  # noqa: S608

        self._write(remove)
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def model_path(self, run_id: str, which: str = "model") -> Path:
        if which not in ("model", "best", "last"):
            raise ValueError(f"no model file {which!r}")
        return self.run_dir(run_id) / f"{which}.keras"

    # -- leases: one scheduler at a time per job ----------------------------------------
    def acquire_lease(self, name: str, holder: str, ttl_s: float, info: dict | None = None) -> bool:
        """Take or renew the lease `name` for `ttl_s` seconds; False while someone else holds it."""
        now = time.time()
        return bool(
            self._write(
                lambda db: (
                    db.execute(
                        "INSERT INTO leases (name, holder, expires, info) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires,"
                        " info = excluded.info WHERE leases.holder = excluded.holder OR leases.expires < ?",
                        (name, holder, now + ttl_s, json.dumps(info or {}), now),
                    ).rowcount
                )
            )
        )

    def release_lease(self, name: str, holder: str) -> None:
        self._write(lambda db: db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)))

    def leases(self) -> list[dict]:
        """Leases not yet expired: who runs which scheduler (the sidebar and `serve` show them)."""
        rows = self._read("SELECT * FROM leases WHERE expires >= ? ORDER BY name", (time.time(),))
        return [{**r, "info": json.loads(r["info"] or "{}")} for r in rows]


def _wants_all_gpus(config_text: str) -> bool:
    try:
        return bool(json.loads(config_text).get("multi_gpu"))
    except (ValueError, AttributeError):
        return False
