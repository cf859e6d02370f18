"""Every architecture builds for grey 28x28 and colour 32x32, honours its knobs, and trains a step."""

import numpy as np
import pytest

from lib import models


@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_builds_for_both_input_shapes(name, shape):
    model = models.build(name, shape, 10, dropout=0.2, batchnorm=True)
    out = model(np.zeros((2, *shape), np.float32))
    assert tuple(out.shape) == (2, 10)
    assert np.allclose(np.asarray(out).sum(axis=1), 1.0, atol=1e-5)
    assert model.count_params() > 1000


def test_switches_change_the_network():
    import keras

    plain = models.build("vgg_small", (32, 32, 3), 10, batchnorm=False)
    with_bn = models.build("vgg_small", (32, 32, 3), 10, batchnorm=True)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in plain.layers)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in with_bn.layers)
    wide = models.build("simple_cnn", (28, 28, 1), 10, width=2.0)
    assert wide.count_params() > 1.9 * models.build("simple_cnn", (28, 28, 1), 10).count_params()
    dropped = models.build("simple_cnn", (28, 28, 1), 10, dropout=0.3)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in dropped.layers)


def test_simple_cnn_matches_the_tutorial_and_resnet_has_20_weight_layers():
    import keras

    cnn = models.build("simple_cnn", (28, 28, 1), 10)
    assert cnn.count_params() == (9 * 32 + 32) + (13 * 13 * 32 * 128 + 128) + (128 * 10 + 10)
    resnet = models.build("resnet_small", (32, 32, 3), 10)
    convs = [layer for layer in resnet.layers if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)]
    dense = [layer for layer in resnet.layers if isinstance(layer, keras.layers.Dense)]
    assert len(convs) + len(dense) == 20


def test_layer_table_sums_to_the_parameter_count():
    model = models.build("lenet5", (28, 28, 1), 10)
    table = models.layer_table(model)
    assert sum(row["parameters"] for row in table) == model.count_params()
    assert table[-1]["output shape"] == "(None, 10)"


def test_an_architecture_s_own_defaults_take_effect():
    """keras_convnet is described as 'dropout 0.5'; it used to train at TrainConfig's 0.25."""
    from lib.cli.main import build_parser, config_from_args
    from lib.config import TrainConfig

    assert models.defaults("keras_convnet") == {"dropout": 0.5, "batchnorm": False, "width": 1.0}
    assert "dropout 0.5" in models.description("keras_convnet")
    assert TrainConfig.with_defaults(architecture="keras_convnet").dropout == 0.5
    assert TrainConfig.with_defaults(architecture="keras_convnet", dropout=0.1).dropout == 0.1  # what is typed wins
    args = build_parser().parse_args(["train", "--model", "keras_convnet"])
    assert config_from_args(args).dropout == 0.5
    assert models.defaults("no such model") == {}
