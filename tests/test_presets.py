"""Recipes: every preset is a valid config that builds, and says what it measured or why not."""

import pytest

from lib import presets
from lib.config import ConfigError
from lib.data import datasets
from lib.train import fit


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_every_preset_is_a_valid_config_that_builds(name):
    recipe = presets.get(name)
    config = recipe.config()
    assert config.dataset == name and config.extra["preset"] == name
    model = fit.build_model(config, datasets.info(name), steps_per_epoch=10)
    assert model.count_params() > 10_000
    assert recipe.summary.startswith(recipe.title) and ("%" in recipe.summary)


def test_overrides_apply_and_are_validated():
    config = presets.get("mnist").config(epochs=2, seed=7)
    assert (config.epochs, config.seed, config.architecture) == (2, 7, "vgg_small")
    with pytest.raises(ConfigError):
        presets.get("mnist").config(epochs=0)


def test_measured_figures_say_where_they_came_from_and_unmeasured_ones_say_so():
    for recipe in presets.PRESETS.values():
        if recipe.measured:
            assert {"accuracy", "minutes", "data", "machine", "date"} <= set(recipe.measured)
        else:
            assert "not measured" in recipe.summary
    assert presets.get("fashion_mnist").measured["accuracy"] >= presets.get("fashion_mnist").target
