"""Predict's Teach-it parts: "Wrong? It is: [class]", the strip of corrections, fine-tune, before -> after.

A correction keeps the user's image and the exact model input beside the run
(lib.teach.corrections); "Fine-tune with N corrections" queues a run from this
run's weights on the corrections plus a replay of the training data
(lib.teach.finetune). When that run has finished, each corrected image is shown
with the old model's answer and the new one's.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from lib.config import ConfigError
from lib.inference import prediction, preprocess
from lib.teach import corrections, finetune, review
from ui import auth, state

STRIP_COLUMNS = 8
PREVIEW_PX = 84


def correction_controls(store, run, info, item_key: str, prepared, predicted, model) -> None:
    """Beside one prediction: pick the right class and keep the image as a correction."""
    names = [str(n) for n in info.class_names]
    left, right = st.columns([3, 2], vertical_alignment="bottom")  # the button's label whole in a narrow card
    label = left.selectbox(
        "Wrong? It is:", range(len(names)), index=None, format_func=names.__getitem__,
        placeholder="the right class", key=f"correct_to_{item_key}",
    )  # fmt: skip
    if right.button("Add correction", key=f"correct_add_{item_key}", disabled=label is None):
        try:
            review.correct_prepared(store, run.id, prepared, int(label), item_key, model, info)
        except corrections.CorrectionRefused as exc:
            st.error(str(exc))
            return
        st.toast(f"Kept as a correction: {names[label]} (the model said {predicted.label}).")


def corrections_panel(store, run, info) -> None:
    """The run's corrections as a strip, the fine-tune button, and before -> after once it has run."""
    box = finetune.box(store, run.id)
    records = box.records()
    parent_id = run.config.extra.get("corrections_from")
    if parent_id:
        before_after(store, parent_id, run.id)
    if not records:
        return
    st.markdown(f"#### Corrections for this model ({len(records)})")
    columns = st.columns(STRIP_COLUMNS)
    for slot, c in enumerate(records):
        with columns[slot % STRIP_COLUMNS]:
            shown = preprocess.input_preview(box.model_input(c.id), max(1, PREVIEW_PX // info.input_shape[0]))
            said = f" (said {info.class_names[c.predicted]})" if c.predicted is not None else ""
            st.image(shown, caption=f"{c.label_name}{said}", width=PREVIEW_PX)
            if st.button("Remove", key=f"correct_rm_{c.id}", type="tertiary"):
                box.remove(c.id)
                st.rerun()
    if st.button(f"Fine-tune with {len(records)} corrections", type="primary", key=f"correct_finetune_{run.id}"):
        queue_finetune(store, run)
    for child in finetune_children(store, run.id):
        st.caption(f"Fine-tuned with corrections as run {child.id} ({child.status}).")


def queue_finetune(store, run) -> None:
    try:
        new_id = finetune.queue(store, run.id, owner=auth.user(), policy=auth.policy())
    except (corrections.CorrectionRefused, ConfigError) as exc:
        st.error(f"Cannot fine-tune: {exc}")
        return
    state.remember_run(new_id)
    st.success(
        f"Queued run {new_id}: {finetune.EPOCHS} epochs from this model's weights on the corrections, oversampled, "
        "plus a replay of the training data. Pick it here when it has finished to see before -> after."
    )
    st.page_link("pages/train.py", label="Watch it train", icon=":material/model_training:")


def finetune_children(store, run_id: str) -> list:
    return [r for r in store.list_runs() if r.config.extra.get("corrections_from") == run_id]


def before_after(store, parent_id: str, child_id: str) -> None:
    try:
        rows = review.before_after(store, parent_id, child_id)
    except prediction.ModelUnavailable:
        return
    if not rows:
        return
    fixed = sum(r["fixed"] for r in rows)
    st.markdown(f"#### Before -> after: {fixed} of {len(rows)} corrected images now read right")
    box = finetune.box(store, parent_id)
    columns = st.columns(STRIP_COLUMNS)
    for slot, r in enumerate(rows):
        with columns[slot % STRIP_COLUMNS]:
            x = box.model_input(r["id"])
            st.image(preprocess.input_preview(np.asarray(x), max(1, PREVIEW_PX // x.shape[0])), width=PREVIEW_PX)
            mark = ":green[✓]" if r["fixed"] else ":red[✗]"
            st.markdown(f"{r['before']} -> **{r['after']}** {mark}")
