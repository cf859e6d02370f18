"""Strategies and pruning over recorded trials: grid, random, TPE; median and Hyperband; rebuild = resume."""

from __future__ import annotations

import json
import math

import pytest

from lib.sweeps.space import SearchSpace, SpaceError
from lib.sweeps.strategy import Search, TrialRecord


def fake_accuracy(params: dict, epoch: int, epochs: int) -> float:
    """A made-up validation accuracy: best near lr 1e-3, rising with the epochs; lr 1.0 stays at chance."""
    if params["learning_rate"] >= 0.5:
        return 0.1
    best = 0.95 - 0.08 * abs(math.log10(params["learning_rate"]) + 3)
    return best * (0.7 + 0.3 * epoch / epochs)


def reloaded(records: list[TrialRecord]) -> list[TrialRecord]:
    """What a new process reads back from the store: JSON, nothing else."""
    return [TrialRecord.from_dict(json.loads(json.dumps(r.to_dict()))) for r in records]


def drive(search: Search, records=None, stop_after=None, reload_every_step=True) -> list[TrialRecord]:
    """Play a sweep to the end (or until `stop_after` trials), one trial at a time, as the driver will."""
    records = list(records or [])
    while not search.done(records) and (stop_after is None or len(records) < stop_after):
        record = search.propose(records)
        records.append(record)
        for epoch in range(1, search.epochs + 1):
            record.intermediate[epoch] = fake_accuracy(record.params, epoch, search.epochs)
            if search.should_prune(records, record.number):
                record.state = "pruned"
                break
        else:
            record.state, record.value = "complete", max(record.intermediate.values())
        if reload_every_step:
            records = reloaded(records)
    return records


def test_grid_runs_exactly_its_grid_each_point_once():
    space = SearchSpace.parse(["learning_rate=0.0001,0.001,0.01", "batch_size=32,64"])
    search = Search(space, "grid", epochs=1)
    assert search.trials == 6
    records = drive(search)
    points = sorted((r.params["learning_rate"], r.params["batch_size"]) for r in records)
    assert points == sorted((p["learning_rate"], p["batch_size"]) for p in space.grid())
    assert search.best(records).params["learning_rate"] == 0.001


def test_grid_resumed_mid_way_finishes_the_rest_without_repeats():
    space = SearchSpace.parse(["learning_rate=0.0001,0.001,0.01,0.1", "dropout=0.0,0.5"])
    search = Search(space, "grid", epochs=1, seed=3)
    first = drive(search, stop_after=3)
    rest = drive(Search(space, "grid", epochs=1, seed=3), records=reloaded(first))  # a new driver process
    assert len(rest) == 8
    assert len({(r.params["learning_rate"], r.params["dropout"]) for r in rest}) == 8
    assert [r.params for r in rest[:3]] == [r.params for r in first]


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_a_resumed_search_proposes_what_an_uninterrupted_one_would(strategy):
    space = SearchSpace.parse(["learning_rate=1e-5:1e-1:log", "batch_size=32,64,128"])

    def new():
        return Search(space, strategy, epochs=2, seed=7, trials=10)

    straight = drive(new(), reload_every_step=False)
    interrupted = drive(new(), stop_after=4)
    resumed = drive(new(), records=reloaded(interrupted))
    assert [r.params for r in resumed] == [r.params for r in straight]
    assert len({r.params["learning_rate"] for r in straight}) == 10  # no draw repeated


def test_random_draws_are_spread_over_a_log_range():
    space = SearchSpace.parse(["learning_rate=1e-5:1e-1:log"])
    records = drive(Search(space, "random", epochs=1, seed=0, trials=30))
    exponents = [math.log10(r.params["learning_rate"]) for r in records]
    assert all(-5 <= e <= -1 for e in exponents)
    assert min(exponents) < -4 and max(exponents) > -2  # log scale: small rates are drawn too


def test_tpe_concentrates_near_the_best_rate():
    space = SearchSpace.parse(["learning_rate=1e-6:1e-1:log"])
    records = drive(Search(space, "tpe", epochs=1, seed=0, trials=30))
    late = [abs(math.log10(r.params["learning_rate"]) + 3) for r in records[15:]]
    early = [abs(math.log10(r.params["learning_rate"]) + 3) for r in records[:8]]
    assert sum(late) / len(late) < sum(early) / len(early)


def test_median_pruning_stops_a_clearly_bad_trial_and_says_why():
    space = SearchSpace.parse(["learning_rate=0.001,0.002,1.0"])
    search = Search(space, "grid", pruner="median", epochs=3, seed=0)
    records = []
    for lr in (0.001, 0.002):
        records.append(TrialRecord(len(records), {"learning_rate": lr}, "complete"))
        records[-1].intermediate = {e: fake_accuracy({"learning_rate": lr}, e, 3) for e in (1, 2, 3)}
        records[-1].value = max(records[-1].intermediate.values())
    bad = TrialRecord(2, {"learning_rate": 1.0}, intermediate={1: 0.1})
    records.append(bad)
    assert search.should_prune(records, 2)
    reason = search.prune_reason(records, 2)
    assert "epoch 1" in reason and "0.1000" in reason and "median" in reason
    good = TrialRecord(2, {"learning_rate": 0.001}, intermediate={1: fake_accuracy({"learning_rate": 0.001}, 1, 3)})
    assert not search.should_prune([*records[:2], good], 2)


def test_no_pruning_before_two_finished_trials_or_after_the_last_epoch():
    space = SearchSpace.parse(["learning_rate=1e-4:1.0:log"])
    search = Search(space, "random", pruner="median", epochs=3, trials=5)
    lone = TrialRecord(0, {"learning_rate": 1.0}, intermediate={1: 0.1})
    assert not search.should_prune([lone], 0)
    finished = [TrialRecord(i, {"learning_rate": 1e-3}, "complete", 0.9, {1: 0.8, 2: 0.85, 3: 0.9}) for i in range(2)]
    at_end = TrialRecord(2, {"learning_rate": 1.0}, intermediate={1: 0.1, 2: 0.1, 3: 0.1})
    assert not search.should_prune([*finished, at_end], 2)


def test_hyperband_prunes_the_bad_trials_and_keeps_its_rungs_across_a_restart():
    space = SearchSpace.parse(["learning_rate=1e-4:1.0:log"])
    search = Search(space, "random", pruner="hyperband", epochs=9, seed=1, trials=24)
    records = drive(search)
    pruned = [r for r in records if r.state == "pruned"]
    assert pruned, "Hyperband pruned nothing"
    assert any(k.startswith("completed_rung_") for r in records for k in r.system_attrs)
    # the chance-level trials (lr >= 0.5) are the ones it stopped early, when there were any
    bad = [r for r in records if r.params["learning_rate"] >= 0.5]
    assert all(r.state == "pruned" or r.number < 3 for r in bad)


def test_refusals():
    ranges = SearchSpace.parse(["learning_rate=1e-4:1e-2:log"])
    grid = SearchSpace.parse(["batch_size=32,64"])
    with pytest.raises(SpaceError, match="strategy"):
        Search(ranges, "bayes", trials=3)
    with pytest.raises(SpaceError, match="pruner"):
        Search(ranges, "random", pruner="asha", trials=3)
    with pytest.raises(SpaceError, match="list of values"):
        Search(ranges, "grid")
    with pytest.raises(SpaceError, match="needs a number of trials"):
        Search(ranges, "tpe")
    with pytest.raises(SpaceError, match="between 1 and 500"):
        Search(ranges, "random", trials=0)
    with pytest.raises(SpaceError, match="between 1 and 2"):
        Search(grid, "grid", trials=3)
    with pytest.raises(SpaceError, match="at least 2 epochs"):
        Search(ranges, "random", pruner="median", epochs=1, trials=3)
    assert Search(grid, "grid", trials=1).trials == 1
    search = Search(grid, "grid")
    with pytest.raises(ValueError, match="trial numbers"):
        search.propose([TrialRecord(1, {"batch_size": 32})])
    with pytest.raises(ValueError, match="have been proposed"):
        search.propose([TrialRecord(i, {"batch_size": b}, "complete", 0.5) for i, b in enumerate((32, 64))])


def test_a_trial_finished_without_a_score_counts_as_failed_not_as_a_result():
    space = SearchSpace.parse(["learning_rate=1e-4:1e-2:log"])
    search = Search(space, "random", trials=3)
    records = [TrialRecord(0, {"learning_rate": 1e-3}, "complete", None)]
    assert search.best(records) is None
    assert search.study(records).trials[0].state.name == "FAIL"
