"""Search-space specs: parsing, limits, clear refusals, grids, Optuna distributions, JSON round-trip."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from lib.config import TrainConfig
from lib.sweeps.space import Dimension, SearchSpace, SpaceError, parse_dimension


def test_the_issue_example_parses_into_ranges_and_lists():
    space = SearchSpace.parse(["learning_rate=1e-4:1e-2:log", "batch_size=32,64,128", "dropout=0.1:0.5"])
    lr, batch, dropout = space.dimensions
    assert (lr.low, lr.high, lr.log) == (1e-4, 1e-2, True)
    assert batch.values == (32, 64, 128) and all(type(v) is int for v in batch.values)
    assert (dropout.low, dropout.high, dropout.log) == (0.1, 0.5, False)
    dists = space.distributions()
    assert dists["learning_rate"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["batch_size"] == CategoricalDistribution([32, 64, 128])
    assert dists["dropout"] == FloatDistribution(0.1, 0.5)


def test_integer_range_and_categorical_fields():
    assert parse_dimension("batch_size=16:256:log").distribution() == IntDistribution(16, 256, log=True)
    assert parse_dimension("optimizer=Adam,sgd").values == ("adam", "sgd")
    assert parse_dimension("batchnorm=true,off").values == (True, False)
    assert parse_dimension("model=lenet5,simple_cnn").name == "architecture"
    assert parse_dimension("lr=0.001,0.01").name == "learning_rate"
    assert parse_dimension("augment-zoom=0:0.2:linear").name == "augment_zoom"


@pytest.mark.parametrize(
    "spec, words",
    [
        ("learning_rate", "FIELD=SPEC"),
        ("learning_rate=", "no values"),
        ("colour=red,blue", "not a setting a sweep can vary"),
        ("epochs=1,2", "budget"),
        ("dataset=mnist,cifar10", "compared"),
        ("validation_split=0.1,0.2", "validation split"),
        ("seed=1,2", "fixed"),
        ("learning_rate=1e-4:1e-2:cubic", "LOW:HIGH"),
        ("learning_rate=1e-2:1e-4", "below its high end"),
        ("dropout=0:0.5:log", "above 0"),
        ("learning_rate=1e-4:5:log", "between 1e-06 and 1"),
        ("learning_rate=abc,0.1", "not a number"),
        ("learning_rate=nan:1", "finite"),
        ("dropout=0.1,,0.2", "empty value"),
        ("dropout=0.1,0.1", "listed twice"),
        ("batch_size=32.5,64", "whole number"),
        ("batch_size=0,64", "between 1 and 4096"),
        ("optimizer=adam:sgd", "list of values"),
        ("optimizer=adam,lion", "unknown value 'lion'"),
        ("architecture=resnet9000", "unknown value"),
        ("batchnorm=maybe", "not true or false"),
        ("dropout=" + ",".join(str(i / 100) for i in range(60)), "at most 50"),
    ],
)
def test_bad_specs_are_refused_with_a_message_naming_the_problem(spec, words):
    with pytest.raises(SpaceError, match=words):
        parse_dimension(spec)


def test_a_space_needs_dimensions_and_each_field_once():
    with pytest.raises(SpaceError, match="nothing varies"):
        SearchSpace.parse([])
    with pytest.raises(SpaceError, match="varied twice"):
        SearchSpace.parse(["lr=0.1,0.01", "learning_rate=1e-4:1e-2"])


def test_grid_enumerates_every_point_once_in_order():
    space = SearchSpace.parse(["learning_rate=0.001,0.01", "batch_size=32,64,128"])
    grid = space.grid()
    assert space.grid_size() == 6 and len(grid) == 6
    assert grid[0] == {"learning_rate": 0.001, "batch_size": 32}
    assert {(p["learning_rate"], p["batch_size"]) for p in grid} == {
        (lr, b) for lr in (0.001, 0.01) for b in (32, 64, 128)
    }


def test_a_grid_refuses_ranges_and_huge_grids():
    with pytest.raises(SpaceError, match="a grid needs a list of values for learning_rate"):
        SearchSpace.parse(["learning_rate=1e-4:1e-2:log", "batch_size=32,64"]).grid()
    eleven = ",".join(f"{i / 100:g}" for i in range(1, 12))
    big = SearchSpace.parse([f"dropout={eleven}", f"augment_shift={eleven}", f"augment_zoom={eleven}"])
    with pytest.raises(SpaceError, match="at most 1,000"):
        big.check_grid()


def test_apply_gives_a_valid_config_with_the_point_values():
    space = SearchSpace.parse(["learning_rate=1e-4:1e-2:log", "batch_size=32,64"])
    base = TrainConfig(dataset="mnist", architecture="lenet5", epochs=1)
    config = space.apply(base, {"learning_rate": 0.003, "batch_size": 64.0})
    assert config.learning_rate == 0.003 and config.batch_size == 64 and type(config.batch_size) is int
    assert config.architecture == "lenet5" and base.learning_rate == 1e-3  # the base is not changed
    with pytest.raises(SpaceError, match="not a dimension"):
        space.apply(base, {"dropout": 0.2})


def test_json_round_trip_and_hostile_stored_spaces():
    space = SearchSpace.parse(["learning_rate=1e-4:1e-2:log", "batch_size=32,64", "batchnorm=true,false"])
    again = SearchSpace.from_list(space.to_list())
    assert again.to_list() == space.to_list()
    assert again.distributions() == space.distributions()
    for bad in (
        "nope",
        [{"values": [1]}],
        [{"name": "dropout", "low": "a", "high": 1}],
        [{"name": "epochs", "values": [1]}],
    ):
        with pytest.raises(SpaceError):
            SearchSpace.from_list(bad)


def test_describe_reads_like_the_spec():
    assert Dimension("learning_rate", low=1e-4, high=1e-2, log=True).describe() == "learning_rate: 0.0001 to 0.01 (log)"
    assert parse_dimension("batch_size=32,64").describe() == "batch_size: 32, 64"
