"""Cached look-ups the pages share: dataset summaries, model summaries, the device.

Each returns small plain data (counts, sample strips, table rows), never the
dataset arrays or a Keras model, so the caches stay small and picklable.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from lib import devices, models
from lib.charts import curves
from lib.data import datasets

SAMPLES_PER_CLASS = 8
MAX_CLASSES_SHOWN = 20


@st.cache_data(ttl=10, show_spinner=False)
def device() -> dict:
    """The GPUs (name, memory) or the CPU; nvidia-smi is asked at most every 10 s."""
    gpus = devices.gpus()
    return {"summary": devices.summary(), "gpus": [g.__dict__ for g in gpus], "has_gpu": bool(gpus)}


@st.cache_data(show_spinner="Reading the dataset...", max_entries=8)
def dataset_summary(name: str, data_dir: str | None) -> dict:
    """Sizes, per-class counts and a strip of sample images per class. Raises DatasetUnavailable."""
    meta = datasets.info(name)
    (x_train, y_train), (x_test, y_test) = datasets.load_raw(name, data_dir, allow_download=False)
    classes = range(min(meta.num_classes, MAX_CLASSES_SHOWN))
    return {
        "train_size": len(x_train),
        "test_size": len(x_test),
        "train_counts": np.bincount(y_train, minlength=meta.num_classes).tolist(),
        "test_counts": np.bincount(y_test, minlength=meta.num_classes).tolist(),
        "strips": [curves.sample_strip(x_train, y_train, c, SAMPLES_PER_CLASS) for c in classes],
        "folder": str(datasets.locate(name, data_dir) or ""),
    }


@st.cache_data(show_spinner="Building the model...", max_entries=32)
def model_summary(architecture: str, input_shape: tuple, num_classes: int, dropout: float, batchnorm: bool, width):
    """Layer table, parameter count and activations per image; the only place the UI builds a model."""
    import keras

    model = models.build(architecture, input_shape, num_classes, dropout=dropout, batchnorm=batchnorm, width=width)
    summary = {
        "layers": models.layer_table(model),
        "parameters": int(model.count_params()),
        "activations": models.activations_per_image(model),
    }
    del model
    keras.backend.clear_session()  # the server builds many models over its life; free their graphs
    return summary
