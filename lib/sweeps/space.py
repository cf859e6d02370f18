"""A sweep's search space: which TrainConfig fields vary, and over what.

A dimension is written `field=SPEC`, as on the command line:

    learning_rate=1e-4:1e-2:log     a range, sampled on a log scale
    dropout=0.1:0.5                 a range, linear (also `:linear`)
    batch_size=32,64,128            a list of values
    optimizer=adam,sgd              a list of choices

Only fields whose change makes trials worth comparing may vary: the dataset, the
validation split and the epochs are what trials are compared on, speed knobs
change no result. Every value is checked against TrainConfig's limits here, so a
bad spec is refused before any run is queued. Every refusal is a SpaceError
whose message names the field and says what would be accepted.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from lib import models
from lib.config import INT_FIELDS, LIMITS, LR_SCHEDULES, OPTIMIZERS, TrainConfig

# numeric fields that may vary (ranges or lists)
NUMERIC = (
    "learning_rate", "batch_size", "dropout", "width", "weight_decay",
    "augment_shift", "augment_rotation", "augment_zoom",
)  # fmt: skip
BOOLEAN = ("batchnorm", "augment_flip")
ALIASES = {"lr": "learning_rate", "model": "architecture"}
MAX_VALUES = 50  # values in one list
MAX_GRID = 1000  # points in one grid

# fields that exist but may not vary, and why (the message a user sees)
FIXED_REASONS = {
    "epochs": "is each trial's budget: give it with --epochs",
    "train_limit": "is each trial's budget: give it with --train-limit",
    "dataset": "must be the same for every trial, or their results cannot be compared",
    "validation_split": "must be the same for every trial: trials are compared on the validation split",
    "seed": "is fixed so that trials differ only in what you vary",
    "early_stopping_patience": "would stop trials on its own; use the sweep's pruning (--prune) instead",
    "mixed_precision": "changes speed, not the result",
    "multi_gpu": "changes speed, not the result",
    "steps_per_execution": "changes speed, not the result",
    "data_dir": "is where the data lives, not a setting to search",
    "extra": "holds notes, not a setting to search",
}
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class SpaceError(ValueError):
    """A search-space spec was refused; the message says why and what would do."""


def choices(name: str) -> tuple | None:
    """The allowed values of a categorical field; None for numeric fields."""
    if name == "optimizer":
        return OPTIMIZERS
    if name == "lr_schedule":
        return LR_SCHEDULES
    if name == "architecture":
        return tuple(models.names())
    if name in BOOLEAN:
        return (False, True)
    return None


def sweepable() -> tuple[str, ...]:
    return (*NUMERIC, "optimizer", "lr_schedule", "architecture", *BOOLEAN)


@dataclass(frozen=True)
class Dimension:
    """One varying field: either a list of values, or a range [low, high] (log or linear)."""

    name: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @property
    def integer(self) -> bool:
        return self.name in INT_FIELDS

    def distribution(self) -> BaseDistribution:
        if not self.is_range:
            return CategoricalDistribution(list(self.values))
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)

    def describe(self) -> str:
        if self.is_range:
            return f"{self.name}: {self.low:g} to {self.high:g} ({'log' if self.log else 'linear'})"
        return f"{self.name}: {', '.join(_show(v) for v in self.values)}"

    def to_dict(self) -> dict:
        if self.is_range:
            return {"name": self.name, "low": self.low, "high": self.high, "log": self.log}
        return {"name": self.name, "values": list(self.values)}


class SearchSpace:
    """The dimensions of a sweep, in the order given."""

    def __init__(self, dimensions: list[Dimension]):
        if not dimensions:
            raise SpaceError("nothing varies: give at least one --vary FIELD=SPEC")
        names = [d.name for d in dimensions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SpaceError(f"{twice[0]} is varied twice; give each field once")
        self.dimensions = list(dimensions)

    @classmethod
    def parse(cls, specs: list[str]) -> SearchSpace:
        return cls([parse_dimension(spec) for spec in specs])

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def distributions(self) -> dict[str, BaseDistribution]:
        return {d.name: d.distribution() for d in self.dimensions}

    # -- grids ---------------------------------------------------------------
    def check_grid(self) -> None:
        ranges = [d.name for d in self.dimensions if d.is_range]
        if ranges:
            raise SpaceError(
                f"a grid needs a list of values for {ranges[0]}, not a range"
                f" (e.g. {ranges[0]}={_example_list(self.get(ranges[0]))}); or use --strategy random or tpe"
            )
        if self.grid_size() > MAX_GRID:
            raise SpaceError(f"the grid has {self.grid_size():,} points; at most {MAX_GRID:,} are allowed")

    def grid_size(self) -> int:
        return math.prod(len(d.values) for d in self.dimensions) if not any(d.is_range for d in self.dimensions) else 0

    def grid_values(self) -> dict[str, list]:
        """name -> values, as Optuna's GridSampler takes them."""
        self.check_grid()
        return {d.name: list(d.values) for d in self.dimensions}

    def grid(self) -> list[dict]:
        """Every point of the grid, in a fixed order (first dimension slowest)."""
        values = self.grid_values()
        return [dict(zip(values, point, strict=True)) for point in itertools.product(*values.values())]

    # -- applying a point ----------------------------------------------------
    def get(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)

    def apply(self, base: TrainConfig, params: dict) -> TrainConfig:
        """The base settings with this point's values; checked like any other config."""
        unknown = sorted(set(params) - set(self.names))
        if unknown:
            raise SpaceError(f"{unknown[0]} is not a dimension of this sweep")
        typed = {k: int(v) if k in INT_FIELDS else v for k, v in params.items()}
        return base.replace(**typed).validate()

    # -- JSON round-trip (the sweep record stores it) ------------------------
    def to_list(self) -> list[dict]:
        return [d.to_dict() for d in self.dimensions]

    @classmethod
    def from_list(cls, items) -> SearchSpace:
        """Rebuild from stored JSON, checked exactly as a typed spec would be."""
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SpaceError("a stored search space must be a list of dimensions")
        return cls([parse_dimension(_spec_of(item)) for item in items])

    def describe(self) -> list[str]:
        return [d.describe() for d in self.dimensions]


# -- parsing -----------------------------------------------------------------
def parse_dimension(spec: str) -> Dimension:
    if not isinstance(spec, str) or "=" not in spec:
        raise SpaceError(f"cannot read {spec!r}: write FIELD=SPEC, e.g. learning_rate=1e-4:1e-2:log")
    raw_name, _, body = spec.partition("=")
    name = field_name(raw_name)
    body = body.strip()
    if not body:
        raise SpaceError(f"{name}: no values after '='")
    if ":" in body:
        return _parse_range(name, body)
    return Dimension(name, values=_parse_list(name, body))


def field_name(raw: str) -> str:
    name = raw.strip().lower().replace("-", "_")
    name = ALIASES.get(name, name)
    if name in FIXED_REASONS:
        raise SpaceError(f"{name} {FIXED_REASONS[name]}")
    if name not in sweepable():
        raise SpaceError(f"{raw.strip()!r} is not a setting a sweep can vary; choose from {', '.join(sweepable())}")
    return name


def _parse_range(name: str, body: str) -> Dimension:
    if choices(name) is not None:
        raise SpaceError(f"{name} takes a list of values ({_example_list(Dimension(name))}), not a range")
    parts = [p.strip() for p in body.split(":")]
    scale = parts.pop() if len(parts) == 3 else "linear"
    if len(parts) != 2 or scale not in ("log", "linear"):
        raise SpaceError(f"{name}: cannot read range {body!r}; write LOW:HIGH, LOW:HIGH:log or LOW:HIGH:linear")
    low, high = (_number(name, p) for p in parts)
    if not low < high:
        raise SpaceError(f"{name}: the range's low end ({low:g}) must be below its high end ({high:g})")
    if scale == "log" and low <= 0:
        raise SpaceError(f"{name}: a log range needs a low end above 0, got {low:g}")
    return Dimension(name, low=low, high=high, log=scale == "log")


def _parse_list(name: str, body: str) -> tuple:
    items = [p.strip() for p in body.split(",")]
    if any(not p for p in items):
        raise SpaceError(f"{name}: empty value in {body!r}")
    if len(items) > MAX_VALUES:
        raise SpaceError(f"{name}: {len(items)} values; at most {MAX_VALUES} are allowed")
    allowed = choices(name)
    if name in BOOLEAN:
        values = tuple(_boolean(name, p) for p in items)
    elif allowed is not None:
        values = tuple(_choice(name, p.lower(), allowed) for p in items)
    else:
        values = tuple(_number(name, p) for p in items)
    twice = [v for i, v in enumerate(values) if v in values[:i]]
    if twice:
        raise SpaceError(f"{name}: {_show(twice[0])} is listed twice")
    return values


def _number(name: str, text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise SpaceError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SpaceError(f"{name}: {text!r} is not a finite number")
    low, high = LIMITS[name]
    if name in INT_FIELDS:
        if not value.is_integer():
            raise SpaceError(f"{name}: must be a whole number, got {text!r}")
        value = int(value)
    if not low <= value <= high:
        raise SpaceError(f"{name}: must be between {low:g} and {high:g}, got {text}")
    return value


def _boolean(name: str, text: str) -> bool:
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    raise SpaceError(f"{name}: {text!r} is not true or false")


def _choice(name: str, text: str, allowed: tuple) -> str:
    if text not in allowed:
        raise SpaceError(f"{name}: unknown value {text!r}; choose from {', '.join(map(str, allowed))}")
    return text


def _spec_of(item: dict) -> str:
    """A stored dimension written back as the spec a user would type (so it is checked the same way)."""
    name = item.get("name")
    if not isinstance(name, str):
        raise SpaceError("a stored dimension has no field name")
    if "values" in item:
        values = item["values"]
        if not isinstance(values, list):
            raise SpaceError(f"{name}: stored values must be a list")
        return f"{name}={','.join(_show(v) for v in values)}"
    low, high = item.get("low"), item.get("high")
    if isinstance(low, bool) or isinstance(high, bool) or not all(isinstance(v, int | float) for v in (low, high)):
        raise SpaceError(f"{name}: a stored range needs numeric low and high")
    return f"{name}={low!r}:{high!r}:{'log' if item.get('log') else 'linear'}"


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _example_list(dim: Dimension) -> str:
    allowed = choices(dim.name)
    if allowed is not None:
        return ",".join(_show(v) for v in allowed[:2])
    if dim.is_range:
        points = [dim.low, dim.high] if not dim.log else [dim.low, math.sqrt(dim.low * dim.high), dim.high]
        return ",".join(f"{p:g}" for p in points)
    return "1,2"
