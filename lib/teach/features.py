"""The penultimate layer's features: what a model "sees" of an image just before it decides.

Both the label suspects and the projector start here. Images may be a float32
array or a custom dataset's lazy ImageFiles (anything with `to_array` on a
slice): they are decoded a chunk at a time, so 5,000 images never sit in
memory as more than one chunk plus their features.
"""

from __future__ import annotations

import numpy as np

CHUNK = 512
HEAD_NAME = "predictions"  # every registry model names its softmax layer so (lib.models._head)


def penultimate_model(model):
    """A keras.Model from `model`'s input to the input of its final classification layer."""
    import keras

    try:
        head = model.get_layer(HEAD_NAME)
    except ValueError:
        head = model.layers[-1]  # a model built elsewhere: its last layer is the classifier
    return keras.Model(model.inputs, head.input, name=f"{model.name}_features")


def extract(model, images, batch_size: int = 256) -> np.ndarray:
    """float32 (N, D) penultimate features of `images` (inference mode: no dropout, BatchNorm frozen)."""
    return extract_with_probabilities(model, images, batch_size)[0]


def extract_with_probabilities(model, images, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D), class probabilities (N, C)) from one pass over `images`."""
    import keras

    trunk = penultimate_model(model)
    both = keras.Model(model.inputs, [trunk.output, model.output])
    feats, probs = [], []
    for start in range(0, len(images), CHUNK):
        chunk = images[start : start + CHUNK]
        chunk = chunk.to_array() if hasattr(chunk, "to_array") else np.asarray(chunk, np.float32)
        f, p = both.predict(chunk, batch_size=batch_size, verbose=0)
        feats.append(np.asarray(f, np.float32).reshape(len(chunk), -1))
        probs.append(np.asarray(p, np.float32))
    if not feats:
        width = int(np.prod(trunk.output.shape[1:]))
        return np.zeros((0, width), np.float32), np.zeros((0, int(model.output.shape[-1])), np.float32)
    return np.concatenate(feats), np.concatenate(probs)
