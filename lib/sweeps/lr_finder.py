"""The learning-rate finder's maths (Smith's range test), framework-free.

A short run raises the rate exponentially from `start` to `end` over `steps`
batches and records the loss of each batch. The loss first barely moves (rate
too small), then falls fast, then blows up. The suggested rate is where the
smoothed loss falls fastest against log(rate), before its minimum: large enough
to learn quickly, still clear of the divergence. The worker (lib/train) drives
the ramp with `RateRange.rate(step)` and stops early with `Divergence`; this
module only needs numpy, so the charts, the CLI and the tests use it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lib.config import LIMITS, TrainConfig

LOWEST, HIGHEST = 1e-8, 10.0  # rates outside this are never worth trying
MIN_STEPS, MAX_STEPS = 20, 1000
MIN_DECADES = 1.0  # a narrower range cannot show where the loss starts to fall
SMOOTHING_DECADES = 0.15  # the loss is averaged over about this much of log10(rate) (see smoothing_for)
DIVERGED = 4.0  # the smoothed loss at this multiple of its best so far: the run has blown up
SKIP_START = 0.05  # share of the first points left out of the suggestion (the average is still settling)


class LRFinderError(ValueError):
    """A range that cannot work, or a loss curve that suggests nothing; the message says what to change."""


@dataclass(frozen=True)
class RateRange:
    start: float
    end: float
    steps: int

    def rate(self, step: int) -> float:
        """The rate for batch `step` (0-based): start at 0, end at steps - 1."""
        frac = min(max(step, 0), self.steps - 1) / (self.steps - 1)
        return self.start * (self.end / self.start) ** frac

    def rates(self) -> np.ndarray:
        return np.geomspace(self.start, self.end, self.steps)

    @property
    def decades(self) -> float:
        return math.log10(self.end / self.start)

    @property
    def points_per_decade(self) -> float:
        return (self.steps - 1) / self.decades


def check_range(start, end, steps) -> RateRange:
    """A RateRange, or LRFinderError saying exactly what is wrong with it."""
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise LRFinderError(f"the {name} rate must be a finite number, got {value!r}")
        if not LOWEST <= value <= HIGHEST:
            raise LRFinderError(f"the {name} rate must be between {LOWEST:g} and {HIGHEST:g}, got {value:g}")
    if not start < end:
        raise LRFinderError(f"the start rate ({start:g}) must be below the end rate ({end:g})")
    if math.log10(end / start) < MIN_DECADES:
        raise LRFinderError(
            f"{start:g} to {end:g} is less than a factor of 10: too narrow to see where the loss falls"
            f" (e.g. {start:g} to {start * 1e4:g})"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        raise LRFinderError(f"the number of batches must be a whole number from {MIN_STEPS} to {MAX_STEPS}")
    return RateRange(float(start), float(end), steps)


# -- the loss curve ---------------------------------------------------------
def smoothing_for(points_per_decade: float) -> float:
    """The moving average's beta for a ramp with this many batches per decade of rate.

    A fixed beta (fast.ai's 0.98 averages ~50 batches) lags by a decade or more on a
    100-300 batch ramp, which moves the steepest point far to the right; averaging over
    a fixed part of a decade keeps the lag small whatever the ramp. The worker (online,
    from the planned ramp) and suggest() (from the recorded rates) get the same beta.
    """
    return 1.0 - 1.0 / max(2.0, points_per_decade * SMOOTHING_DECADES)


def smooth(losses, beta: float) -> np.ndarray:
    """Bias-corrected exponential moving average (the first points are not pulled towards 0)."""
    out = np.empty(len(losses))
    average = 0.0
    for i, loss in enumerate(np.asarray(losses, dtype=float)):
        average = beta * average + (1 - beta) * loss
        out[i] = average / (1 - beta ** (i + 1))
    return out


def smooth_centred(losses, beta: float) -> np.ndarray:
    """The moving average run forwards, then backwards: smooth, and no lag (for the suggestion and chart)."""
    return smooth(smooth(losses, beta)[::-1], beta)[::-1]


class Divergence:
    """Fed one batch loss at a time; says when the run has blown up and may stop."""

    def __init__(self, ramp: RateRange, factor: float = DIVERGED):
        self.factor, self.beta = factor, smoothing_for(ramp.points_per_decade)
        self.count, self.average, self.best = 0, 0.0, math.inf

    def update(self, loss: float) -> bool:
        if not math.isfinite(loss):
            return True
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smoothed = self.average / (1 - self.beta**self.count)
        self.best = min(self.best, smoothed)
        return self.count > 1 and smoothed > self.factor * self.best


def divergence_index(smoothed: np.ndarray, factor: float = DIVERGED) -> int:
    """The number of points before the smoothed loss is not finite or passes factor x its best so far."""
    best = math.inf
    for i, value in enumerate(smoothed):
        if not math.isfinite(value) or (i and value > factor * best):
            return i
        best = min(best, value)
    return len(smoothed)


@dataclass(frozen=True)
class Suggestion:
    rate: float  # the suggested learning rate (steepest descent)
    index: int  # its point in the curve
    min_loss_rate: float  # where the smoothed loss was lowest (a ceiling: the suggestion is below it)
    usable: int  # points before the divergence
    smoothed: list[float]  # the smoothed loss for every usable point (for the chart)


def suggest(rates, losses) -> Suggestion:
    """The steepest descent of the smoothed loss against log(rate), before its minimum.

    The losses after the divergence (found as the worker found it, with a causal average)
    are left out before the centred smoothing, so the blow-up does not leak backwards.

    Raises LRFinderError when the curve cannot say: too few points, a loss that
    blew up at once (start lower), or one that never fell (go higher).
    """
    rates, losses = np.asarray(rates, dtype=float), np.asarray(losses, dtype=float)
    if rates.shape != losses.shape or rates.ndim != 1:
        raise LRFinderError("rates and losses must be two lists of the same length")
    if len(rates) < MIN_STEPS:
        raise LRFinderError(f"only {len(rates)} batches were recorded; at least {MIN_STEPS} are needed")
    if np.any(~np.isfinite(rates)) or np.any(rates <= 0) or np.any(np.diff(rates) <= 0):
        raise LRFinderError("the rates must be positive and rising")
    beta = smoothing_for((len(rates) - 1) / math.log10(rates[-1] / rates[0]))
    usable = divergence_index(smooth(np.where(np.isfinite(losses), losses, np.inf), beta))  # as the worker saw it
    skip = max(1, int(SKIP_START * len(rates)))
    if usable - skip < MIN_STEPS // 2:
        raise LRFinderError(
            f"the loss blew up almost at once (by {rates[max(usable - 1, 0)]:.2g}): start the range lower"
        )
    smoothed = smooth_centred(losses[:usable], beta)
    lowest = skip + int(np.argmin(smoothed[skip:]))
    if lowest - skip < 3 or smoothed[lowest] > 0.98 * smoothed[skip]:
        raise LRFinderError(
            f"the loss did not fall between {rates[0]:.2g} and {rates[usable - 1]:.2g}:"
            " raise the end rate (or check the data and model)"
        )
    slope = np.gradient(smoothed, np.log(rates[:usable]))
    steepest = skip + int(np.argmin(slope[skip:lowest]))
    return Suggestion(
        rate=float(rates[steepest]),
        index=steepest,
        min_loss_rate=float(rates[lowest]),
        usable=usable,
        smoothed=[float(v) for v in smoothed],
    )


# -- the finder as a run ------------------------------------------------------
KIND = "lr_find"  # config.extra["kind"]: the worker ramps the rate instead of training to the end
DEFAULT_START, DEFAULT_END, DEFAULT_STEPS = 1e-6, 1.0, 200


def finder_config(base: TrainConfig, start=DEFAULT_START, end=DEFAULT_END, steps=DEFAULT_STEPS) -> TrainConfig:
    """The settings of an LR-finder run: the base's data and model, a constant rate the ramp drives.

    Raises LRFinderError for a bad range and ConfigError for bad base settings.
    """
    ramp = check_range(start, end, steps)
    low, high = LIMITS["learning_rate"]
    extra = {k: v for k, v in base.extra.items() if k not in ("sweep", "trial", "preset")}
    extra.update(kind=KIND, lr_find={"start": ramp.start, "end": ramp.end, "steps": ramp.steps})
    return base.replace(
        epochs=1,  # nominal: the worker runs as many passes over the data as the ramp needs
        learning_rate=min(max(ramp.start, low), high),
        lr_schedule="constant",
        early_stopping_patience=0,
        steps_per_execution=1,  # the rate changes every batch, so every batch must reach the callback
        multi_gpu=False,
        extra=extra,
    ).validate()


def is_finder(config: TrainConfig) -> bool:
    return config.extra.get("kind") == KIND


def ramp_of(config: TrainConfig) -> RateRange:
    """The ramp an LR-finder run's config asks for (checked again: the stored config is input too)."""
    spec = config.extra.get("lr_find")
    if not isinstance(spec, dict):
        raise LRFinderError("this run is not a learning-rate finder run")
    return check_range(spec.get("start"), spec.get("end"), spec.get("steps"))


def result(rates, losses) -> dict:
    """What the worker stores when the ramp ends: the curve and the suggestion, or why there is none."""
    finite = [float(v) if math.isfinite(v) else None for v in losses]  # None: strict JSON has no NaN
    out = {"rates": [float(r) for r in rates], "losses": finite}
    try:
        found = suggest(rates, losses)
    except LRFinderError as exc:
        return {**out, "suggested": None, "problem": str(exc)}
    return {
        **out,
        "suggested": found.rate,
        "min_loss_rate": found.min_loss_rate,
        "smoothed": found.smoothed,
        "usable": found.usable,
    }
