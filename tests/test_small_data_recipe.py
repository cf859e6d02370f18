"""The small-data recipe (lib.teach.small_data_recipe): settings chosen from the dataset's shape."""

from __future__ import annotations

import pytest

from lib.config import LIMITS, TrainConfig
from lib.teach.small_data_recipe import MAX_EPOCHS, MIN_EPOCHS, recipe


def test_issue_16_shapes_get_a_narrow_normalising_network_strong_augmentation_and_many_steps():
    r = recipe(102, 3, 64, "rgb")  # 40 a class, 15% held out by the import
    s = r.settings
    assert s["architecture"] == "vgg_small_norm" and s["width"] == 0.5 and s["batchnorm"]
    assert s["augment_flip"] and s["augment_shift"] >= 0.1 and s["augment_rotation"] >= 10
    assert s["batch_size"] == 8
    steps = s["epochs"] * -(-int(102 * 0.85) // s["batch_size"])
    assert steps >= 900  # the defaults gave ~100 steps: 47%
    assert s["validation_split"] > 0 and s["early_stopping_patience"] >= 10
    assert len(r.reasons) == 4 and "3 classes of 64x64 rgb" in r.title


def test_grey_images_are_not_flipped():
    assert not recipe(500, 10, 28, "grey").settings["augment_flip"]


def test_big_datasets_get_a_wider_network_bigger_batches_and_fewer_epochs():
    small, big = recipe(200, 5, 32, "rgb").settings, recipe(40_000, 5, 32, "rgb").settings
    assert big["width"] > small["width"]
    assert big["batch_size"] == 64 > small["batch_size"]
    assert big["epochs"] == MIN_EPOCHS < small["epochs"] <= MAX_EPOCHS


@pytest.mark.parametrize("images", [1, 10, 100, 1_000, 100_000])
@pytest.mark.parametrize("size", [28, 64, 128])
def test_every_recipe_is_within_the_training_limits(images, size):
    settings = recipe(images, 4, size, "rgb").settings
    fields = {k: v for k, v in settings.items() if k != "architecture"}
    config = TrainConfig(**fields)  # the knobs exist with these names
    for name, value in fields.items():
        assert getattr(config, name) == value
        low, high = LIMITS.get(name, (value, value))
        assert low <= value <= high, name


def test_nothing_to_learn_from_is_refused():
    with pytest.raises(ValueError, match="at least one training image and two classes"):
        recipe(0, 3, 64, "rgb")
    with pytest.raises(ValueError):
        recipe(100, 1, 64, "rgb")


def test_a_saved_custom_dataset_gets_the_recipe_as_its_preset(tmp_path, monkeypatch):
    import io

    from PIL import Image

    from lib import presets
    from lib.teach import collect

    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(tmp_path))
    for class_name, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
        for _ in range(8):
            buffer = io.BytesIO()
            Image.new("RGB", (40, 40), colour).save(buffer, format="PNG")
            collect.add_image("tiny", class_name, buffer.getvalue())
    collect.save("tiny", image_size=32, color="rgb")
    preset = presets.get("tiny")
    config = preset.config()  # validates: the architecture is registered, every knob in its limits
    assert config.architecture == "vgg_small_norm" and config.dataset == "tiny"
    assert config.extra["preset"] == "tiny"
    assert "shapes" in preset.summary and "100.00%" in preset.summary
    assert presets.get("no-such-dataset") is None
