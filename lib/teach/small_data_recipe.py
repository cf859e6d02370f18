"""The recommended recipe for a user's own (usually small) dataset, chosen from its shape.

The built-in datasets have measured presets (lib.presets). A custom dataset can
be 40 photos a class or 40,000, 28x28 grey doodles or 128x128 colour photos, so
its recipe is computed from what the dataset is:

- a network that pools globally (Small VGG with BatchNorm): a shape anywhere in
  the frame reads the same, and its size does not grow with the image;
  narrower when there is little data, so 100 images cannot be memorised at once;
- strong augmentation (shift, rotation, zoom; horizontal flips for colour
  photos only, since a flipped digit or letter is another symbol): with little
  data, augmentation is the data;
- enough optimisation steps, whatever the size: a fixed number of epochs on
  120 images is a handful of steps, which is why the defaults reached 47% on
  the shapes of issue 16;
- early stopping on a validation split, keeping the best weights, so the many
  epochs cost nothing when the model has learnt what it can.

Measured in bench/small_data_recipe.py (figures in bench/RESULTS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TARGET_STEPS = 900  # optimiser steps the schedule is sized for (early stopping usually ends sooner)
MIN_EPOCHS, MAX_EPOCHS = 20, 200
SMALL = 2_000  # training images below which the narrow network is chosen
# what bench/small_data_recipe.py measured (lib.presets shows it beside the recipe; bench/RESULTS.md)
MEASURED: dict = dict(
    accuracy=1.0, minutes=2.2,
    data="on issue 16's shapes: 3 generated classes, 40 a class, 64x64 RGB; 30 new images; median of 3 seeds",
    machine="2-core CPU VM, no GPU, shared with other jobs", date="2026-11-23",
)  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    title: str
    settings: dict  # TrainConfig fields
    reasons: tuple[str, ...]  # one sentence per choice, for the page and `--preset --json`


def recipe(train_images: int, num_classes: int, image_size: int, color: str) -> Recipe:
    """The settings for a dataset of `train_images` images in `num_classes` classes, `image_size` px, grey|rgb."""
    if train_images < 1 or num_classes < 2:
        raise ValueError("a recipe needs at least one training image and two classes")
    small = train_images < SMALL
    batch_size = int(min(64, max(8, 2 ** math.floor(math.log2(max(1, train_images // 8))))))
    steps_per_epoch = math.ceil(train_images * 0.85 / batch_size)
    epochs = int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch))))
    photo = color == "rgb"
    width = 0.5 if small or image_size >= 96 else 1.0
    settings = dict(
        architecture="vgg_small_norm", width=width, batchnorm=True, dropout=0.3,
        epochs=epochs, batch_size=batch_size, optimizer="adamw", learning_rate=2e-3, weight_decay=1e-4,
        lr_schedule="cosine", augment_shift=0.15, augment_rotation=20.0 if photo else 10.0,
        augment_zoom=0.15, augment_flip=photo, validation_split=0.15 if small else 0.1,
        early_stopping_patience=max(10, epochs // 4), mixed_precision=True,
    )  # fmt: skip
    network = "narrow, so a few hundred images are learnt, not memorised" if small else "wide enough for the data"
    flips = ", horizontal flips: a mirrored photo is the same photo" if photo else "; no flips: symbols differ mirrored"
    reasons = (
        f"Small VGG at width {width:g} that normalises each image (colours and contrast do not matter), "
        f"with BatchNorm and global pooling: {network}.",
        f"Strong augmentation (shifts, rotations, zoom{flips}).",
        f"{epochs} epochs of batch {batch_size} (about {epochs * steps_per_epoch} steps): "
        "enough steps to learn however few images there are.",
        f"Early stopping on a {settings['validation_split']:.0%} validation split (patience "
        f"{settings['early_stopping_patience']} epochs), keeping the best weights.",
    )
    title = f"Small-data recipe for {num_classes} classes of {image_size}x{image_size} {color}"
    return Recipe(title, settings, reasons)
