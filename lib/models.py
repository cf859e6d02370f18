"""Architecture registry: builders taking input shape, classes, dropout, BatchNorm and width.

Keras is imported inside the builders so that listing architectures (the
dashboard's select box, `cli models`) never loads TensorFlow.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

from lib.teach import architectures, pretrained


@dataclass(frozen=True)
class Architecture:
    name: str
    title: str
    description: str
    build: Callable
    uses_width: bool = True


def _units(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


def _conv(layers, x, filters, kernel, batchnorm, padding="same", strides=1):
    """Conv -> (BatchNorm) -> ReLU; the conv has no bias when BatchNorm follows it."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=not batchnorm)(x)
    if batchnorm:
        x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _head(layers, x, num_classes, dropout):
    if dropout:
        x = layers.Dropout(dropout)(x)
    # float32 output keeps softmax stable under mixed precision
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


def build_mlp(input_shape, num_classes, dropout=0.2, batchnorm=False, width=1.0):
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = layers.Flatten()(inputs)
    for units in (256, 128):
        x = layers.Dense(_units(units, width), use_bias=not batchnorm)(x)
        if batchnorm:
            x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_simple_cnn(input_shape, num_classes, dropout=0.0, batchnorm=False, width=1.0):
    """Conv32 - MaxPool - Flatten - Dense128 - Dense: the tutorial network."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = _conv(layers, inputs, _units(32, width), 3, batchnorm, padding="valid")
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(_units(128, width), activation="relu")(x)
    return keras.Model(inputs, _head(layers, x, num_classes, dropout), name="simple_cnn")


def build_lenet5(input_shape, num_classes, dropout=0.0, batchnorm=False, width=1.0):
    """LeCun et al. 1998 with ReLU and max pooling; 'same' padding on 28x28 keeps its 5x5 map."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    first_padding = "same" if input_shape[0] < 32 else "valid"
    x = _conv(layers, inputs, _units(6, width), 5, batchnorm, padding=first_padding)
    x = layers.MaxPooling2D()(x)
    x = _conv(layers, x, _units(16, width), 5, batchnorm, padding="valid")
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(_units(120, width), activation="relu")(x)
    x = layers.Dense(_units(84, width), activation="relu")(x)
    return keras.Model(inputs, _head(layers, x, num_classes, dropout), name="lenet5")


def build_keras_convnet(input_shape, num_classes, dropout=0.5, batchnorm=False, width=1.0):
    """keras-io examples/vision/mnist_convnet.py: two conv blocks, dropout, softmax."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64):
        x = _conv(layers, x, _units(filters, width), 3, batchnorm, padding="valid")
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, _head(layers, x, num_classes, dropout), name="keras_convnet")


def build_vgg_small(input_shape, num_classes, dropout=0.3, batchnorm=True, width=1.0):
    """Three VGG blocks (two 3x3 convs each, BatchNorm, pooling), global average pooling."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64, 128):
        for _ in range(2):
            x = _conv(layers, x, _units(filters, width), 3, batchnorm)
        x = layers.MaxPooling2D()(x)
        if dropout:
            x = layers.Dropout(dropout / 2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(_units(128, width), activation="relu")(x)
    return keras.Model(inputs, _head(layers, x, num_classes, dropout), name="vgg_small")


def build_resnet_small(input_shape, num_classes, dropout=0.0, batchnorm=True, width=1.0):
    """ResNet-20 (He et al. 2016, CIFAR variant): 3 stages x 3 basic blocks, 16/32/64 filters."""
    import keras
    from keras import layers

    def block(x, filters, strides):
        shortcut = x
        y = _conv(layers, x, filters, 3, batchnorm, strides=strides)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=not batchnorm)(y)
        if batchnorm:
            y = layers.BatchNormalization()(y)
        if strides != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=not batchnorm)(shortcut)
            if batchnorm:
                shortcut = layers.BatchNormalization()(shortcut)
        return layers.Activation("relu")(layers.Add()([y, shortcut]))

    inputs = keras.Input(input_shape)
    x = _conv(layers, inputs, _units(16, width), 3, batchnorm)
    for stage, base in enumerate((16, 32, 64)):
        for i in range(3):
            x = block(x, _units(base, width), 2 if stage > 0 and i == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, _head(layers, x, num_classes, dropout), name="resnet_small")


REGISTRY: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("mlp", "MLP", "Two dense layers (256, 128); the no-convolution baseline.", build_mlp),
        Architecture(
            "simple_cnn", "Simple CNN", "Conv32 - MaxPool - Dense128: the tutorial network.", build_simple_cnn
        ),
        Architecture("lenet5", "LeNet-5", "LeCun's 1998 digit network (ReLU, max pooling).", build_lenet5),
        Architecture(
            "keras_convnet",
            "Keras MNIST convnet",
            "The Keras example: two conv blocks (32, 64), then dropout and softmax.",
            build_keras_convnet,
        ),
        Architecture(
            "vgg_small",
            "Small VGG",
            "Three VGG blocks of two 3x3 convolutions each; strong on Fashion-MNIST.",
            build_vgg_small,
        ),
        Architecture("resnet_small", "ResNet-20", "ResNet-20 for 32x32 inputs (He et al. 2016).", build_resnet_small),
        Architecture(
            "vgg_small_norm",
            "Normalised VGG",
            "Small VGG that normalises each image first: for small colour datasets (the small-data recipe).",
            architectures.build_vgg_small_norm,
        ),
        Architecture(
            "mobilenet_v3_small",
            "MobileNetV3-Small",
            "ImageNet-pretrained MobileNetV3-Small, frozen, with a new head: needs its weights file.",
            pretrained.builder("mobilenet_v3_small"),
            uses_width=False,
        ),
        Architecture(
            "efficientnet_b0",
            "EfficientNet-B0",
            "ImageNet-pretrained EfficientNet-B0, frozen, with a new head: needs its weights file.",
            pretrained.builder("efficientnet_b0"),
            uses_width=False,
        ),
    )
}


def names() -> list[str]:
    return list(REGISTRY)


def title(name: str) -> str:
    """The one display name of an architecture ('ResNet-20'); an unknown id is shown as it is."""
    arch = REGISTRY.get(name)
    return arch.title if arch else name


def description(name: str) -> str:
    """What the architecture is, with its own defaults read from its builder, so the text and the
    knobs it starts with cannot disagree (the Keras convnet's text once said dropout 0.5 over a 0.25)."""
    knobs = defaults(name)
    said = [f"dropout {knobs['dropout']:g}"] if "dropout" in knobs else []
    if "batchnorm" in knobs:
        said.append("BatchNorm " + ("on" if knobs["batchnorm"] else "off"))
    return REGISTRY[name].description + (f" Defaults: {', '.join(said)}." if said else "")


ARCHITECTURE_KNOBS = ("dropout", "batchnorm", "width")


def defaults(name: str) -> dict:
    """The architecture's own dropout, BatchNorm and width: its builder's defaults, the one place they live."""
    if name not in REGISTRY:
        return {}
    params = inspect.signature(REGISTRY[name].build).parameters
    return {k: params[k].default for k in ARCHITECTURE_KNOBS if k in params}


def build(name, input_shape, num_classes, dropout=0.0, batchnorm=False, width=1.0):
    """Build an uncompiled keras.Model; raises KeyError for an unknown name."""
    return REGISTRY[name].build(tuple(input_shape), int(num_classes), dropout=dropout, batchnorm=batchnorm, width=width)


def layer_table(model) -> list[dict]:
    """One row per layer: name, type, output shape, parameters (for the Model page)."""
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape) if shape is not None else ()
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output shape": str(tuple(None if d is None else int(d) for d in shape)),
                "parameters": int(layer.count_params()),
            }
        )
    return rows


# optimizer -> float32 slots kept per weight besides the weight and its gradient
OPTIMIZER_SLOTS = {"sgd": 1, "rmsprop": 1, "adam": 2, "adamw": 2}


def activations_per_image(model) -> int:
    """Values every layer outputs for one image (the input included): what a batch keeps for backprop."""
    total = 0
    for layer in model.layers:
        output = getattr(layer, "output", None)
        if output is not None:
            total += math.prod(int(d) for d in output.shape[1:] if d is not None)
    return total


def training_memory_bytes(parameters: int, activations: int, batch_size: int, optimizer: str = "adam") -> int:
    """A rough float32 estimate of training memory for one batch.

    Weights, gradients and optimizer slots, plus every layer's activations and
    their gradients for the batch. Frameworks add workspace on top, so treat it
    as a lower bound that scales the right way with batch size and width.
    """
    weights = parameters * (2 + OPTIMIZER_SLOTS.get(optimizer, 2))
    return 4 * (weights + 2 * activations * batch_size)
