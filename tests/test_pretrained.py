"""Transfer learning (lib.teach.pretrained): weights resolved offline, a clear message when missing.

No ImageNet weights can be downloaded here, so each test writes the weights file
itself: a backbone with random weights, saved in Keras's legacy HDF5 format
under the exact name Keras caches the real file under.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lib.teach import pretrained


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """An empty Keras home and data folder; downloads off."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONVSTUDIO_OFFLINE", "1")
    return tmp_path


def write_weights(folder, name: str, seed: int = 0):
    """A random-weights no-top backbone saved as `folder/<Keras's file name>`; returns one kernel to compare."""
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    spec = pretrained.BACKBONES[name]
    keras.utils.set_random_seed(seed)
    application = getattr(keras.applications, spec.application)
    backbone = application(
        input_shape=(96, 96, 3), include_top=False, weights=None, pooling="avg", **dict(spec.options)
    )
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / spec.weights_file, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, backbone)
    return backbone.weights[0].numpy()


@pytest.mark.parametrize("name", sorted(pretrained.BACKBONES))
def test_missing_weights_name_the_file_the_folders_and_the_alternative(folders, name):
    spec = pretrained.BACKBONES[name]
    with pytest.raises(pretrained.WeightsMissing) as caught:
        pretrained.build(name, (64, 64, 3), 3)
    message = str(caught.value)
    assert spec.weights_file in message
    assert str(folders / "keras" / "models") in message and str(folders / "data" / "models") in message
    assert spec.url in message and "from scratch" in message


def test_the_keras_cache_is_looked_in_before_the_data_folder(folders):
    spec = pretrained.BACKBONES["mobilenet_v3_small"]
    for sub in ("keras/models", "data/models"):
        (folders / sub).mkdir(parents=True)
        (folders / sub / spec.weights_file).write_bytes(b"x")
    assert pretrained.find_weights(spec) == folders / "keras" / "models" / spec.weights_file
    (folders / "keras" / "models" / spec.weights_file).unlink()
    assert pretrained.find_weights(spec) == folders / "data" / "models" / spec.weights_file


def test_a_damaged_weights_file_is_refused_with_a_message(folders):
    spec = pretrained.BACKBONES["mobilenet_v3_small"]
    (folders / "data" / "models").mkdir(parents=True)
    (folders / "data" / "models" / spec.weights_file).write_bytes(b"not hdf5")
    with pytest.raises(pretrained.WeightsMissing, match=r"not usable as MobileNetV3-Small \(ImageNet\) weights"):
        pretrained.build("mobilenet_v3_small", (32, 32, 3), 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(pretrained.BACKBONES))
def test_weights_from_the_data_folder_are_loaded_frozen_and_the_model_trains_and_reloads(folders, name, tmp_path):
    import keras

    kernel = write_weights(folders / "data" / "models", name)
    model = pretrained.build(name, (28, 28, 1), 3, dropout=0.1)  # grey and small: repeated and scaled up
    backbone = pretrained.backbone_of(model)
    assert np.array_equal(backbone.weights[0].numpy(), kernel)  # the file's weights, not fresh ones
    assert not backbone.trainable
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]  # only the new head learns

    x = np.random.default_rng(0).random((12, 28, 28, 1), dtype=np.float32)
    y = np.arange(12) % 3
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.array_equal(backbone.weights[0].numpy(), kernel)  # frozen during training

    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)  # stock layers only: safe mode accepts it
    assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.slow
def test_unfreeze_top_opens_only_the_top_layers_and_never_batchnorm(folders):
    from keras import layers

    write_weights(folders / "keras" / "models", "mobilenet_v3_small")
    model = pretrained.build("mobilenet_v3_small", (64, 64, 3), 2)
    before = len(model.trainable_weights)
    opened = pretrained.unfreeze_top(model, 10)
    assert 0 < opened <= 10
    backbone = pretrained.backbone_of(model)
    assert not any(layer.trainable for layer in backbone.layers if isinstance(layer, layers.BatchNormalization))
    assert len(model.trainable_weights) > before


def test_the_registry_builder_shows_the_network_offline_but_training_requires_the_weights(folders):
    build = pretrained.builder("mobilenet_v3_small")
    model = build((32, 32, 3), 4, dropout=0.0)  # no weights file: random weights, for the Model page
    assert model.output.shape[-1] == 4
    with pytest.raises(pretrained.WeightsMissing, match="downloads are off"):
        pretrained.require_weights("mobilenet_v3_small")
    pretrained.require_weights("lenet5")  # not pretrained: nothing to find


@pytest.mark.slow
def test_the_registry_builder_uses_the_weights_file_when_present(folders):
    kernel = write_weights(folders / "keras" / "models", "mobilenet_v3_small")
    pretrained.require_weights("mobilenet_v3_small")
    model = pretrained.builder("mobilenet_v3_small")((64, 64, 3), 2)
    assert np.array_equal(pretrained.backbone_of(model).weights[0].numpy(), kernel)


def test_a_fine_tune_config_opens_the_top_of_the_backbone_in_the_worker(folders):
    from lib.config import TrainConfig
    from lib.teach import finetune

    model = pretrained.builder("mobilenet_v3_small")((32, 32, 3), 2)
    frozen = len(model.trainable_weights)
    finetune.prepare_model(model, TrainConfig(architecture="mobilenet_v3_small"))  # no extra: unchanged
    assert len(model.trainable_weights) == frozen
    finetune.prepare_model(model, TrainConfig(architecture="mobilenet_v3_small", extra={"unfreeze_top": 5}))
    assert len(model.trainable_weights) > frozen
