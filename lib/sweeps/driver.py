"""Driving a sweep: propose trials, queue them as ordinary runs, follow their epochs, prune, finish.

The driver holds nothing that matters in memory: each tick reads the sweep and
its trials from the store, follows every unfinished trial's run (its epoch rows
give the validation accuracy Optuna's pruner is fed), queues new trials while
fewer than `parallel` are unfinished, and writes back what changed. So any
process may drive a sweep (the command line, the app's background thread), one
at a time by the lease in the sweep record, and a driver killed at any moment is
replaced by the next one without losing or repeating a trial.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from lib.config import ConfigError
from lib.runs.store import UnknownRun
from lib.runs.submit import admit
from lib.sweeps.record import Sweep, SweepRecords, Trial, this_process
from lib.sweeps.strategy import TrialRecord

UNFINISHED = ("running", "pruning")
STOPPED_WITH_SWEEP = "Stopped with the sweep."
INTERRUPTED_RETRIES = 1  # a trial whose run the server lost is queued again (from its checkpoint) once


@dataclass(frozen=True)
class Event:
    """Something a person watching the sweep wants to hear about (the CLI prints one line each)."""

    kind: str  # "queued" | "waiting" | "complete" | "pruned" | "failed" | "done"
    trial: int | None
    run_id: str | None
    text: str


class SweepBusy(Exception):
    """Another live process drives this sweep."""


class Driver:
    def __init__(self, store, records: SweepRecords, sweep_id: str, policy=None, name: str | None = None):
        self.store, self.records, self.sweep_id = store, records, sweep_id
        self.policy = policy  # the administrator's limits (lib.runs.access.Policy); None: an open server
        self.name = name or this_process()
        self.events: list[Event] = []
        self.waiting: set[int] = set()  # trials the queue limit holds back (said once each)

    # -- the lease -----------------------------------------------------------------
    def claim(self) -> bool:
        return self.records.claim(self.sweep_id, self.name)

    def release(self) -> None:
        self.records.release(self.sweep_id, self.name)

    # -- one step --------------------------------------------------------------------
    def tick(self) -> str:
        """Follow, prune, queue, finish; return the sweep's state afterwards. Events land in self.events."""
        sweep = self.records.get(self.sweep_id)
        if not sweep.is_running:
            return sweep.state
        if not self.records.beat(self.sweep_id, self.name):
            raise SweepBusy(f"sweep {self.sweep_id} is now driven by {self.records.get(self.sweep_id).driver}")
        search = sweep.search()
        trials = self.records.trials(self.sweep_id)
        records = [t.record for t in trials]
        for trial in trials:
            if trial.state in UNFINISHED:
                self._follow(sweep, search, records, trial)
        unfinished = sum(1 for t in trials if t.state in UNFINISHED)
        while unfinished < sweep.spec.parallel and not search.done(records):
            trial = Trial(search.propose(records))
            if not self.records.add_trial(self.sweep_id, trial.record):
                break  # another driver recorded this number first: read again next tick
            records.append(trial.record)
            trials.append(trial)
            if not self._queue(sweep, trial):
                break  # the queue limit: this trial waits, recorded, and is queued on a later tick
            unfinished += 1
        if search.done(records) and not any(t.state in UNFINISHED for t in trials):
            best = search.best(records)
            self.records.finish(self.sweep_id, "completed")
            text = "no trial finished with a score"
            if best is not None:
                run = next(t.run_id for t in trials if t.number == best.number)
                text = f"best trial {best.number} (run {run}): validation accuracy {best.value:.4f}"
            self._say("done", None, None, text)
            return "completed"
        return "running"

    # -- a trial's run ------------------------------------------------------------------
    def _queue(self, sweep: Sweep, trial: Trial) -> bool:
        """Queue the run for a recorded trial; False if the server's queue limit says wait."""
        record = trial.record
        config = sweep.spec.space.apply(sweep.spec.base, record.params)
        config.extra = {**config.extra, "sweep": sweep.id, "trial": record.number}
        try:
            config = admit(self.store, config, sweep.owner, self.policy)
        except ConfigError as exc:
            if exc.field == "queue":
                if record.number not in self.waiting:
                    self.waiting.add(record.number)
                    text = f"trial {record.number} waits for room in the queue: {exc.message}"
                    self._say("waiting", record.number, None, text)
                return False
            self._end(trial, "fail", f"Refused by this server: {exc.message}")
            return True
        run_id = self.store.create_run(config, owner=sweep.owner)
        if not self.records.link_run(self.sweep_id, record.number, run_id):
            self.store.request_stop(run_id)  # another driver linked one first: this copy never trains
            return True
        trial.run_id = run_id
        settings = ", ".join(f"{k}={_show(v)}" for k, v in record.params.items())
        self._say("queued", record.number, run_id, f"trial {record.number} queued as run {run_id}: {settings}")
        return True

    def _follow(self, sweep: Sweep, search, records: list[TrialRecord], trial: Trial) -> None:
        record = trial.record
        if trial.run_id is None:
            self._queue(sweep, trial)  # recorded by a driver that died before queueing it
            return
        try:
            run = self.store.get(trial.run_id)
            epochs = self.store.epochs(trial.run_id)
        except UnknownRun:
            self._end(trial, "fail", f"Its run {trial.run_id} was deleted.")
            return
        seen = {
            int(e["epoch"]): float(e["val_accuracy"])
            for e in epochs
            if isinstance(e.get("val_accuracy"), int | float) and math.isfinite(e["val_accuracy"])
        }
        grew = seen != record.intermediate
        record.intermediate = seen
        if run.is_finished:
            self._finished(trial, run)
        elif record.state == "running" and grew and search.should_prune(records, record.number):
            record.state = "pruning"
            trial.reason = search.prune_reason(records, record.number)
            self.store.request_stop(trial.run_id)
            self.records.note_run(trial.run_id, trial.reason)
            self.records.save_trial(self.sweep_id, trial)
        elif grew:
            self.records.save_trial(self.sweep_id, trial)

    def _finished(self, trial: Trial, run) -> None:
        record = trial.record
        if run.status == "completed" and record.intermediate:
            record.value = max(record.intermediate.values())
            self._end(trial, "complete", None)
        elif run.status == "completed":
            self._end(trial, "fail", "It finished without a validation accuracy (is the validation split 0?).")
        elif record.state == "pruning":
            self._end(trial, "pruned", trial.reason)
        elif run.status == "interrupted" and record.system_attrs.get("requeued", 0) < INTERRUPTED_RETRIES:
            record.system_attrs["requeued"] = record.system_attrs.get("requeued", 0) + 1
            if self.store.requeue(run.id):  # it carries on from its last saved epoch
                self.records.save_trial(self.sweep_id, trial)
                return
            self._end(trial, "fail", run.error or "Its run was interrupted.")
        else:
            self._end(trial, "fail", run.error or f"Its run was {run.status}.")

    def _end(self, trial: Trial, state: str, reason: str | None) -> None:
        trial.record.state, trial.reason = state, reason
        self.records.save_trial(self.sweep_id, trial)
        n = trial.number
        if state == "complete":
            text = f"trial {n} complete: best validation accuracy {trial.record.value:.4f} (run {trial.run_id})"
        elif state == "pruned":
            text = f"trial {n} pruned (run {trial.run_id}): {reason}"
        else:
            text = f"trial {n} failed (run {trial.run_id}): {reason}"
        self._say({"complete": "complete", "pruned": "pruned"}.get(state, "failed"), n, trial.run_id, text)

    def _say(self, kind: str, trial: int | None, run_id: str | None, text: str) -> None:
        self.events.append(Event(kind, trial, run_id, text))

    def take_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events


# -- whole sweeps ----------------------------------------------------------------------
def stop_sweep(store, records: SweepRecords, sweep_id: str) -> int:
    """Stop a sweep and every trial it has queued or running; returns how many runs were asked to stop."""
    records.finish(sweep_id, "stopped")
    stopped = 0
    for trial in records.trials(sweep_id):
        if trial.state not in UNFINISHED:
            continue
        if trial.run_id and store.request_stop(trial.run_id):
            stopped += 1
        trial.record.state = "fail"
        trial.reason = STOPPED_WITH_SWEEP
        records.save_trial(sweep_id, trial)
    return stopped


def reopen_sweep(store, records: SweepRecords, sweep_id: str) -> list[str]:
    """Resume a stopped sweep: trials stopped with it carry on (their runs go back in the queue)."""
    records.reopen(sweep_id)
    requeued = []
    for trial in records.trials(sweep_id):
        if trial.state == "fail" and trial.reason == STOPPED_WITH_SWEEP and trial.run_id:
            run = store.get(trial.run_id)
            if run.is_finished and run.status != "completed" and not store.requeue(trial.run_id):
                continue
            trial.record.state, trial.reason = "running", None
            records.save_trial(sweep_id, trial)
            requeued.append(trial.run_id)
    return requeued


def drive(
    driver: Driver,
    scheduler=None,
    poll: float = 0.5,
    on_event: Callable[[Event], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Tick until the sweep ends (or should_stop() says so); with a scheduler, also start its queued runs."""
    if not driver.claim():
        holder = driver.records.get(driver.sweep_id)
        if not holder.is_running:
            return holder.state
        raise SweepBusy(f"sweep {driver.sweep_id} is being driven by {holder.driver}; wait for it or stop it")
    try:
        while True:
            if scheduler is not None:
                scheduler.tick()
            state = driver.tick()
            for event in driver.take_events():
                if on_event:
                    on_event(event)
            if state != "running" or (should_stop and should_stop()):
                return state
            time.sleep(poll)
    finally:
        driver.release()


def _show(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
