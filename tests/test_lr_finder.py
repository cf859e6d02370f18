"""The learning-rate finder's maths: the ramp, smoothing, divergence, the suggestion and its refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lib.sweeps.lr_finder import (
    Divergence,
    LRFinderError,
    check_range,
    divergence_index,
    smooth,
    smooth_centred,
    smoothing_for,
    suggest,
)


def range_test_curve(rates, steepest_at=1e-3, blows_up_at=0.3, noise=0.05, seed=0):
    """A loss curve shaped like a real range test: flat, a fast fall centred on `steepest_at`, then a blow-up."""
    x = np.log10(rates)
    fall = 2.3 - 2.0 / (1 + np.exp(-3.0 * (x - math.log10(steepest_at))))
    blow = np.where(rates > blows_up_at, np.exp(4.0 * (x - math.log10(blows_up_at))) - 1, 0.0)
    return fall + blow + np.random.default_rng(seed).normal(0, noise, len(rates))


def test_the_ramp_is_exponential_from_start_to_end():
    ramp = check_range(1e-6, 1.0, 121)
    assert ramp.rate(0) == pytest.approx(1e-6) and ramp.rate(120) == pytest.approx(1.0)
    assert ramp.rate(60) == pytest.approx(1e-3)  # the middle batch, the middle decade
    assert ramp.rate(500) == pytest.approx(1.0)  # past the end it stays at the end
    assert np.allclose(ramp.rates()[::20], [ramp.rate(i) for i in range(0, 121, 20)])
    assert ramp.decades == pytest.approx(6)


@pytest.mark.parametrize(
    "start, end, steps, words",
    [
        (0.0, 1.0, 100, "between 1e-08 and 10"),
        (-1e-3, 1.0, 100, "between"),
        (1e-5, 100.0, 100, "between"),
        (float("nan"), 1.0, 100, "finite"),
        ("1e-5", 1.0, 100, "finite number"),
        (1e-2, 1e-4, 100, "below the end"),
        (1e-3, 1e-3, 100, "below the end"),
        (1e-3, 5e-3, 100, "less than a factor of 10"),
        (1e-6, 1.0, 5, "from 20 to 1000"),
        (1e-6, 1.0, 100.5, "whole number"),
        (1e-6, 1.0, 100_000, "from 20 to 1000"),
    ],
)
def test_bad_ranges_are_refused_with_a_clear_message(start, end, steps, words):
    with pytest.raises(LRFinderError, match=words):
        check_range(start, end, steps)


def test_smoothing_is_bias_corrected_and_follows_a_step():
    flat = smooth([2.0] * 50, 0.9)
    assert np.allclose(flat, 2.0)  # no pull towards zero at the start
    step = smooth([1.0] * 100 + [3.0] * 300, 0.9)
    assert step[99] == pytest.approx(1.0) and step[-1] == pytest.approx(3.0, abs=0.01)
    assert 1.0 < step[102] < 3.0


def test_centred_smoothing_does_not_lag():
    ramp = np.r_[np.full(100, 2.0), np.linspace(2.0, 0.0, 100), np.zeros(100)]
    noisy = ramp + np.random.default_rng(0).normal(0, 0.1, 300)
    lagging, centred = smooth(noisy, 0.9), smooth_centred(noisy, 0.9)
    assert np.abs(centred - ramp)[110:190].max() < 0.1
    assert np.abs(lagging - ramp)[110:190].mean() > 0.1  # a forward average trails the fall by ~1/(1-beta)


def test_the_smoothing_follows_the_density_of_the_ramp_not_its_length():
    assert smoothing_for(100) == pytest.approx(1 - 1 / 15)
    assert smoothing_for(3) == 0.5  # never less than two points averaged


def test_divergence_is_seen_online_and_offline():
    ramp = check_range(1e-6, 1.0, 170)
    watch = Divergence(ramp)
    losses = [2.3] * 20 + [0.5] * 100 + [50.0] * 50
    stopped = next(i for i, loss in enumerate(losses) if watch.update(loss))
    assert 120 <= stopped < 130
    assert divergence_index(smooth(losses, watch.beta)) == stopped
    assert Divergence(ramp).update(float("nan")) and Divergence(ramp).update(float("inf"))
    falling = Divergence(ramp)
    assert not any(falling.update(v) for v in np.linspace(2.3, 0.3, 100))


@pytest.mark.parametrize("steepest_at", [1e-4, 1e-3, 1e-2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_suggestion_is_the_steepest_descent_before_the_divergence(steepest_at, seed):
    rates = check_range(1e-7, 10.0, 300).rates()
    losses = range_test_curve(rates, steepest_at=steepest_at, blows_up_at=steepest_at * 100, seed=seed)
    found = suggest(rates, losses)
    assert steepest_at / 3 <= found.rate <= steepest_at * 3, found.rate
    assert found.rate < found.min_loss_rate
    assert found.usable < len(rates)  # the blow-up was cut off
    assert len(found.smoothed) == found.usable


def test_a_run_that_stopped_at_the_divergence_still_gives_a_suggestion():
    rates = check_range(1e-6, 1.0, 200).rates()
    losses = range_test_curve(rates, steepest_at=1e-3, blows_up_at=0.05)
    stop = divergence_index(smooth(losses, Divergence(check_range(1e-6, 1.0, 200)).beta))
    assert stop < 200
    found = suggest(rates[:stop], losses[:stop])  # what the worker records when it stops early
    assert 3e-4 <= found.rate <= 3e-3


def test_curves_that_say_nothing_are_refused():
    rates = check_range(1e-6, 1.0, 200).rates()
    with pytest.raises(LRFinderError, match="did not fall"):
        suggest(rates, 2.3 + np.random.default_rng(0).normal(0, 0.01, 200))
    with pytest.raises(LRFinderError, match="blew up almost at once"):
        suggest(rates, np.r_[np.full(5, 2.3), np.full(195, 1e6)])
    with pytest.raises(LRFinderError, match="at least 20"):
        suggest(rates[:10], range_test_curve(rates[:10]))
    with pytest.raises(LRFinderError, match="same length"):
        suggest(rates, range_test_curve(rates)[:50])
    with pytest.raises(LRFinderError, match="rising"):
        suggest(rates[::-1], range_test_curve(rates))


def test_a_finder_run_config_carries_the_ramp_and_steps_every_batch():
    from lib.config import TrainConfig
    from lib.sweeps.lr_finder import finder_config, is_finder, ramp_of

    base = TrainConfig(architecture="lenet5", epochs=9, lr_schedule="cosine", extra={"preset": "mnist"})
    config = finder_config(base, 1e-7, 1.0, 150)
    assert is_finder(config) and not is_finder(base)
    assert ramp_of(config) == check_range(1e-7, 1.0, 150)
    assert config.steps_per_execution == 1 and config.lr_schedule == "constant" and config.epochs == 1
    assert config.learning_rate == 1e-6  # the config's own limit; the ramp drives the real rate
    assert "preset" not in config.extra and config.architecture == "lenet5"
    with pytest.raises(LRFinderError, match="below the end"):
        finder_config(base, 1.0, 1e-3)
    hostile = base.replace(extra={"kind": "lr_find", "lr_find": {"start": "x", "end": 1, "steps": 100}})
    with pytest.raises(LRFinderError, match="finite number"):
        ramp_of(hostile)
    with pytest.raises(LRFinderError, match="not a learning-rate finder run"):
        ramp_of(base)


def test_the_stored_result_is_strict_json_with_the_suggestion_or_the_problem():
    import json

    from lib.sweeps.lr_finder import result

    rates = check_range(1e-6, 1.0, 200).rates()
    losses = range_test_curve(rates, steepest_at=1e-3, blows_up_at=0.1)
    losses[-1] = float("nan")
    found = result(rates, losses)
    assert 3e-4 <= found["suggested"] <= 3e-3 and found["losses"][-1] is None
    json.loads(json.dumps(found, allow_nan=False))
    flat = result(rates, np.full(200, 2.3))
    assert flat["suggested"] is None and "did not fall" in flat["problem"]
