"""Transfer learning: a keras.applications backbone with ImageNet weights, frozen, and a small new head.

With a few dozen images a class, features learnt from ImageNet beat anything
learnt from scratch; the backbone is frozen (its BatchNorm kept in inference
mode) so only the head learns at first, and `unfreeze_top` lets a fine-tune
run train the top layers too at a lower rate (Keras's transfer-learning guide).

Weights are looked for offline first, like the datasets: the Keras cache
(`~/.keras/models/`, or `$KERAS_HOME/models/`), then `models/` in the data
folder; only then downloaded (not with CONVSTUDIO_OFFLINE=1), giving up within
30 s. When none of that works, WeightsMissing names the exact file, where to
put it and where it comes from, and points to the from-scratch recipe.

Inputs stay what every ConvStudio model takes (float32 in [0, 1], grey or RGB):
the model itself repeats a grey channel three times, scales small images up and
multiplies by 255, since both backbones bring their own ImageNet
preprocessing and expect 0..255. Every layer is a stock Keras layer (no
Lambda), so safe-mode loading accepts the saved model.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from lib import settings

MIN_SIDE = 96  # smaller images are scaled up to this: ImageNet features need some pixels to work on
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class Backbone:
    name: str  # the architecture name in lib.models
    title: str
    application: str  # the keras.applications function
    weights_file: str  # the name Keras itself caches the no-top ImageNet weights under
    url: str
    md5: str  # Keras's own hash for that file
    options: tuple = ()  # extra keyword arguments for the application


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone(
            "mobilenet_v3_small", "MobileNetV3-Small (ImageNet)", "MobileNetV3Small",
            "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
            "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            "d3e8ec802a04aa4fc771ee12a9a9b836", (("include_preprocessing", True),),
        ),
        Backbone(
            "efficientnet_b0", "EfficientNet-B0 (ImageNet)", "EfficientNetB0", "efficientnetb0_notop.h5",
            "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
            "50bc09e76180e00e4465e1a485ddc09d",
        ),
    )
}  # fmt: skip


class WeightsMissing(RuntimeError):
    """No ImageNet weights file could be found or downloaded; str() says which file and where to put it."""


# -- finding the weights -----------------------------------------------------------------
def weight_folders() -> list[Path]:
    """Where a weights file is looked for, in order: the Keras cache, then the data folder's models/."""
    return [settings.keras_home() / "models", settings.data_root() / "models"]


def find_weights(backbone: Backbone) -> Path | None:
    for folder in weight_folders():
        path = folder / backbone.weights_file
        if path.is_file():
            return path
    return None


def resolve_weights(backbone: Backbone) -> Path:
    """The weights file: found offline, else downloaded into the Keras cache; WeightsMissing if neither."""
    found = find_weights(backbone)
    if found is not None:
        return found
    if settings.offline():
        raise WeightsMissing(missing_message(backbone, "downloads are off (CONVSTUDIO_OFFLINE=1)"))
    return download(backbone)


def download(backbone: Backbone) -> Path:
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # no network must mean a message soon, not a hang
    try:
        path = keras.utils.get_file(backbone.weights_file, backbone.url, cache_subdir="models", file_hash=backbone.md5)
    except Exception as exc:  # get_file wraps every network failure differently; all mean "not here"
        raise WeightsMissing(missing_message(backbone, f"the download failed ({type(exc).__name__})")) from None
    finally:
        socket.setdefaulttimeout(previous)
    return Path(path)


def missing_message(backbone: Backbone, why: str) -> str:
    folders = " or ".join(f"{f}/" for f in weight_folders())
    return (
        f"{backbone.title} needs its ImageNet weights file {backbone.weights_file}, which is not on this server "
        f"and {why}. Put that file (from {backbone.url}) in {folders}, or train from scratch with the "
        "recommended small-data recipe instead."
    )


# -- the model ---------------------------------------------------------------------------
def build(name: str, input_shape, num_classes: int, dropout: float = 0.2, weights: Path | str | None = "imagenet"):
    """[0, 1] images -> frozen backbone (weights "imagenet": resolved as above; a path; or None) -> new head."""
    import keras
    from keras import layers

    backbone_spec = BACKBONES[name]
    height, width, channels = (int(d) for d in input_shape)
    side = max(MIN_SIDE, height, width)
    inputs = keras.Input((height, width, channels))
    x = layers.Concatenate(name="grey_to_rgb")([inputs] * 3) if channels == 1 else inputs
    if (height, width) != (side, side):
        x = layers.Resizing(side, side, name="to_backbone_size")(x)
    x = layers.Rescaling(255.0, name="to_0_255")(x)  # the backbone's own preprocessing expects 0..255
    application = getattr(keras.applications, backbone_spec.application)
    backbone = application(
        input_shape=(side, side, 3), include_top=False, weights=None, pooling="avg", **dict(backbone_spec.options)
    )
    if weights is not None:
        path = resolve_weights(backbone_spec) if weights == "imagenet" else Path(weights)
        load_backbone_weights(backbone, path, backbone_spec)
    backbone.trainable = False
    x = backbone(x, training=False)  # BatchNorm stays in inference mode, even when the top is unfrozen later
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{name}_transfer")


def load_backbone_weights(backbone, path: Path, spec: Backbone) -> None:
    try:
        backbone.load_weights(str(path))
    except Exception as exc:  # h5py, Keras and numpy each raise their own type for a wrong or damaged file
        raise WeightsMissing(
            f"{path} is not usable as {spec.title} weights ({type(exc).__name__}): replace it with "
            f"{spec.weights_file} from {spec.url}, or train from scratch with the small-data recipe."
        ) from None


def backbone_of(model):
    """The nested keras.applications model inside a model `build` made."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    raise ValueError(f"{model.name} has no pretrained backbone")


def unfreeze_top(model, count: int) -> int:
    """Make the backbone's top `count` weighted layers trainable (BatchNorm stays frozen); returns how many."""
    from keras import layers

    backbone = backbone_of(model)
    backbone.trainable = True
    weighted = [layer for layer in backbone.layers if layer.weights]
    opened = 0
    for position, layer in enumerate(weighted):
        top = position >= len(weighted) - max(0, int(count))
        layer.trainable = top and not isinstance(layer, layers.BatchNormalization)
        opened += int(layer.trainable)
    return opened


# -- lib.models' registry ----------------------------------------------------------------
def builder(name: str):
    """A registry builder (input_shape, num_classes, dropout, batchnorm, width) for backbone `name`.

    It uses the weights file when it is on this server and random weights when not,
    so the Model page can show the layers and parameter count offline; training
    calls `require_weights` first, which refuses clearly instead.
    """

    def build_transfer(input_shape, num_classes, dropout=0.2, batchnorm=False, width=1.0):
        return build(name, input_shape, num_classes, dropout=dropout, weights=find_weights(BACKBONES[name]))

    build_transfer.__doc__ = f"{BACKBONES[name].title}, frozen, with a new softmax head."
    return build_transfer


def require_weights(architecture: str) -> None:
    """Before training a pretrained architecture: its weights are here, or are downloaded, or WeightsMissing."""
    if architecture in BACKBONES:
        resolve_weights(BACKBONES[architecture])
