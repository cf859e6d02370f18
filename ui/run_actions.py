"""The Runs page's actions on one run: downloads, continue for more epochs, fine-tune as a new run."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from lib import model_files
from lib.config import ConfigError
from lib.runs import export, resume
from lib.runs.store import Run, Store
from ui import auth, state


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


def _message(run_id: str, text: str, ok: bool, watch_id: str | None = None) -> None:
    st.session_state[f"cs_action_{run_id}"] = (ok, text, watch_id or run_id)


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
    _message(run_id, f"Fine-tuning queued as run {new_id} (learning rate {lr:g}, {epochs} epochs).", True, new_id)
    state.watch_run(new_id)


DOWNLOADS = (".keras model", "SavedModel (zip)", "TFLite", "Config + metrics (JSON)", "Epoch metrics (CSV)")
KEYS = ("keras", "savedmodel", "tflite", "json", "csv")  # widget keys: dl_<key>_<run id>


def _downloads(store: Store, run_id: str) -> list[tuple]:
    """(label, data or a callable making it, file name, MIME type, icon, needs a model, help) per download.

    Model formats are made only when clicked (a callable): a SavedModel or TFLite export takes seconds.
    """
    return [
        (DOWNLOADS[0], lambda: model_files.read_model_bytes(store.model_path(run_id), store.root), f"{run_id}.keras",
         "application/octet-stream", ":material/download:", True, None),
        (DOWNLOADS[1], lambda: savedmodel_zip(store, run_id), f"{run_id}-saved_model.zip", "application/zip",
         ":material/folder_zip:", True, "TensorFlow Serving's format, made with model.export (takes a few seconds)."),
        (DOWNLOADS[2], lambda: tflite_file(store, run_id), f"{run_id}.tflite", "application/octet-stream",
         ":material/smartphone:", True, "For phones and microcontrollers (takes a few seconds)."),
        (DOWNLOADS[3], export.run_json(store, run_id), f"{run_id}.json", "application/json",
         ":material/data_object:", False, None),
        (DOWNLOADS[4], export.epochs_csv(store, run_id), f"{run_id}-epochs.csv", "text/csv",
         ":material/table:", False, None),
    ]  # fmt: skip


def render_run_actions(store: Store, run: Run) -> None:
    """Downloads (.keras, SavedModel, TFLite, JSON, CSV), continue for N epochs, fine-tune with a new LR."""
    try:  # a link, an empty or a bomb-like file is never offered (lib.model_files says why)
        has_model = bool(model_files.check_model_file(store.model_path(run.id), store.root))
    except model_files.ModelRefused as exc:
        has_model = False
        if store.model_path(run.id).is_symlink() or store.model_path(run.id).exists():
            st.error(f"The model file cannot be offered for download: {exc}")
    allowed = auth.may_manage(run)  # continuing changes the run itself; a fine-tune is the user's own new run
    st.markdown("**Take it with you**")
    # three to a row: five side by side cut the labels short in the page's width
    columns = [column for _ in range(2) for column in st.columns(3)][: len(DOWNLOADS)]
    for column, (label, data, name, mime, icon, needs_model, help_text) in zip(
        columns, _downloads(store, run.id), strict=True
    ):
        disabled = needs_model and not has_model
        column.download_button(
            label, data=b"" if disabled else data, file_name=name, mime=mime, disabled=disabled,
            on_click="ignore", icon=icon, key=f"dl_{KEYS[DOWNLOADS.index(label)]}_{run.id}", help=help_text,
        )  # fmt: skip
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
    # kept (not popped): the Runs page redraws itself while the run trains, and must not wipe it
    outcome = st.session_state.get(f"cs_action_{run.id}")
    if outcome:
        ok, text, watch_id = outcome
        (st.success if ok else st.error)(text)
        if ok:
            st.page_link(
                "pages/train.py",
                label=f"Watch run {watch_id} on the Train page",
                icon=":material/monitoring:",
                query_params={"run": watch_id},
            )
