"""A run's evaluation, cached: predicting the test split, loading the model, feature maps.

Everything heavy is cached per run id and model file time, so a rerun of a page
redraws in milliseconds and a run trained further (a new file time) is evaluated
afresh. TensorFlow is only imported when one of these caches is filled.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from lib.charts import diagnostics
from lib.data import datasets
from lib.inference import evaluation, explain, prediction
from lib.runs.store import Run, Store

LAST_DRAWING_KEY = "cs_last_drawing"  # {"dataset": name, "input": H x W x C float array}; set by Predict


def model_version(store: Store, run_id: str) -> int:
    """The model file's time: with the run id, the key of every cache below (the store is not hashed)."""
    return prediction.file_version(store.model_path(run_id))


@st.cache_data(max_entries=8, show_spinner="Predicting the test set...")
def evaluation_data(_store: Store, run_id: str, version: int) -> dict:
    """Test accuracy, loss, confusion matrix, per-class metrics, mistakes and each image's prediction."""
    result = evaluation.evaluate_run(_store, run_id)
    probabilities = np.asarray(result.probabilities, dtype=np.float32)
    return {
        "accuracy": result.accuracy,
        "loss": result.loss,
        "confusion": result.confusion,
        "per_class": result.per_class,
        "mistakes": result.mistakes,
        "class_names": list(result.class_names),
        "y_true": result.y_true,
        "y_pred": probabilities.argmax(axis=1),
        "confidence": probabilities.max(axis=1),
    }


@st.cache_resource(max_entries=2, show_spinner="Reading the test images...")
def test_images(dataset: str, data_dir: str | None):
    """The test split's images (uint8, N x H x W x C), shared read-only by every session."""
    _, (x_test, _) = datasets.load_raw(dataset, data_dir, allow_download=False)
    return x_test


def test_image(run: Run, index: int) -> np.ndarray:
    return np.asarray(test_images(run.config.dataset, run.config.data_dir)[int(index)])


def model_input(image: np.ndarray) -> np.ndarray:
    """A stored test image as the model sees it (float32 in [0, 1])."""
    image = np.asarray(image)
    return datasets.normalise(image) if image.dtype == np.uint8 else image.astype(np.float32)


def _model(store: Store, run_id: str, version: int):
    return prediction.load_model(store.model_path(run_id), version)  # kept loaded per (file, time)


@st.cache_data(max_entries=16, show_spinner="Reading the model's layers...")
def conv_summary(_store: Store, run_id: str, version: int) -> dict:
    """First-layer filters (None without a conv layer) and the layers whose feature maps can be shown."""
    model = _model(_store, run_id, version)
    layers = explain.feature_layers(model) if explain.has_conv(model) else []
    return {
        "has_conv": explain.has_conv(model),
        "filters": explain.first_layer_filters(model),
        "layers": [(layer.name, tuple(layer.output.shape[1:])) for layer in layers],
    }


@st.cache_data(max_entries=64, show_spinner="Computing feature maps...")
def layer_feature_maps(_store: Store, run_id: str, version: int, layer_index: int, image: np.ndarray) -> np.ndarray:
    """The activations (H x W x channels) of the `layer_index`-th feature layer for one model input."""
    model = _model(_store, run_id, version)
    maps = explain.feature_maps(model, image, max_layers=layer_index + 1)
    return maps[layer_index][1]


# -- small views ----------------------------------------------------------------------------
def image_grid(images, captions, width: int = 84) -> None:
    """Images side by side, wrapping; each enlarged with sharp pixels to about `width`."""
    if not images:
        return
    scale = max(1, width // max(1, np.asarray(images[0]).shape[1]))
    st.image([diagnostics.enlarge(i, scale) for i in images], caption=list(captions), width=width)


def top3_text(top3, class_names) -> str:
    return " · ".join(f"{class_names[c]} {p:.0%}" for c, p in top3)
