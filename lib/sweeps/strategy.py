"""How a sweep picks its next trial and prunes poor ones: Optuna's samplers and pruners.

The sweep's own record of its trials is the truth, not an Optuna study: every
decision (the next trial's settings, whether to prune a running trial) rebuilds
an in-memory study from the recorded trials (`optuna.trial.create_trial` +
`study.add_trial`) and asks it. So a driver that was killed and started again
decides exactly as the first one would have, and never repeats a finished trial:

- samplers are seeded per trial number, so trial k's settings do not depend on
  how many processes the sweep took to get there;
- the grid sampler's `grid_id` and the Hyperband rungs live in each trial's
  system attributes, which are recorded and given back on every rebuild.

The objective is a trial's best validation accuracy (maximised); the pruners
are fed its validation accuracy after each epoch (step = epoch number).
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.trial import TrialState, create_trial

from lib.sweeps.space import SearchSpace, SpaceError

STRATEGIES = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "hyperband")
MAX_TRIALS = 500
# "pruning": the pruner said stop and the run was asked to; it is still running until it does
TRIAL_STATES = ("running", "pruning", "complete", "pruned", "fail")
_OPTUNA_STATE = {
    "running": TrialState.RUNNING,
    "pruning": TrialState.RUNNING,
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "fail": TrialState.FAIL,
}

optuna.logging.set_verbosity(logging.WARNING)  # a study per decision: Optuna's "study created" line each time


@dataclass
class TrialRecord:
    """One trial as the sweep records it (and gives back to Optuna on every rebuild)."""

    number: int
    params: dict
    state: str = "running"
    value: float | None = None  # best validation accuracy, once complete
    intermediate: dict[int, float] = field(default_factory=dict)  # epoch -> validation accuracy
    system_attrs: dict = field(default_factory=dict)  # the sampler's and pruner's bookkeeping

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "params": self.params,
            "state": self.state,
            "value": self.value,
            "intermediate": {str(k): v for k, v in self.intermediate.items()},
            "system_attrs": self.system_attrs,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TrialRecord:
        return cls(
            number=int(data["number"]),
            params=dict(data["params"]),
            state=data.get("state", "running"),
            value=data.get("value"),
            intermediate={int(k): float(v) for k, v in (data.get("intermediate") or {}).items()},
            system_attrs=dict(data.get("system_attrs") or {}),
        )


class Search:
    """A strategy and a pruner over a search space; stateless between calls (see the module doc)."""

    def __init__(
        self,
        space: SearchSpace,
        strategy: str = "random",
        pruner: str = "none",
        epochs: int = 1,
        seed: int = 0,
        name: str = "sweep",
        trials: int | None = None,
    ):
        if strategy not in STRATEGIES:
            raise SpaceError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
        if pruner not in PRUNERS:
            raise SpaceError(f"unknown pruner {pruner!r}; choose from {', '.join(PRUNERS)}")
        if strategy == "grid":
            space.check_grid()
        if pruner != "none" and epochs < 2:
            raise SpaceError("pruning stops trials between epochs: give each trial at least 2 epochs")
        self.space, self.strategy, self.pruner_name = space, strategy, pruner
        self.epochs, self.seed, self.name = epochs, seed, name
        self.trials = self._budget(trials)

    def _budget(self, trials: int | None) -> int:
        if self.strategy == "grid":
            size = self.space.grid_size()
            if trials is not None and not 1 <= trials <= size:
                raise SpaceError(f"the grid has {size} points: give --trials between 1 and {size}, or leave it out")
            return trials or size
        if trials is None:
            raise SpaceError(f"a {self.strategy} search needs a number of trials (--trials N)")
        if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
            raise SpaceError(f"the number of trials must be between 1 and {MAX_TRIALS}, got {trials!r}")
        return trials

    # -- Optuna objects, built fresh for each decision ---------------------------
    def sampler(self, number: int) -> optuna.samplers.BaseSampler:
        if self.strategy == "grid":
            return optuna.samplers.GridSampler(self.space.grid_values(), seed=self.seed)  # same order every time
        # trial k's own seed: its draw does not depend on how many processes came before. Hashed, as
        # neighbouring Mersenne Twister seeds give nearly the same first draws.
        seed = int(np.random.SeedSequence([self.seed, number]).generate_state(1)[0])
        if self.strategy == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        startup = max(2, min(10, self.trials // 3))  # random first, then TPE, also in short searches
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)

    def pruner(self) -> optuna.pruners.BasePruner:
        if self.pruner_name == "median":
            # 2 finished trials set the bar; from epoch 1 on, a trial below the median at the same epoch stops
            return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
        if self.pruner_name == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=self.epochs, reduction_factor=3)
        return optuna.pruners.NopPruner()

    def study(self, records: list[TrialRecord], number: int | None = None) -> optuna.Study:
        """An in-memory study holding the recorded trials, in number order."""
        numbers = sorted(r.number for r in records)
        if numbers != list(range(len(records))):
            raise ValueError(f"trial numbers must run 0..{len(records) - 1}, got {numbers}")
        study = optuna.create_study(
            study_name=self.name,  # Hyperband places trials in brackets by study name and trial number
            direction="maximize",
            sampler=self.sampler(len(records) if number is None else number),
            pruner=self.pruner(),
        )
        distributions = self.space.distributions()
        for record in sorted(records, key=lambda r: r.number):
            study.add_trial(_frozen(record, distributions))
        return study

    # -- decisions -------------------------------------------------------------
    def done(self, records: list[TrialRecord]) -> bool:
        return len(records) >= self.trials

    def propose(self, records: list[TrialRecord]) -> TrialRecord:
        """The next trial (number len(records)): its settings from the sampler, its bookkeeping."""
        if self.done(records):
            raise ValueError(f"all {self.trials} trials have been proposed")
        study = self.study(records)
        trial = study.ask(self.space.distributions())
        frozen = study.get_trials(deepcopy=False)[trial.number]
        return TrialRecord(trial.number, dict(trial.params), system_attrs=_jsonable(frozen.system_attrs))

    def should_prune(self, records: list[TrialRecord], number: int) -> bool:
        """Whether the running trial `number`, with the epochs recorded so far, should stop.

        The pruner may note things in the trial's system attributes (Hyperband's rungs):
        they are copied back into the record, which the caller saves.
        """
        record = _by_number(records, number)
        if record.state != "running" or not record.intermediate or self.pruner_name == "none":
            return False
        if max(record.intermediate) >= self.epochs:
            return False  # its last epoch is done: nothing left to save
        study = self.study(records, number)
        frozen = study.get_trials(deepcopy=False)[number]
        prune = study.pruner.prune(study, frozen)
        record.system_attrs = _jsonable(study.get_trials(deepcopy=False)[number].system_attrs)
        return bool(prune)

    def prune_reason(self, records: list[TrialRecord], number: int) -> str:
        """A sentence for the run's record: what the trial scored against the others at that epoch."""
        record = _by_number(records, number)
        epoch = max(record.intermediate)
        mine = record.intermediate[epoch]
        finished = [r.intermediate[epoch] for r in records if r.state == "complete" and epoch in r.intermediate]
        if self.pruner_name == "median" and finished:
            return (
                f"Pruned by the sweep after epoch {epoch}: validation accuracy {mine:.4f},"
                f" below the median {statistics.median(finished):.4f} of finished trials at that epoch."
            )
        return f"Pruned by the sweep ({self.pruner_name}) after epoch {epoch}: validation accuracy {mine:.4f}."

    def best(self, records: list[TrialRecord]) -> TrialRecord | None:
        complete = [r for r in records if r.state == "complete" and r.value is not None]
        return max(complete, key=lambda r: (r.value, -r.number)) if complete else None


# -- helpers -----------------------------------------------------------------
def _frozen(record: TrialRecord, distributions: dict) -> optuna.trial.FrozenTrial:
    if record.state not in _OPTUNA_STATE:
        raise ValueError(f"trial {record.number}: unknown state {record.state!r}")
    state = _OPTUNA_STATE[record.state]
    value = record.value if state == TrialState.COMPLETE else None
    if state == TrialState.COMPLETE and value is None:
        state = TrialState.FAIL  # finished without a validation score: tells the sampler nothing
    return create_trial(
        state=state,
        value=value,
        params=record.params,
        distributions={k: distributions[k] for k in record.params},
        intermediate_values=dict(record.intermediate),
        system_attrs=dict(record.system_attrs),
    )


def _by_number(records: list[TrialRecord], number: int) -> TrialRecord:
    for record in records:
        if record.number == number:
            return record
    raise ValueError(f"no trial {number}")


def _jsonable(attrs: dict) -> dict:
    """Keep what survives a JSON round-trip (all Optuna's samplers and pruners here store)."""
    return json.loads(json.dumps(attrs, default=lambda o: None))
