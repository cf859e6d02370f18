"""The sweep record: a sweep's settings, its trials and its state, kept in the run store.

The store (lib/runs/store_sweeps.py, schema version 3) keeps two tables beside its runs,
so a sweep lives exactly as long and as safely as its runs and moves with them
(`store migrate`, backups):

- `sweeps`: one row per sweep: its spec (base settings, search space, strategy,
  budget), its state, and a lease (`driver`, `heartbeat`) naming the one process
  that drives it now. A driver that dies stops renewing its lease; any other
  process may then take the sweep over and carry on.
- `sweep_trials`: one row per trial: the settings Optuna proposed, the run that
  trains them, the validation accuracy after each epoch, Optuna's bookkeeping,
  and why it ended when it ended early.

This module gives those rows their meaning (SweepSpec, Optuna's TrialRecord) and
decides when a silent driver may be replaced; it uses only the store's public API.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field

from lib.config import TrainConfig
from lib.runs.store_errors import StoreError
from lib.runs.store_rows import (  # noqa: F401 - re-exported: callers import them from here
    SWEEP_STATES,
    BadSweep,
    SweepRow,
    TrialRow,
    UnknownSweep,
    bad_sweep,
    check_sweep_id,
)
from lib.sweeps.space import SearchSpace
from lib.sweeps.strategy import Search, TrialRecord

LEASE_S = 15.0  # a driver silent this long is taken for dead
# a stored spec that is not what SweepSpec writes (damaged, hand-edited, from another version)
READ_ERRORS = (KeyError, TypeError, ValueError)  # ConfigError and SpaceError are ValueErrors


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

    def to_dict(self) -> dict:
        return {
            "base": self.base.to_dict(),
            "space": self.space.to_list(),
            "strategy": self.strategy,
            "pruner": self.pruner,
            "trials": self.trials,
            "seed": self.seed,
            "parallel": self.parallel,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> SweepSpec:
        return cls(
            base=TrainConfig.from_dict(data["base"]),
            space=SearchSpace.from_list(data["space"]),
            strategy=data["strategy"],
            pruner=data["pruner"],
            trials=data["trials"],
            seed=data["seed"],
            parallel=data["parallel"],
        )

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        return cls.from_dict(json.loads(text))


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
    """The sweeps of one run store, through its public sweep API (lib/runs/store_sweeps.py)."""

    store: object  # lib.runs.store.Store
    bad: list[BadSweep] = field(default_factory=list)  # sweeps the last listing could not read

    # -- sweeps --------------------------------------------------------------------
    def create(self, spec: SweepSpec, owner: str | None = None) -> str:
        spec.search()  # refuses a spec no driver could run, before anything is written
        return self.store.create_sweep(spec.to_dict(), owner=owner)

    def get(self, sweep_id: str) -> Sweep:
        row = self.store.get_sweep(sweep_id)
        try:
            return _to_sweep(row)
        except READ_ERRORS as exc:
            raise StoreError(self.store.bad_sweep_message(bad_sweep(row.id, exc))) from None

    def list(self, states=None) -> list[Sweep]:
        """Newest first. Sweeps that cannot be read are skipped and left in `self.bad` (to be said)."""
        sweeps = []
        rows = self.store.list_sweeps(states)
        self.bad = list(self.store.bad_sweeps)
        for row in rows:
            try:
                sweeps.append(_to_sweep(row))
            except READ_ERRORS as exc:
                self.bad.append(bad_sweep(row.id, exc))
        return sweeps

    def finish(self, sweep_id: str, state: str, error: str | None = None) -> bool:
        return self.store.finish_sweep(sweep_id, state, error)

    def reopen(self, sweep_id: str) -> bool:
        """A stopped or failed sweep runs again (resume): its finished trials stay as they are."""
        return self.store.reopen_sweep(sweep_id)

    # -- the lease: one driver at a time ---------------------------------------------
    def claim(self, sweep_id: str, driver: str, lease_s: float = LEASE_S) -> bool:
        """Become the sweep's driver if nobody is, it is us, or the last one fell silent."""
        current = self.store.get_sweep(sweep_id)
        if current.driver and current.driver != driver and not _driver_gone(current.driver):
            if current.heartbeat and time.time() - current.heartbeat < lease_s:
                return False
        return self.store.lease_sweep(sweep_id, driver, replacing=current.driver)

    def beat(self, sweep_id: str, driver: str) -> bool:
        """Renew the lease; False when another driver has taken the sweep over (or it ended)."""
        return self.store.renew_sweep_lease(sweep_id, driver)

    def release(self, sweep_id: str, driver: str) -> None:
        self.store.release_sweep(sweep_id, driver)

    # -- trials ------------------------------------------------------------------------
    def trials(self, sweep_id: str) -> list[Trial]:
        return [_to_trial(row) for row in self.store.sweep_trials(sweep_id)]

    def add_trial(self, sweep_id: str, record: TrialRecord) -> bool:
        """Record a newly proposed trial; False if that trial number is already taken."""
        return self.store.add_sweep_trial(_to_row(sweep_id, Trial(record)))

    def link_run(self, sweep_id: str, number: int, run_id: str) -> bool:
        return self.store.link_trial_run(sweep_id, number, run_id)

    def save_trial(self, sweep_id: str, trial: Trial) -> None:
        self.store.save_sweep_trial(_to_row(sweep_id, trial))

    def note_run(self, run_id: str, reason: str) -> None:
        """Say on the run itself why the sweep stopped it (the worker's own end keeps an earlier note)."""
        self.store.note_run_error(run_id, reason)

    def sweep_of_run(self, run_id: str) -> tuple[str, int] | None:
        """(sweep id, trial number) when the run is a sweep's trial."""
        return self.store.trial_of_run(run_id)


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


def _to_sweep(row: SweepRow) -> Sweep:
    return Sweep(
        id=row.id,
        created=row.created,
        state=row.state,
        spec=SweepSpec.from_dict(row.spec),
        owner=row.owner,
        driver=row.driver,
        heartbeat=row.heartbeat,
        finished=row.finished,
        error=row.error,
    )


def _to_trial(row: TrialRow) -> Trial:
    record = TrialRecord(
        number=row.number,
        params=dict(row.params),
        state=row.state,
        value=row.value,
        intermediate=dict(row.intermediate),
        system_attrs=dict(row.system_attrs),
    )
    return Trial(record, run_id=row.run_id, reason=row.reason)


def _to_row(sweep_id: str, trial: Trial) -> TrialRow:
    record = trial.record
    return TrialRow(
        sweep_id=sweep_id,
        number=record.number,
        params=record.params,
        state=record.state,
        run_id=trial.run_id,
        value=record.value,
        intermediate=record.intermediate,
        system_attrs=record.system_attrs,
        reason=trial.reason,
    )
