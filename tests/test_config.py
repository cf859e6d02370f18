"""TrainConfig: defaults validate, bad values are refused naming the field, JSON round-trips."""

import pytest

from lib.config import LIMITS, ConfigError, TrainConfig


def test_defaults_are_valid_and_round_trip_through_json():
    config = TrainConfig(augment_rotation=10.0, extra={"preset": "x"}).validate()
    assert TrainConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("epochs", 2.5),
        ("batch_size", 0),
        ("batch_size", -8),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("dropout", 0.95),
        ("validation_split", 0.9),
        ("dataset", "imagenet"),
        ("architecture", "gpt"),
        ("optimizer", "lion"),
        ("batchnorm", "yes"),
        ("epochs", "5"),
        ("epochs", True),
    ],
)
def test_bad_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{field: value}).validate()
    assert err.value.field == field
    assert field in str(err.value)


def test_whole_floats_from_json_become_ints_and_unknown_keys_are_refused():
    assert TrainConfig.from_dict({"epochs": 5.0}).validate().epochs == 5
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({"epochz": 5})
    assert err.value.field == "epochz"
    with pytest.raises(ConfigError):
        TrainConfig.from_json("{not json")


def test_every_limit_has_a_valid_default_inside_it():
    defaults = TrainConfig()
    for name, (low, high) in LIMITS.items():
        assert low <= getattr(defaults, name) <= high, name
