"""The records a training worker reports and every reader shows: one definition for both sides.

Like TensorBoard's per-plugin `metadata.py`: the worker's callback writes these,
the store keeps them (progress as versioned JSON on the run's row, batch and
epoch rows in their own tables), and the sidebar, the live view and the command
line read them. Each field has one meaning, written down here.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

VERSION = 1  # bump when a field changes meaning; readers keep the fields they know

PHASES = ("starting", "loading data", "training", "evaluating")


@dataclass(frozen=True)
class Progress:
    """Where a run is now. Written a few times a second while it trains."""

    phase: str = "starting"
    epoch: int = 0  # the epoch in progress, counted from 1; 0 before the first one starts
    epochs: int = 0  # epochs planned for the whole run (a continued run counts its earlier ones)
    batch: int = 0  # batches finished in the current epoch, 0..steps (never more)
    steps: int = 0  # batches per epoch; 0 until the first batch has reported
    eta_seconds: float | None = None
    elapsed_seconds: float | None = None
    loss: float | None = None  # the epoch's running mean so far
    accuracy: float | None = None
    images_per_second: float | None = None
    version: int = VERSION

    def __post_init__(self):
        if self.steps and self.batch > self.steps:  # Keras may count a partial last execution in full
            object.__setattr__(self, "batch", self.steps)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> Progress:
        """The record stored as JSON; an empty, damaged or foreign value reads as 'starting'."""
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return cls()
        return cls.from_dict(data if isinstance(data, dict) else {})

    @classmethod
    def from_dict(cls, data: dict) -> Progress:
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in known or value is None:
                continue  # a newer writer's field, or a missing value: the default stands
            try:
                values[key] = str(value) if key == "phase" else (int(value) if "int" in known[key] else float(value))
            except (TypeError, ValueError):
                continue
        return cls(**values)

    @property
    def fraction_done(self) -> float:
        if self.phase != "training" or not self.epochs or not self.epoch or not self.steps:
            return 0.0
        return min(1.0, max(0.0, ((self.epoch - 1) + self.batch / self.steps) / self.epochs))

    def describe(self) -> str:
        """'epoch 2/5 · batch 40/94 · 0:31 left' while training, else the phase."""
        if self.phase != "training" or not self.epochs:
            return self.phase
        if not self.steps:
            return f"starting {self.epochs} epoch(s)"
        text = f"epoch {self.epoch}/{self.epochs} · batch {self.batch}/{self.steps}"
        if self.eta_seconds is not None and math.isfinite(self.eta_seconds) and self.eta_seconds >= 0:
            text += f" · {format_seconds(self.eta_seconds)} left"
        return text


@dataclass(frozen=True)
class BatchRow:
    """The loss and accuracy of the batches since the previous row (not the epoch's running mean)."""

    step: int  # batches trained since the run began, counted from 0: the x axis of the batch chart
    epoch: int  # the epoch these batches belong to, counted from 1
    batch: int  # batches finished in that epoch when the row was written, 1..steps
    loss: float | None
    accuracy: float | None
    time: float  # wall-clock seconds since the epoch (1970), when written


BATCH_COLUMNS = tuple(f.name for f in dataclasses.fields(BatchRow))

# The per-epoch row: these columns have their own place in the store; anything else a writer adds
# (the live confusion matrix, per-class accuracy) is kept beside them and read back with them.
EPOCH_COLUMNS = (
    "epoch", "loss", "accuracy", "val_loss", "val_accuracy",
    "learning_rate", "images_per_second", "seconds",
)  # fmt: skip


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
