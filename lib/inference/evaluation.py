"""Evaluating a finished run: its model's predictions on the test split, summarised.

`evaluate_run` loads a run's model, predicts its test split once and caches the
probabilities beside the model file, so the Evaluate page and `cli evaluate`
never predict twice. The arithmetic is in lib.inference.metrics.
"""

from __future__ import annotations

import numpy as np

from lib import atomic_files, model_files
from lib.data import datasets
from lib.inference.metrics import Evaluation, summarise


def batches(x, batch_size: int):
    """Model inputs in slices: a built-in array normalised, a custom dataset's ImageFiles decoded.

    Custom datasets stream from PNG files (ImageFiles), which model.predict cannot take;
    decoding a slice at a time keeps memory to one batch whatever the test split's size.
    """
    for start in range(0, len(x), batch_size):
        part = x[start : start + batch_size]
        yield part.to_array() if hasattr(part, "to_array") else datasets.normalise(part)


def predict_test_split(store, run_id: str, batch_size: int = 512) -> np.ndarray:
    """The run's model's probabilities on its test split, cached next to the model file."""
    model_path = store.model_path(run_id, "model")
    if not model_path.exists() and not model_path.is_symlink():
        raise FileNotFoundError(f"run {run_id} has no saved model yet")
    model_files.check_model_file(model_path, store.root)
    cache = store.run_dir(run_id) / "test_predictions.npz"
    stamp = model_path.stat().st_mtime_ns
    if cache.exists():
        try:
            with np.load(cache) as saved:
                if int(saved["stamp"]) == stamp:
                    return saved["probabilities"]
        except (OSError, ValueError, KeyError, EOFError):  # a damaged cache is recomputed, not fatal
            pass
    config = store.get(run_id).config
    _, (x_test, _) = datasets.load_raw(config.dataset, config.data_dir)
    model = model_files.load_model(model_path, store.root)
    parts = [model.predict(x, batch_size=batch_size, verbose=0) for x in batches(x_test, batch_size)]
    probabilities = np.concatenate(parts) if parts else np.zeros((0, model.output_shape[-1]), np.float32)
    with atomic_files.replacing(cache) as temp:
        np.savez_compressed(temp, probabilities=probabilities, stamp=stamp)
    return probabilities


def evaluate_run(store, run_id: str) -> Evaluation:
    config = store.get(run_id).config
    _, (_, y_test) = datasets.load_raw(config.dataset, config.data_dir)
    probabilities = predict_test_split(store, run_id)
    return summarise(probabilities, y_test, datasets.info(config.dataset).class_names)
