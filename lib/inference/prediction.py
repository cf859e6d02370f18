"""Load a run's model once, then turn model inputs into class probabilities.

Loading a .keras file takes a second or more; a prediction for one image takes
milliseconds. So a model is loaded once per (file, modification time) and kept:
a rerun of the page, a new stroke on the canvas or a second CLI file reuses it,
and a run that is retrained (a new file time) is picked up on the next call.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib import model_files
from lib.data import datasets

MAX_CACHED_MODELS = 4  # a few runs compared side by side; each lenet5 is < 1 MB, a resnet_small ~ 3 MB
PREDICTABLE = ("completed", "stopped")  # stopped runs keep the model trained so far

_models: OrderedDict[tuple[str, int], object] = OrderedDict()
_lock = threading.Lock()
_forward_fns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ModelUnavailable(RuntimeError):
    """The run has no usable model (still training, failed, or the file is gone)."""


@dataclass(frozen=True)
class Prediction:
    class_index: int
    label: str
    confidence: float
    probabilities: tuple[float, ...]

    def to_dict(self) -> dict:
        return {
            "class_index": self.class_index,
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": list(self.probabilities),
        }


def model_file(store, run_id: str) -> Path:
    """The model file of a finished run, or ModelUnavailable saying why there is none."""
    run = store.get(run_id)
    if run.status not in PREDICTABLE:
        raise ModelUnavailable(f"run {run_id} is {run.status}; only completed or stopped runs have a model to use")
    path = store.model_path(run_id, "model")
    if not path.is_file():
        raise ModelUnavailable(f"run {run_id} has no model file ({path}); it may have been deleted")
    return model_files.check_model_file(path, store.root)


def file_version(path: Path) -> int:
    """The file's modification time in ns: part of the cache key, so a rewritten model is reloaded."""
    return Path(path).stat().st_mtime_ns


def load_model(path, version: int | None = None):
    """The Keras model at `path`, loaded once per (path, modification time)."""
    path = str(Path(path).absolute())  # not resolve(): a link must reach model_files to be refused there
    key = (path, file_version(path) if version is None else version)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    model = model_files.load_model(path)  # outside the lock: loading may take a second
    with _lock:
        for old in [k for k in _models if k[0] == path]:
            del _models[old]  # an older version of the same file will not be asked for again
        _models[key] = model
        while len(_models) > MAX_CACHED_MODELS:
            _models.popitem(last=False)
    return model


def load_run_model(store, run_id: str):
    """(run, dataset info, model) for a finished run."""
    path = model_file(store, run_id)
    run = store.get(run_id)
    return run, datasets.info(run.config.dataset), load_model(path)


def forward(model):
    """The model's forward pass as one traced TensorFlow graph, made once per model.

    model.predict sets up a data adapter and a prediction loop on every call
    (~50 ms for one image); an eager model(x) walks the layers in Python (~4 ms
    for LeNet-5); this graph runs in well under 1 ms. Any batch size reuses the
    same trace (the batch dimension is left open).
    """
    with _lock:
        fn = _forward_fns.get(model)
    if fn is None:
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], autograph=False)
        with _lock:
            _forward_fns[model] = fn
    return fn


def warm_up(model) -> None:
    """Trace the forward pass once (a second or more) so that the first real prediction is fast."""
    forward(model)(np.zeros((1, *model.input_shape[1:]), np.float32))


def probabilities(model, batch: np.ndarray) -> np.ndarray:
    """Model inputs (N x H x W x C, or one H x W x C) -> N x classes probabilities."""
    x = np.asarray(batch, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    expected = tuple(model.input_shape[1:])
    if x.shape[1:] != expected:
        raise ValueError(f"the model expects inputs of shape {expected}, got {x.shape[1:]}")
    return np.asarray(forward(model)(x), dtype=np.float64)


def to_predictions(probs: np.ndarray, class_names) -> list[Prediction]:
    out = []
    for row in np.atleast_2d(probs):
        index = int(np.argmax(row))
        label = class_names[index] if index < len(class_names) else str(index)
        out.append(Prediction(index, label, float(row[index]), tuple(float(p) for p in row)))
    return out


def predict(model, batch: np.ndarray, class_names) -> list[Prediction]:
    return to_predictions(probabilities(model, batch), class_names)
