"""Fine-tune a run with its corrections: queue the run, and swap its training set for the mix.

The request side (`queue`) runs in the page or the CLI; the data side
(`training_data`) and `prepare_model` run in the worker, called by
lib.train.fit when the config's `extra` says so:

- `extra["corrections_from"] = RUN`: train on RUN's corrections, oversampled,
  plus a replay sample of the original training data (lib.teach.corrections.mix);
  validation and test splits are the dataset's own, so "test accuracy" still
  means the same thing as the parent's;
- `extra["unfreeze_top"] = N`: a pretrained backbone's top N layers train too.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lib.runs import resume
from lib.teach import corrections, pretrained

UNFREEZE_DEFAULT = 20  # the Keras transfer-learning guide's example opens EfficientNet's top 20 layers
UNFREEZE_LR_FACTOR = 0.1  # a tenth of the head's rate: large steps would wreck the ImageNet features
EPOCHS = 3  # a few passes over a mix of ~2,700 images: enough to learn 20 corrections, too few to forget
LEARNING_RATE_FACTOR = 0.5  # the parent's rate, halved: the weights are already good


def corrections_folder(store, run_id: str) -> Path:
    return store.run_dir(run_id) / corrections.FOLDER


def box(store, run_id: str) -> corrections.CorrectionBox:
    return corrections.CorrectionBox(corrections_folder(store, run_id))


def queue(store, run_id: str, owner: str | None = None, policy=None, **changes) -> str:
    """A fine-tune run of `run_id` on its corrections; the new run's id. Refuses when there are none."""
    parent = store.get(run_id)
    if len(box(store, run_id)) == 0:
        raise corrections.CorrectionRefused(f"run {run_id} has no corrections to fine-tune with")
    settings = {
        "epochs": EPOCHS,
        "learning_rate": parent.config.learning_rate * LEARNING_RATE_FACTOR,
        "lr_schedule": "constant",
        "early_stopping_patience": 0,
        **changes,
    }
    settings["extra"] = {**parent.config.extra, **settings.get("extra", {}), "corrections_from": run_id}
    return resume.finetune(store, run_id, owner=owner, policy=policy, **settings)


def check_unfreeze(parent, count) -> int:
    """The rule for opening a pretrained backbone's top layers (the Train page and the CLI ask the same)."""
    if parent.config.architecture not in pretrained.BACKBONES or isinstance(count, bool) or not isinstance(
        count, int
    ) or count < 1:  # fmt: skip
        raise corrections.CorrectionRefused(
            f"unfreezing the top layers needs a run of a pretrained architecture "
            f"({', '.join(pretrained.BACKBONES)}) and N >= 1; run {parent.id} is {parent.config.architecture}"
        )
    return count


def queue_unfreeze(store, run_id: str, count: int, owner: str | None = None, policy=None, **changes) -> str:
    """A fine-tune of a finished pretrained run with its backbone's top `count` layers trainable; its id."""
    parent = store.get(run_id)
    extra = {**parent.config.extra, **changes.pop("extra", {}), "unfreeze_top": check_unfreeze(parent, count)}
    return resume.finetune(store, run_id, owner=owner, policy=policy, **changes, extra=extra)


def training_data(data, store, config):
    """The prepared data with its training split replaced by the corrections mix (worker side)."""
    source = config.extra.get("corrections_from")
    if not source:
        return data
    x, y = box(store, source).arrays(data.info.input_shape)
    if not len(x):
        raise corrections.CorrectionRefused(f"run {source} has no corrections of this model's input shape")
    mixed_x, mixed_y = corrections.mix(x, y, data.x_train, data.y_train, seed=config.seed)
    return dataclasses.replace(data, x_train=mixed_x, y_train=mixed_y)


def prepare_model(model, config) -> None:
    """Open the top of a pretrained backbone when the config asks (before compiling)."""
    count = int(config.extra.get("unfreeze_top") or 0)
    if count:
        pretrained.unfreeze_top(model, count)
