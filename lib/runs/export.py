"""Taking a model away: .keras, TensorFlow SavedModel, TFLite; a run's config and metrics.

SavedModel and TFLite go through Keras's own `model.export` and TensorFlow's
converter, so what a user gets is what TensorFlow Serving and TFLite runtimes read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from lib import atomic_files, model_files

FORMATS = ("keras", "savedmodel", "tflite")


class ExportError(RuntimeError):
    """The export cannot be made (no model yet, unknown format, unwritable target)."""


def export_model(store, run_id: str, fmt: str, out: str | Path) -> Path:
    """Write the run's final model to `out` in `fmt`; returns the path written.

    The source must pass lib.model_files' checks (no link, not empty, not a zip bomb), and
    every format is written beside `out` and renamed into place, so `out` is never half a file.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    source = store.model_path(run_id, "model")
    if not os.path.lexists(source):
        raise ExportError(f"run {run_id} has no saved model yet (status: {store.get(run_id).status})")
    out = Path(out)
    if out.exists() and fmt == "savedmodel" and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":
        data = model_files.read_model_bytes(source, store.root)
        model_files.load_model(source, store.root)  # an archive that does not load is not worth exporting
        atomic_files.write_bytes(out, data)
        return out
    model = model_files.load_model(source, store.root)
    if fmt == "savedmodel":
        atomic_files.replace_folder(out, lambda tmp: model.export(str(tmp), format="tf_saved_model", verbose=False))
        return out
    atomic_files.write_bytes(out, tflite_bytes(model))
    return out


def tflite_bytes(model) -> bytes:
    """Convert through a SavedModel: the route TensorFlow supports for Keras 3 models."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(tmp).convert()


def run_json(store, run_id: str) -> str:
    """Everything about a run in one JSON document: settings, results and per-epoch metrics."""
    run = store.get(run_id)
    return json.dumps(
        {
            "run_id": run.id,
            "status": run.status,
            "parent_id": run.parent_id,
            "created": run.created,
            "started": run.started,
            "finished": run.finished,
            "device": run.device,
            "config": run.config.to_dict(),
            "test_accuracy": run.test_accuracy,
            "test_loss": run.test_loss,
            "epochs_completed": run.epochs_completed,
            "metrics": run.metrics,
            "error": run.error,
            "epochs": store.epochs(run_id),
        },
        indent=2,
    )


EPOCH_CSV_COLUMNS = (
    "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "images_per_second", "seconds",
)  # fmt: skip


def epochs_csv(store, run_id: str) -> str:
    """Per-epoch metrics as CSV (the columns a spreadsheet user wants; no nested data)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EPOCH_CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(store.epochs(run_id))
    return buffer.getvalue()
