"""TrainConfig: every training knob, its default, its limits and its validation.

The same object is filled by the dashboard's widgets, by the command line and by
JSON stored with each run, so the limits live here once. Validation never
raises anything but ConfigError, whose message names the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from lib import models
from lib.data import datasets

OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")
LR_SCHEDULES = ("constant", "cosine")

# name -> (minimum, maximum) for numeric fields; the UI builds its widgets from these.
LIMITS: dict[str, tuple[float, float]] = {
    "epochs": (1, 500),
    "batch_size": (1, 4096),
    "learning_rate": (1e-6, 1.0),
    "dropout": (0.0, 0.9),
    "width": (0.25, 4.0),
    "validation_split": (0.0, 0.5),
    "early_stopping_patience": (0, 100),
    "seed": (0, 2**31 - 1),
    "train_limit": (0, 10_000_000),
    "augment_shift": (0.0, 0.3),
    "augment_rotation": (0.0, 45.0),
    "augment_zoom": (0.0, 0.5),
    "weight_decay": (0.0, 0.1),
    "steps_per_execution": (0, 1000),
}
INT_FIELDS = {
    "epochs",
    "batch_size",
    "early_stopping_patience",
    "seed",
    "train_limit",
    "steps_per_execution",
}


class ConfigError(ValueError):
    """A setting was refused; `field` names it so a UI can show the message beside it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    architecture: str = "simple_cnn"
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    dropout: float = 0.25
    batchnorm: bool = False
    width: float = 1.0
    augment_shift: float = 0.0
    augment_rotation: float = 0.0  # degrees
    augment_zoom: float = 0.0
    augment_flip: bool = False
    validation_split: float = 0.1
    early_stopping_patience: int = 0  # 0 = off
    seed: int = 42
    mixed_precision: bool = False
    train_limit: int = 0  # 0 = the whole training split
    steps_per_execution: int = 0  # 0 = auto: enough steps per call that small models are not Python-bound
    multi_gpu: bool = False  # one run across every visible GPU (tf.distribute.MirroredStrategy)
    data_dir: str | None = None
    extra: dict = field(default_factory=dict)  # free-form notes, e.g. the preset used

    @classmethod
    def with_defaults(cls, **given) -> TrainConfig:
        """TrainConfig's defaults, then the architecture's own (keras_convnet: dropout 0.5), then `given`."""
        architecture = given.get("architecture", cls.architecture)
        return cls(**{**models.defaults(architecture), **given})

    # -- validation -------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Check every field; return self so calls chain. Raises ConfigError."""
        if self.dataset not in datasets.names():
            raise ConfigError(
                "dataset", f"unknown dataset {self.dataset!r}; choose one of {', '.join(datasets.names())}"
            )
        if self.architecture not in models.names():
            raise ConfigError(
                "architecture",
                f"unknown architecture {self.architecture!r}; choose one of {', '.join(models.names())}",
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError("optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError("lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}")
        for name, (low, high) in LIMITS.items():
            _check_number(name, getattr(self, name), low, high, name in INT_FIELDS)
        for name in ("batchnorm", "augment_flip", "mixed_precision", "multi_gpu"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, "must be true or false")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise ConfigError("data_dir", "must be a folder path")
        if not isinstance(self.extra, dict):
            raise ConfigError("extra", "must be a JSON object")
        return self

    # -- JSON round-trip --------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build from a dict (e.g. stored JSON); unknown keys are refused, not ignored."""
        if not isinstance(data, dict):
            raise ConfigError("config", "must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], "is not a training setting")
        config = cls(**data)
        for name in INT_FIELDS:  # JSON and widgets may hand over 5.0 for 5
            value = getattr(config, name)
            if isinstance(value, float) and value.is_integer():
                setattr(config, name, int(value))
        return config

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("config", f"is not valid JSON ({exc.msg})") from None
        return cls.from_dict(data)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @property
    def augments(self) -> bool:
        return bool(self.augment_shift or self.augment_rotation or self.augment_zoom or self.augment_flip)


def _check_number(name: str, value, low: float, high: float, integer: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, f"must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(name, "must be a finite number")
    if integer and not float(value).is_integer():
        raise ConfigError(name, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low:g} and {high:g}, got {value!r}")
