"""Evaluate and act on a run: cached evaluation data, and ready-made sections for the Train and Runs pages.

Everything heavy (predicting the test split, loading a model, computing feature
maps) is cached per run id and model file time, so a rerun of a page redraws in
milliseconds and a run trained further (a new file time) is evaluated afresh.
TensorFlow is only imported when one of those caches is filled.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from lib.charts import curves, diagnostics
from lib.config import ConfigError
from lib.data import datasets
from lib.inference import evaluation, explain, prediction
from lib.runs import export, resume
from lib.runs.store import Run, Store
from ui import auth, sidebar, state

LAST_DRAWING_KEY = "cs_last_drawing"  # {"dataset": name, "input": H x W x C float array}; set by Predict
COMPARE_METRICS = {
    "val_accuracy": "validation accuracy",
    "accuracy": "train accuracy",
    "val_loss": "validation loss",
    "loss": "train loss",
}


# -- cached data --------------------------------------------------------------------------
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
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


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


# -- Train page: the live confusion matrix ---------------------------------------------------
def render_live_confusion(store: Store, run_id: str) -> None:
    """The latest epoch's confusion matrix and per-class accuracy on the fixed validation slice."""
    rows = [e for e in store.epochs(run_id) if e.get("confusion")]
    if not rows:
        st.caption("The validation confusion matrix and per-class accuracy appear here after each epoch.")
        return
    last = rows[-1]
    names = datasets.info(store.get(run_id).dataset).class_names
    counts = np.asarray(last["confusion"])
    normalised = st.toggle("Row-normalised", value=True, key="live_confusion_normalised")
    cols = st.columns(2)
    cols[0].plotly_chart(
        diagnostics.confusion_figure(counts, names, normalised, f"Validation confusion after epoch {last['epoch']}"),
        key="live_confusion",
    )
    title = f"Per-class accuracy, epoch {last['epoch']}"
    cols[1].plotly_chart(
        diagnostics.per_class_accuracy_figure(names, last["per_class_accuracy"], title),
        key="live_per_class",
    )
    st.caption(f"On a fixed slice of {int(counts.sum()):,} validation images, recomputed after every epoch.")


# -- Runs page: downloads, continue, fine-tune ---------------------------------------------------
def savedmodel_zip(store: Store, run_id: str) -> bytes:
    """The run's model as a TensorFlow SavedModel folder, zipped."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = export.export_model(store, run_id, "savedmodel", Path(tmp) / "saved_model")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, Path("saved_model") / path.relative_to(folder))
        return buffer.getvalue()


def tflite_file(store: Store, run_id: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return export.export_model(store, run_id, "tflite", Path(tmp) / "model.tflite").read_bytes()


def _message(run_id: str, text: str, ok: bool) -> None:
    st.session_state[f"cs_action_{run_id}"] = (ok, text)


def _continue(store: Store, run_id: str) -> None:
    more = int(st.session_state[f"continue_epochs_{run_id}"])
    try:
        resume.continue_run(store, run_id, more, user=auth.user(), policy=auth.policy())
    except ConfigError as exc:
        _message(run_id, f"Cannot continue: {exc.message}", False)
        return
    _message(run_id, f"Run {run_id} is queued for {more} more epoch(s); its curves carry on.", True)
    state.watch_run(run_id)


def _finetune(store: Store, run_id: str) -> None:
    lr = float(st.session_state[f"finetune_lr_{run_id}"])
    epochs = int(st.session_state[f"finetune_epochs_{run_id}"])
    try:
        new_id = resume.finetune(
            store, run_id, owner=auth.user(), policy=auth.policy(), learning_rate=lr, epochs=epochs
        )
    except ConfigError as exc:
        _message(run_id, f"Cannot fine-tune: {exc.field.replace('_', ' ')} {exc.message}", False)
        return
    _message(run_id, f"Fine-tuning queued as run {new_id} (learning rate {lr:g}, {epochs} epochs).", True)
    state.watch_run(new_id)


def render_run_actions(store: Store, run: Run) -> None:
    """Downloads (.keras, SavedModel, TFLite, JSON, CSV), continue for N epochs, fine-tune with a new LR."""
    has_model = store.model_path(run.id).is_file()
    allowed = auth.may_manage(run)  # continuing changes the run itself; a fine-tune is the user's own new run
    st.markdown("**Take it with you**")
    row = st.columns(5)
    row[0].download_button(
        ".keras model",
        data=(lambda: store.model_path(run.id).read_bytes()) if has_model else b"",
        file_name=f"{run.id}.keras",
        mime="application/octet-stream",
        disabled=not has_model,
        on_click="ignore",
        icon=":material/download:",
        key=f"dl_keras_{run.id}",
    )
    row[1].download_button(
        "SavedModel (zip)",
        data=(lambda: savedmodel_zip(store, run.id)) if has_model else b"",
        file_name=f"{run.id}-saved_model.zip",
        mime="application/zip",
        disabled=not has_model,
        on_click="ignore",
        icon=":material/folder_zip:",
        key=f"dl_savedmodel_{run.id}",
        help="TensorFlow Serving's format, made with model.export (takes a few seconds).",
    )
    row[2].download_button(
        "TFLite",
        data=(lambda: tflite_file(store, run.id)) if has_model else b"",
        file_name=f"{run.id}.tflite",
        mime="application/octet-stream",
        disabled=not has_model,
        on_click="ignore",
        icon=":material/smartphone:",
        key=f"dl_tflite_{run.id}",
        help="For phones and microcontrollers (takes a few seconds).",
    )
    row[3].download_button(
        "Config + metrics (JSON)",
        data=export.run_json(store, run.id),
        file_name=f"{run.id}.json",
        mime="application/json",
        on_click="ignore",
        key=f"dl_json_{run.id}",
    )
    row[4].download_button(
        "Epoch metrics (CSV)",
        data=export.epochs_csv(store, run.id),
        file_name=f"{run.id}-epochs.csv",
        mime="text/csv",
        on_click="ignore",
        key=f"dl_csv_{run.id}",
    )
    if not has_model:
        st.caption(f"No model file yet (the run is {run.status}): the model downloads appear once it has one.")

    st.markdown("**Keep training**")
    left, right = st.columns(2)
    with left.container(border=True):
        st.number_input("More epochs", min_value=1, max_value=500, value=3, step=1, key=f"continue_epochs_{run.id}")
        st.button(
            "Continue this run",
            on_click=_continue,
            args=(store, run.id),
            disabled=not run.is_finished or not allowed,
            icon=":material/resume:",
            key=f"continue_{run.id}",
            help="Same run, optimizer state kept: the epoch count and curves carry on."
            if allowed
            else f"Only {run.owner} or an administrator can continue this run; fine-tuning makes your own copy.",
        )
    with right.container(border=True):
        lr_key = f"finetune_lr_{run.id}"
        st.number_input(
            "New learning rate",
            min_value=1e-7,
            max_value=1.0,
            value=max(1e-7, run.config.learning_rate / 10),
            format="%.1e",
            step=1e-5,
            key=lr_key,
        )
        st.number_input(
            "Epochs", min_value=1, max_value=500, value=run.config.epochs, step=1, key=f"finetune_epochs_{run.id}"
        )
        st.button(
            "Fine-tune as a new run",
            on_click=_finetune,
            args=(store, run.id),
            disabled=not has_model,
            icon=":material/tune:",
            key=f"finetune_{run.id}",
            help="A new run that starts from this run's weights, linked to it as its parent.",
        )
    outcome = st.session_state.pop(f"cs_action_{run.id}", None)
    if outcome:
        ok, text = outcome
        (st.success if ok else st.error)(text)
        if ok:
            st.page_link("pages/train.py", label="Watch it on the Train page", icon=":material/monitoring:")


# -- Runs page: compare ---------------------------------------------------------------------------
def render_compare(store: Store, run_ids: list[str]) -> None:
    """Overlaid epoch curves of the chosen runs and a table of the settings that differ between them."""
    runs = [store.get(run_id) for run_id in run_ids]
    if len(runs) < 2:
        st.caption("Select two or more runs to compare them.")
        return
    labels = {run.id: sidebar.run_label(run) for run in runs}
    metric = st.segmented_control(
        "Compare", list(COMPARE_METRICS), format_func=COMPARE_METRICS.get, default="val_accuracy", key="compare_metric"
    )
    histories = {labels[run.id]: store.epochs(run.id) for run in runs}
    st.plotly_chart(curves.overlay_figure(histories, metric or "val_accuracy"), key="compare_overlay")
    configs = {labels[run.id]: {**run.config.to_dict(), "parent run": run.parent_id} for run in runs}
    rows = diagnostics.differing_settings(configs)
    if rows:
        st.markdown("**Settings that differ**")
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="compare_settings")
    else:
        st.caption("These runs used the same settings.")
