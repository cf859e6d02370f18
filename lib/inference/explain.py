"""Why did the model say that? Grad-CAM, saliency, feature maps and first-layer filters.

Grad-CAM (Selvaraju et al. 2017) weights the last convolutional feature maps by
how much the predicted class's score grows with each, giving a coarse map of
the regions that made the decision. A model without convolutions (the MLP) has
no such maps, so it gets a saliency map instead: the gradient of the class
score with respect to each input pixel.

The gradient work needs TensorFlow and is imported lazily; the colouring and
blending at the bottom are plain numpy, usable without it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Layers whose 4-D output is not a feature map worth explaining: pooling only
# shrinks the last map, dropout is the identity at inference.
_NOT_FEATURE_MAPS = ("Pooling", "Dropout", "InputLayer", "ZeroPadding", "Cropping")

_grad_models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Explanation:
    kind: str  # "Grad-CAM" or "saliency"
    heat: np.ndarray  # H x W in [0, 1], the model input's size
    layer: str | None = None  # the layer Grad-CAM looked at


# -- which layer -------------------------------------------------------------------
# Element-wise layers that finish a conv block: a conv's map is shown after them, not before.
_BLOCK_TAIL = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU")


def _is_feature_map(layer) -> bool:
    shape = getattr(layer, "output", None) is not None and layer.output.shape
    return bool(shape) and len(shape) == 4 and not any(word in type(layer).__name__ for word in _NOT_FEATURE_MAPS)


def feature_layers(model) -> list:
    """Layers whose output is a finished feature map: Conv -> BatchNorm -> ReLU counts once, at the ReLU."""
    layers = model.layers
    out = []
    for i, layer in enumerate(layers):
        following = type(layers[i + 1]).__name__ if i + 1 < len(layers) else ""
        if _is_feature_map(layer) and following not in _BLOCK_TAIL:
            out.append(layer)
    return out


def has_conv(model) -> bool:
    return any("Conv" in type(layer).__name__ for layer in model.layers)


def last_feature_layer(model):
    """The last layer producing a spatial feature map (after the last conv's BatchNorm/ReLU), or None."""
    if not has_conv(model):
        return None
    maps = feature_layers(model)
    return maps[-1] if maps else None


# -- the maps -------------------------------------------------------------------------
def _log_score(probs, class_index):
    import keras

    # log p instead of p: a confident softmax is flat (p ~ 1) and its gradient
    # vanishes; log p keeps the direction and a usable size.
    return keras.ops.log(probs[:, class_index] + 1e-12)


def gradcam(model, x: np.ndarray, class_index: int) -> Explanation:
    """Grad-CAM for one model input (H x W x C) and class, upsampled to the input's size."""
    import keras
    import tensorflow as tf

    layer = last_feature_layer(model)
    if layer is None:
        raise ValueError("Grad-CAM needs a convolutional layer; use saliency() for this model")
    grad_model = _grad_models.get(model)
    if grad_model is None or grad_model.name != f"gradcam_{layer.name}":
        grad_model = keras.Model(model.input, [layer.output, model.output], name=f"gradcam_{layer.name}")
        _grad_models[model] = grad_model
    batch = tf.convert_to_tensor(np.asarray(x, dtype=np.float32)[None])
    with tf.GradientTape() as tape:
        maps, probs = grad_model(batch, training=False)
        score = _log_score(probs, class_index)
    grads = tape.gradient(score, maps)
    weights = tf.reduce_mean(grads, axis=(1, 2))  # one weight per channel: its average gradient
    cam = tf.nn.relu(tf.reduce_sum(maps * weights[:, None, None, :], axis=-1))[0].numpy()
    return Explanation("Grad-CAM", _resize(_normalise(cam), x.shape[:2]), layer.name)


def saliency(model, x: np.ndarray, class_index: int) -> Explanation:
    """|d log p(class) / d pixel|, the largest over colour channels, for one model input."""
    import tensorflow as tf

    batch = tf.convert_to_tensor(np.asarray(x, dtype=np.float32)[None])
    with tf.GradientTape() as tape:
        tape.watch(batch)
        score = _log_score(model(batch, training=False), class_index)
    grads = tape.gradient(score, batch)[0].numpy()
    return Explanation("saliency", _normalise(np.abs(grads).max(axis=-1)))


def explain(model, x: np.ndarray, class_index: int) -> Explanation:
    """Grad-CAM where the model has convolutions, saliency otherwise."""
    return gradcam(model, x, class_index) if last_feature_layer(model) is not None else saliency(model, x, class_index)


def feature_maps(model, x: np.ndarray, max_layers: int = 8) -> list[tuple[str, np.ndarray]]:
    """(layer name, H x W x channels) for the first `max_layers` feature-map layers, for one input."""
    import keras

    layers = feature_layers(model)[:max_layers]
    if not layers:
        return []
    probe = keras.Model(model.input, [layer.output for layer in layers])
    outputs = probe(np.asarray(x, dtype=np.float32)[None], training=False)
    if not isinstance(outputs, list | tuple):
        outputs = [outputs]
    return [(layer.name, np.asarray(out)[0]) for layer, out in zip(layers, outputs, strict=True)]


def first_layer_filters(model) -> np.ndarray | None:
    """The first convolution's kernels as (filters, kh, kw, in_channels), each scaled to [0, 1]; None without one."""
    for layer in model.layers:
        if "Conv" in type(layer).__name__ and layer.get_weights():
            kernel = np.moveaxis(np.asarray(layer.get_weights()[0]), -1, 0)
            low = kernel.min(axis=(1, 2, 3), keepdims=True)
            span = kernel.max(axis=(1, 2, 3), keepdims=True) - low
            return (kernel - low) / np.where(span > 0, span, 1)
    return None


# -- drawing (numpy only) ----------------------------------------------------------------
def _normalise(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _resize(values: np.ndarray, size) -> np.ndarray:
    height, width = size
    if values.shape == (height, width):
        return values
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    return np.clip(np.asarray(image.resize((width, height), Image.Resampling.BILINEAR)), 0, 1)


def colormap(heat: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB on a jet-like scale (blue cold, red hot)."""
    h = np.clip(heat, 0, 1)[..., None]
    centres = np.array([0.75, 0.5, 0.25])  # where red, green and blue peak
    rgb = np.clip(1.5 - np.abs(4 * h - 4 * centres), 0, 1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def overlay(model_input: np.ndarray, heat: np.ndarray, scale: int = 5, strength: float = 0.6) -> Image.Image:
    """The model input with the heat map over it, blown up `scale` times; cold regions stay see-through."""
    base = np.clip(np.asarray(model_input, dtype=np.float32), 0, 1)
    if base.ndim == 3 and base.shape[-1] == 1:
        base = base[..., 0]
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=-1)
    height, width = base.shape[:2]
    size = (height * scale, width * scale)
    base = np.asarray(
        Image.fromarray((base * 255 + 0.5).astype(np.uint8)).resize(size[::-1], Image.Resampling.NEAREST),
        dtype=np.float32,
    )
    heat = _resize(np.asarray(heat, dtype=np.float32), size)
    alpha = (strength * heat)[..., None]
    blended = base * (1 - alpha) + colormap(heat).astype(np.float32) * alpha
    return Image.fromarray(np.clip(blended + 0.5, 0, 255).astype(np.uint8))
