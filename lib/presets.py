"""One-click recipes: a recommended architecture and settings per dataset.

Each preset says what it reached and in how long, on which machine, as
measured by bench/recipes.py (see bench/RESULTS.md). Where a figure could not
be measured yet, `measured` says so instead of guessing. Mixed precision is on in
every recipe; it only takes effect on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.config import TrainConfig
from lib.data import custom
from lib.teach import small_data_recipe


@dataclass(frozen=True)
class Preset:
    dataset: str
    title: str
    target: float  # the test accuracy the recipe is meant to reach on the official test set
    settings: dict
    measured: dict = field(default_factory=dict)  # accuracy, minutes, machine, data, date; empty if not measured

    def config(self, **overrides) -> TrainConfig:
        values = {"dataset": self.dataset, **self.settings, **overrides}
        values["extra"] = {**values.get("extra", {}), "preset": self.dataset}
        return TrainConfig(**values).validate()

    @property
    def summary(self) -> str:
        m = self.measured
        if not m:
            return f"{self.title}: aims at {self.target:.1%} test accuracy; not measured yet ({self.why_not})."
        return (
            f"{self.title}: {m['accuracy']:.2%} test accuracy in {m['minutes']:.0f} min "
            f"({m['data']}; {m['machine']}, {m['date']})."
        )

    @property
    def why_not(self) -> str:
        return self.measured.get("why_not", "no GPU and no offline copy of this dataset where it was built")


PRESETS: dict[str, Preset] = {
    "mnist": Preset(
        "mnist",
        "Small VGG with augmentation",
        0.993,
        dict(
            architecture="vgg_small", width=0.5, batchnorm=True, dropout=0.3, epochs=15, batch_size=128,
            optimizer="adamw", learning_rate=2e-3, weight_decay=1e-4, lr_schedule="cosine",
            augment_shift=0.08, augment_rotation=8.0, augment_zoom=0.08, validation_split=0.05, mixed_precision=True,
        ),
        measured=dict(
            accuracy=0.9835, minutes=2.0,
            data="the 10,000-digit sample (8,000 train, 2,000 held out), not the official test set; 1 seed",
            machine="2-core CPU VM, no GPU, shared with other jobs", date="2026-11-22",
        ),
    ),
    "fashion_mnist": Preset(
        "fashion_mnist",
        "Small VGG (width 0.75) with flips, 12 epochs",
        0.930,
        dict(
            architecture="vgg_small", width=0.75, batchnorm=True, dropout=0.2, epochs=12, batch_size=128,
            optimizer="adamw", learning_rate=2e-3, weight_decay=1e-4, lr_schedule="cosine",
            augment_flip=True, validation_split=0.05, mixed_precision=True,
        ),
        measured=dict(
            accuracy=0.9361, minutes=13.8, data="official 10,000 test images, 1 seed",
            machine="2-core CPU VM, no GPU, otherwise idle", date="2026-11-23",
        ),
    ),
    "cifar10": Preset(
        "cifar10",
        "ResNet-20 (He et al. 2016 recipe, cosine schedule)",
        0.900,
        dict(
            architecture="resnet_small", batchnorm=True, dropout=0.0, epochs=100, batch_size=128,
            optimizer="sgd", learning_rate=0.1, weight_decay=5e-4, lr_schedule="cosine",
            augment_shift=0.125, augment_flip=True, validation_split=0.05, mixed_precision=True,
        ),
    ),
    "cifar100": Preset(
        "cifar100",
        "Wide ResNet-20 (width 2)",
        0.650,
        dict(
            architecture="resnet_small", width=2.0, batchnorm=True, dropout=0.0, epochs=100, batch_size=128,
            optimizer="sgd", learning_rate=0.1, weight_decay=5e-4, lr_schedule="cosine",
            augment_shift=0.125, augment_flip=True, validation_split=0.05, mixed_precision=True,
        ),
    ),
}  # fmt: skip


def get(dataset: str) -> Preset | None:
    return PRESETS.get(dataset) or small_data_preset(dataset)


def small_data_preset(dataset: str) -> Preset | None:
    """A saved custom dataset's recipe, chosen from its size, image size and colour (lib.teach.small_data_recipe)."""
    if not custom.is_saved(dataset):
        return None
    m = custom.manifest(dataset)
    r = small_data_recipe.recipe(sum(m["counts"]["train"]), len(m["class_names"]), m["image_size"], m["color"])
    return Preset(dataset, r.title, 0.95, r.settings, measured=small_data_recipe.MEASURED)
