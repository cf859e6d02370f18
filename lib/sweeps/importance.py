"""Which settings mattered: Optuna's fANOVA importance over a sweep's finished trials."""

from __future__ import annotations

import json

import optuna

from lib.sweeps.strategy import Search, TrialRecord

MIN_TRIALS = 3  # fewer finished trials explain nothing


def importances(search: Search, records: list[TrialRecord]) -> dict[str, float]:
    """Setting -> share of the score's variance it explains (sums to 1); {} while there is too little to say.

    Only settings that actually took more than one value among the finished trials are weighed.
    """
    complete = [r for r in records if r.state == "complete" and r.value is not None]
    varied = [n for n in search.space.names if len({json.dumps(r.params.get(n)) for r in complete}) > 1]
    if len(complete) < MIN_TRIALS or not varied:
        return {}
    scores = {r.value for r in complete}
    if len(scores) == 1:
        return {}  # every trial scored the same: nothing to apportion
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    found = optuna.importance.get_param_importances(search.study(records), evaluator=evaluator, params=varied)
    return {name: float(value) for name, value in found.items()}
