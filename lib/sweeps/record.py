"""The sweep record: a sweep's settings, its trials and its state, in the run store.

Two tables beside the store's own, written through the store's connection and
retry helpers, so a sweep lives exactly as long and as safely as its runs:

- `sweeps`: one row per sweep: its spec (base settings, search space, strategy,
  budget) as JSON, its state, and a lease (`driver`, `heartbeat`) naming the one
  process that drives it now. A driver that dies stops renewing its lease; any
  other process may then take the sweep over and carry on.
- `sweep_trials`: one row per trial: the settings Optuna proposed, the run that
  trains them, the validation accuracy after each epoch, Optuna's bookkeeping,
  and why it ended when it ended early. Trial numbers are the primary key, so two
  drivers can never record the same trial twice.

Every state change is a guarded UPDATE (`WHERE state = ...`), as in the store.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass

from lib.config import TrainConfig
from lib.sweeps.space import SearchSpace
from lib.sweeps.strategy import Search, TrialRecord

SWEEP_STATES = ("running", "completed", "stopped", "failed")
SWEEP_ID = re.compile(r"^sw-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
LEASE_S = 15.0  # a driver silent this long is taken for dead

# Plain DDL that SQLite and PostgreSQL both take (DOUBLE PRECISION: REAL is 4 bytes in PostgreSQL),
# one statement at a time through the store's own write helper.
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    created DOUBLE PRECISION NOT NULL,
    owner TEXT,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    driver TEXT,
    heartbeat DOUBLE PRECISION,
    finished DOUBLE PRECISION,
    error TEXT
)""",
    """CREATE TABLE IF NOT EXISTS sweep_trials (
    sweep_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    run_id TEXT,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    value DOUBLE PRECISION,
    intermediate TEXT NOT NULL DEFAULT '{}',
    system_attrs TEXT NOT NULL DEFAULT '{}',
    reason TEXT,
    PRIMARY KEY (sweep_id, number)
)""",
    "CREATE INDEX IF NOT EXISTS sweep_trials_run ON sweep_trials(run_id)",
)


class UnknownSweep(KeyError):
    """No sweep has this id (or the id is not a sweep id at all)."""

    def __str__(self):
        return f"no sweep {self.args[0]!r}"


def check_sweep_id(sweep_id) -> str:
    if not isinstance(sweep_id, str) or not SWEEP_ID.match(sweep_id):
        raise UnknownSweep(sweep_id)
    return sweep_id


def new_sweep_id() -> str:
    return "sw-" + time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def this_process() -> str:
    """How a driver names itself in the lease: host and pid, so a dead local driver is recognised at once."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep searches and how: everything needed to drive it from scratch in a new process."""

    base: TrainConfig  # the settings every trial starts from (epochs = each trial's budget)
    space: SearchSpace
    strategy: str = "random"
    pruner: str = "none"
    trials: int | None = None  # None: the whole grid
    seed: int = 0
    parallel: int = 1  # trials queued or training at once

    def search(self, name: str = "sweep") -> Search:
        return Search(
            self.space, self.strategy, self.pruner, self.base.epochs, self.seed, name=name, trials=self.trials
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "base": self.base.to_dict(),
                "space": self.space.to_list(),
                "strategy": self.strategy,
                "pruner": self.pruner,
                "trials": self.trials,
                "seed": self.seed,
                "parallel": self.parallel,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        data = json.loads(text)
        return cls(
            base=TrainConfig.from_dict(data["base"]),
            space=SearchSpace.from_list(data["space"]),
            strategy=data["strategy"],
            pruner=data["pruner"],
            trials=data["trials"],
            seed=data["seed"],
            parallel=data["parallel"],
        )


@dataclass
class Sweep:
    id: str
    created: float
    state: str
    spec: SweepSpec
    owner: str | None = None
    driver: str | None = None
    heartbeat: float | None = None
    finished: float | None = None
    error: str | None = None

    @property
    def is_running(self) -> bool:
        return self.state == "running"

    def search(self) -> Search:
        return self.spec.search(self.id)  # the sweep id is the study name (Hyperband's brackets use it)


@dataclass
class Trial:
    """A trial as recorded: Optuna's view (record) plus the run that trains it and why it ended early."""

    record: TrialRecord
    run_id: str | None = None
    reason: str | None = None

    @property
    def number(self) -> int:
        return self.record.number

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def best(self) -> float | None:
        """The best validation accuracy so far (the value once complete)."""
        if self.record.value is not None:
            return self.record.value
        return max(self.record.intermediate.values()) if self.record.intermediate else None


@dataclass
class SweepRecords:
    """The sweep tables of one run store."""

    store: object  # lib.runs.store.Store

    def __post_init__(self):
        for statement in SCHEMA:
            self.store._write(lambda db, sql=statement: db.execute(sql))

    # -- sweeps --------------------------------------------------------------------
    def create(self, spec: SweepSpec, owner: str | None = None) -> str:
        spec.search()  # refuses a spec no driver could run, before anything is written
        sweep_id = new_sweep_id()
        self.store._write(
            lambda db: db.execute(
                "INSERT INTO sweeps (id, created, owner, state, spec) VALUES (?, ?, ?, 'running', ?)",
                (sweep_id, time.time(), owner, spec.to_json()),
            )
        )
        return sweep_id

    def get(self, sweep_id: str) -> Sweep:
        rows = self.store._read("SELECT * FROM sweeps WHERE id = ?", (check_sweep_id(sweep_id),))
        if not rows:
            raise UnknownSweep(sweep_id)
        return _to_sweep(rows[0])

    def list(self, states=None) -> list[Sweep]:
        sql, args = "SELECT * FROM sweeps", []
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = list(states)
        return [_to_sweep(r) for r in self.store._read(sql + " ORDER BY created DESC", args)]

    def finish(self, sweep_id: str, state: str, error: str | None = None) -> bool:
        if state not in SWEEP_STATES[1:]:
            raise ValueError(f"{state!r} is not a final sweep state")
        return self._changed(
            "UPDATE sweeps SET state = ?, finished = ?, error = COALESCE(?, error), driver = NULL"
            " WHERE id = ? AND state = 'running'",
            (state, time.time(), error, check_sweep_id(sweep_id)),
        )

    def reopen(self, sweep_id: str) -> bool:
        """A stopped or failed sweep runs again (resume): its finished trials stay as they are."""
        return self._changed(
            "UPDATE sweeps SET state = 'running', finished = NULL, error = NULL"
            " WHERE id = ? AND state IN ('stopped', 'failed')",
            (check_sweep_id(sweep_id),),
        )

    # -- the lease: one driver at a time ---------------------------------------------
    def claim(self, sweep_id: str, driver: str, lease_s: float = LEASE_S) -> bool:
        """Become the sweep's driver if nobody is, it is us, or the last one fell silent."""
        now = time.time()
        current = self.get(sweep_id)
        if current.driver and current.driver != driver and not _driver_gone(current.driver):
            if current.heartbeat and now - current.heartbeat < lease_s:
                return False
        return self._changed(
            "UPDATE sweeps SET driver = ?, heartbeat = ? WHERE id = ? AND state = 'running'"
            " AND (driver IS NULL OR driver = ? OR driver = ?)",
            (driver, now, sweep_id, driver, current.driver),
        )

    def beat(self, sweep_id: str, driver: str) -> bool:
        """Renew the lease; False when another driver has taken the sweep over (or it ended)."""
        return self._changed(
            "UPDATE sweeps SET heartbeat = ? WHERE id = ? AND driver = ? AND state = 'running'",
            (time.time(), check_sweep_id(sweep_id), driver),
        )

    def release(self, sweep_id: str, driver: str) -> None:
        self._changed("UPDATE sweeps SET driver = NULL WHERE id = ? AND driver = ?", (sweep_id, driver))

    # -- trials ------------------------------------------------------------------------
    def trials(self, sweep_id: str) -> list[Trial]:
        rows = self.store._read(
            "SELECT * FROM sweep_trials WHERE sweep_id = ? ORDER BY number", (check_sweep_id(sweep_id),)
        )
        return [_to_trial(r) for r in rows]

    def add_trial(self, sweep_id: str, record: TrialRecord) -> bool:
        """Record a newly proposed trial; False if that trial number is already taken."""
        return self._changed(
            "INSERT INTO sweep_trials (sweep_id, number, params, state, system_attrs) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (sweep_id, number) DO NOTHING",
            (
                check_sweep_id(sweep_id),
                record.number,
                json.dumps(record.params),
                record.state,
                json.dumps(record.system_attrs),
            ),
        )

    def link_run(self, sweep_id: str, number: int, run_id: str) -> bool:
        return self._changed(
            "UPDATE sweep_trials SET run_id = ? WHERE sweep_id = ? AND number = ? AND run_id IS NULL",
            (run_id, check_sweep_id(sweep_id), number),
        )

    def save_trial(self, sweep_id: str, trial: Trial) -> None:
        record = trial.record
        self._changed(
            "UPDATE sweep_trials SET state = ?, value = ?, intermediate = ?, system_attrs = ?, reason = ?"
            " WHERE sweep_id = ? AND number = ?",
            (
                record.state,
                record.value,
                json.dumps({str(k): v for k, v in record.intermediate.items()}),
                json.dumps(record.system_attrs),
                trial.reason,
                check_sweep_id(sweep_id),
                record.number,
            ),
        )

    def note_run(self, run_id: str, reason: str) -> None:
        """Say on the run itself why the sweep stopped it (the worker's own end keeps an earlier note)."""
        self._changed("UPDATE runs SET error = COALESCE(error, ?) WHERE id = ?", (reason, run_id))

    def sweep_of_run(self, run_id: str) -> tuple[str, int] | None:
        """(sweep id, trial number) when the run is a sweep's trial."""
        rows = self.store._read("SELECT sweep_id, number FROM sweep_trials WHERE run_id = ?", (run_id,))
        return (rows[0]["sweep_id"], rows[0]["number"]) if rows else None

    # -- helpers -------------------------------------------------------------------------
    def _changed(self, sql: str, args) -> bool:
        return bool(self.store._write(lambda db: db.execute(sql, args).rowcount))


def _driver_gone(driver: str) -> bool:
    """A driver on this host whose process has ended: no need to wait for its lease to run out."""
    host, _, pid = driver.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _to_sweep(row) -> Sweep:
    d = dict(row)
    d["spec"] = SweepSpec.from_json(d["spec"])
    return Sweep(**d)


def _to_trial(row) -> Trial:
    record = TrialRecord.from_dict(
        {
            "number": row["number"],
            "params": json.loads(row["params"]),
            "state": row["state"],
            "value": row["value"],
            "intermediate": json.loads(row["intermediate"] or "{}"),
            "system_attrs": json.loads(row["system_attrs"] or "{}"),
        }
    )
    return Trial(record, run_id=row["run_id"], reason=row["reason"])
