"""Evaluating a finished run: its model's predictions on the test split, summarised.

`evaluate_run` loads a run's model, predicts its test split once and caches the
probabilities beside the model file, so the Evaluate page and `cli evaluate`
never predict twice. The arithmetic is in lib.inference.metrics.
"""

from __future__ import annotations

import numpy as np

from lib import model_files
from lib.data import datasets
from lib.inference.metrics import Evaluation, summarise


def predict_test_split(store, run_id: str, batch_size: int = 512) -> np.ndarray:
    """The run's model's probabilities on its test split, cached next to the model file."""
    model_path = store.model_path(run_id, "model")
    if not model_path.exists():
        raise FileNotFoundError(f"run {run_id} has no saved model yet")
    cache = store.run_dir(run_id) / "test_predictions.npz"
    stamp = model_path.stat().st_mtime_ns
    if cache.exists():
        with np.load(cache) as saved:
            if int(saved["stamp"]) == stamp:
                return saved["probabilities"]
    config = store.get(run_id).config
    _, (x_test, _) = datasets.load_raw(config.dataset, config.data_dir)
    model = model_files.load_model(model_path)
    probabilities = model.predict(datasets.normalise(x_test), batch_size=batch_size, verbose=0)
    np.savez_compressed(cache, probabilities=probabilities, stamp=stamp)
    return probabilities


def evaluate_run(store, run_id: str) -> Evaluation:
    config = store.get(run_id).config
    _, (_, y_test) = datasets.load_raw(config.dataset, config.data_dir)
    probabilities = predict_test_split(store, run_id)
    return summarise(probabilities, y_test, datasets.info(config.dataset).class_names)
