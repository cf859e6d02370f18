"""Sweep and LR-finder figures, and fANOVA importance: plain data in, the right traces out."""

from __future__ import annotations

import math

import numpy as np

from lib.charts import sweeps as charts
from lib.sweeps.importance import importances
from lib.sweeps.lr_finder import check_range
from lib.sweeps.space import SearchSpace
from lib.sweeps.strategy import Search, TrialRecord

SPACE = SearchSpace.parse(["learning_rate=1e-4:1e-1:log", "batch_size=32,64,128", "batchnorm=true,false"])


def rows():
    return [
        {"number": 0, "state": "complete", "value": 0.91, "learning_rate": 1e-3, "batch_size": 64, "batchnorm": True},
        {"number": 1, "state": "pruned", "value": 0.12, "learning_rate": 0.09, "batch_size": 32, "batchnorm": False},
        {"number": 2, "state": "running", "value": None, "learning_rate": 3e-4, "batch_size": 128, "batchnorm": True},
    ]


def test_parallel_coordinates_has_an_axis_per_setting_and_the_score():
    fig = charts.parallel_coordinates(SPACE, rows())
    (trace,) = fig.data
    assert trace.type == "parcoords"
    labels = [d.label for d in trace.dimensions]
    assert labels == ["learning_rate (log)", "batch_size", "batchnorm", "best val. accuracy"]
    lr, batch, bn, score = trace.dimensions
    assert list(lr.values) == [-3.0, math.log10(0.09)]  # the running trial has no score yet: left out
    assert list(batch.values) == [1, 0] and list(batch.ticktext) == ["32", "64", "128"]
    assert list(bn.ticktext) == ["on", "off"]
    assert list(score.values) == [0.91, 0.12]
    assert list(trace.line.color) == [0.91, 0.12]


def test_parallel_coordinates_with_nothing_finished_is_an_empty_chart_not_an_error():
    fig = charts.parallel_coordinates(SPACE, [])
    assert "no finished trial" in fig.layout.title.text


def test_history_marks_states_and_the_best_so_far():
    fig = charts.history(rows())
    names = [t.name for t in fig.data]
    assert names == ["complete", "pruned", "best so far"]
    assert list(fig.data[-1].y) == [0.91, 0.91]


def test_lr_finder_chart_has_a_log_axis_the_curves_and_the_suggestion():
    rates = check_range(1e-6, 1.0, 50).rates()
    losses = np.r_[np.linspace(2.3, 0.5, 45), [5.0, float("nan"), 1e6, 1e7, 1e8]]
    fig = charts.lr_finder(rates, losses, smoothed=list(losses[:45]), suggested=1e-3, min_loss_rate=1e-2)
    assert fig.layout.xaxis.type == "log"
    assert [t.name for t in fig.data] == ["loss per batch", "smoothed"]
    assert len(fig.data[0].x) == 49  # the NaN is left out
    assert fig.layout.yaxis.range[1] < 10  # the blow-up is clipped
    assert any("suggested 1.0e-03" in (a.text or "") for a in fig.layout.annotations)


def test_importance_names_the_setting_that_drives_the_score():
    search = Search(SPACE, "random", trials=16, seed=0)
    records = []
    while not search.done(records):
        record = search.propose(records)
        record.state = "complete"
        record.value = 0.95 - 0.1 * abs(math.log10(record.params["learning_rate"]) + 3)
        records.append(record)
    found = importances(search, records)
    assert max(found, key=found.get) == "learning_rate"
    assert math.isclose(sum(found.values()), 1.0)
    fig = charts.importance(found)
    assert list(fig.data[0].y)[-1] == "learning_rate"


def test_importance_is_empty_while_there_is_too_little_to_say():
    search = Search(SPACE, "random", trials=5)
    two = [
        TrialRecord(i, {"learning_rate": 1e-3 * (i + 1), "batch_size": 32, "batchnorm": True}, "complete", 0.9)
        for i in range(2)
    ]
    assert importances(search, two) == {}
    same = [
        TrialRecord(i, {"learning_rate": 1e-3 * (i + 1), "batch_size": 32, "batchnorm": True}, "complete", 0.9)
        for i in range(4)
    ]
    assert importances(search, same) == {}
