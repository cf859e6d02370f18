"""The run store's sweep tables (schema version 3): sweeps, their trials and each trial's run.

A mixin of Store, so a sweep is written through the same connections, transactions
and retries as its runs, and is carried by `store migrate` and backups with them.
The store keeps the rows; lib/sweeps gives the spec and the trials their meaning.

Every state change is a guarded UPDATE (`WHERE state = ...`, `WHERE driver = ...`),
as for runs; trial numbers are the primary key, so two drivers can never record the
same trial twice.
"""

from __future__ import annotations

import json
import time

from lib.runs.store_errors import StoreError
from lib.runs.store_rows import (
    SWEEP_STATES,
    BadSweep,
    SweepRow,
    TrialRow,
    UnknownSweep,
    check_run_id,
    check_sweep_id,
    new_sweep_id,
    row_to_trial,
    try_row_to_sweep,
)


class SweepTables:
    """Sweep methods of Store (which provides _write, _read and where)."""

    bad_sweeps: list[BadSweep] = []  # rows the last listing had to skip (each listing sets its own list)

    # -- sweeps ----------------------------------------------------------------------
    def create_sweep(self, spec: dict, owner: str | None = None) -> str:
        """Record a new, running sweep of `spec` (a JSON-able object); returns its id."""
        sweep_id = new_sweep_id()
        text = json.dumps(spec, sort_keys=True)
        self._write(
            lambda db: db.execute(
                "INSERT INTO sweeps (id, created, owner, state, spec) VALUES (?, ?, ?, 'running', ?)",
                (sweep_id, time.time(), owner, text),
            )
        )
        return sweep_id

    def get_sweep(self, sweep_id: str) -> SweepRow:
        rows = self._read("SELECT * FROM sweeps WHERE id = ?", (check_sweep_id(sweep_id),))
        if not rows:
            raise UnknownSweep(sweep_id)
        sweep = try_row_to_sweep(rows[0])
        if isinstance(sweep, BadSweep):
            raise StoreError(self.bad_sweep_message(sweep))
        return sweep

    def bad_sweep_message(self, bad: BadSweep) -> str:
        return f"{bad} in the run store {self.where}: stop using it, or restore a backup"

    def list_sweeps(self, states=None) -> list[SweepRow]:
        """Newest first. Rows that cannot be read are skipped and left in `self.bad_sweeps`."""
        sql, args = "SELECT * FROM sweeps", []
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = list(states)
        sweeps, self.bad_sweeps = [], []
        for row in self._read(sql + " ORDER BY created DESC", args):
            sweep = try_row_to_sweep(row)
            (self.bad_sweeps if isinstance(sweep, BadSweep) else sweeps).append(sweep)
        return sweeps

    def finish_sweep(self, sweep_id: str, state: str, error: str | None = None) -> bool:
        """End a running sweep (its driver's lease with it); False if it had already ended."""
        if state not in SWEEP_STATES[1:]:
            raise ValueError(f"{state!r} is not a final sweep state")
        return self._changed(
            "UPDATE sweeps SET state = ?, finished = ?, error = COALESCE(?, error), driver = NULL"
            " WHERE id = ? AND state = 'running'",
            (state, time.time(), error, check_sweep_id(sweep_id)),
        )

    def reopen_sweep(self, sweep_id: str) -> bool:
        """A stopped or failed sweep runs again; its trials stay as they are."""
        return self._changed(
            "UPDATE sweeps SET state = 'running', finished = NULL, error = NULL"
            " WHERE id = ? AND state IN ('stopped', 'failed')",
            (check_sweep_id(sweep_id),),
        )

    # -- the driver's lease ------------------------------------------------------------
    def lease_sweep(self, sweep_id: str, driver: str, replacing: str | None = None) -> bool:
        """Make `driver` the running sweep's driver if it has none, is it already, or is `replacing`.

        The caller decides whether the current driver may be replaced (it fell silent).
        """
        return self._changed(
            "UPDATE sweeps SET driver = ?, heartbeat = ? WHERE id = ? AND state = 'running'"
            " AND (driver IS NULL OR driver = ? OR driver = ?)",
            (driver, time.time(), check_sweep_id(sweep_id), driver, replacing),
        )

    def renew_sweep_lease(self, sweep_id: str, driver: str) -> bool:
        """False when another driver has taken the sweep over (or it ended)."""
        return self._changed(
            "UPDATE sweeps SET heartbeat = ? WHERE id = ? AND driver = ? AND state = 'running'",
            (time.time(), check_sweep_id(sweep_id), driver),
        )

    def release_sweep(self, sweep_id: str, driver: str) -> None:
        self._changed("UPDATE sweeps SET driver = NULL WHERE id = ? AND driver = ?", (check_sweep_id(sweep_id), driver))

    # -- trials ------------------------------------------------------------------------
    def sweep_trials(self, sweep_id: str) -> list[TrialRow]:
        rows = self._read("SELECT * FROM sweep_trials WHERE sweep_id = ? ORDER BY number", (check_sweep_id(sweep_id),))
        return [row_to_trial(r) for r in rows]

    def add_sweep_trial(self, trial: TrialRow) -> bool:
        """Record a newly proposed trial; False if its number is already taken."""
        return self._changed(
            "INSERT INTO sweep_trials (sweep_id, number, params, state, system_attrs) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (sweep_id, number) DO NOTHING",
            (
                check_sweep_id(trial.sweep_id),
                int(trial.number),
                json.dumps(trial.params),
                trial.state,
                json.dumps(trial.system_attrs),
            ),
        )

    def link_trial_run(self, sweep_id: str, number: int, run_id: str) -> bool:
        """Name the run that trains a trial; False if the trial already has one."""
        return self._changed(
            "UPDATE sweep_trials SET run_id = ? WHERE sweep_id = ? AND number = ? AND run_id IS NULL",
            (check_run_id(run_id), check_sweep_id(sweep_id), int(number)),
        )

    def save_sweep_trial(self, trial: TrialRow) -> bool:
        """Write how a trial stands (state, scores, bookkeeping, reason); its run link is kept."""
        return self._changed(
            "UPDATE sweep_trials SET state = ?, value = ?, intermediate = ?, system_attrs = ?, reason = ?"
            " WHERE sweep_id = ? AND number = ?",
            (
                trial.state,
                trial.value,
                json.dumps({str(k): v for k, v in trial.intermediate.items()}),
                json.dumps(trial.system_attrs),
                trial.reason,
                check_sweep_id(trial.sweep_id),
                int(trial.number),
            ),
        )

    def trial_of_run(self, run_id: str) -> tuple[str, int] | None:
        """(sweep id, trial number) when the run trains a sweep's trial."""
        rows = self._read("SELECT sweep_id, number FROM sweep_trials WHERE run_id = ?", (check_run_id(run_id),))
        return (rows[0]["sweep_id"], rows[0]["number"]) if rows else None

    def note_run_error(self, run_id: str, reason: str) -> bool:
        """Say on a run why it was stopped from outside; a reason its worker recorded first is kept."""
        return self._changed("UPDATE runs SET error = COALESCE(error, ?) WHERE id = ?", (reason, check_run_id(run_id)))

    def _changed(self, sql: str, args) -> bool:
        return bool(self._write(lambda db: db.execute(sql, args).rowcount))
