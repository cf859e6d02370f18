"""Evaluate: where a finished run's model is wrong, and what it has learned.

Thin by design: ui.evaluation_cache caches the evaluation (lib.inference.evaluation) and the
model's insides (lib.inference.explain) per run and model file time; lib.charts.diagnostics draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from lib import models
from lib.charts import diagnostics
from lib.model_files import ModelRefused
from ui import evaluation_cache as parts
from ui import frame, run_picker, teach_review
from ui.resources import get_store

frame.ensure()  # a deep link right after a server restart must still get app.py's frame (and its login)

CELL_IMAGES = 24  # images shown for a clicked confusion-matrix cell
MISTAKES = 12
GALLERY_COLUMNS = 6


def confusion_section(data) -> None:
    names = data["class_names"]
    n = len(names)
    if st.session_state.get("eval_cell_run") != run.id:  # another run: its classes, its cells
        st.session_state["eval_cell_run"] = run.id
        for key in ("eval_true", "eval_pred", "eval_clicked"):
            st.session_state.pop(key, None)
    chart, picker = st.columns([3, 1])
    with chart:
        normalised = st.toggle("Row-normalised (each row sums to 100%)", key="eval_normalised")
        event = st.plotly_chart(
            diagnostics.confusion_figure(data["confusion"], names, normalised, "Confusion matrix (test set)"),
            on_select="rerun",
            selection_mode="points",
            key=f"eval_confusion_{run.id}",
        )
    clicked = diagnostics.cell_from_selection(event.selection if event else None)
    if clicked and clicked != st.session_state.get("eval_clicked"):
        st.session_state["eval_clicked"] = clicked  # a new click moves the pickers; an old one does not
        st.session_state["eval_true"], st.session_state["eval_pred"] = clicked
    if "eval_true" not in st.session_state:  # start on the most frequent confusion
        off = np.asarray(data["confusion"]).copy()
        np.fill_diagonal(off, -1)
        worst = np.unravel_index(off.argmax(), off.shape) if off.max() > 0 else (0, 0)
        st.session_state["eval_true"], st.session_state["eval_pred"] = int(worst[0]), int(worst[1])
    with picker:
        st.markdown("**Show the images of a cell**")
        st.caption("Click a cell, or pick its classes here.")
        true_class = st.selectbox("True class", range(n), format_func=lambda i: names[i], key="eval_true")
        pred_class = st.selectbox("Predicted class", range(n), format_func=lambda i: names[i], key="eval_pred")
    cell_images(data, true_class, pred_class)


def cell_images(data, true_class: int, pred_class: int) -> None:
    names = data["class_names"]
    index = diagnostics.cell_indices(data["y_true"], data["y_pred"], true_class, pred_class)
    index = index[np.argsort(-data["confidence"][index], kind="stable")][:CELL_IMAGES]
    what = "classified right" if true_class == pred_class else f"predicted as {names[pred_class]}"
    total = int(np.asarray(data["confusion"])[true_class, pred_class])
    st.markdown(f"##### True {names[true_class]}, {what}: {total:,} test images")
    if not total:
        st.caption("No test image falls in this cell.")
        return
    images = [parts.test_image(run, i) for i in index]
    parts.image_grid(images, [f"#{i} · {data['confidence'][i]:.0%}" for i in index])
    if total > len(index):
        st.caption(f"The {len(index)} the model was surest of.")


def per_class_section(data) -> None:
    table, bars = st.columns([2, 3])
    table.dataframe(
        pd.DataFrame(data["per_class"]),
        hide_index=True,
        key="eval_per_class",
        column_config={
            m: st.column_config.NumberColumn(m.replace("f1", "F1"), format="percent")
            for m in ("precision", "recall", "f1")
        },
    )
    bars.plotly_chart(diagnostics.per_class_figure(data["per_class"]), key="eval_per_class_bars")


def mistakes_section(data) -> None:
    names = data["class_names"]
    mistakes = data["mistakes"][:MISTAKES]
    if not mistakes:
        st.success("No mistakes on the test set.")
        return
    columns = st.columns(GALLERY_COLUMNS)
    for slot, m in enumerate(mistakes):
        with columns[slot % GALLERY_COLUMNS].container(border=True):
            parts.image_grid([parts.test_image(run, m["index"])], [f"#{m['index']}"], width=112)
            st.markdown(f"true **{names[m['true']]}** · said **{names[m['predicted']]}**")
            st.caption(parts.top3_text(m["top3"], names))


def inside_section(data) -> None:
    inside = parts.conv_summary(store, run.id, version)
    if not inside["has_conv"] or inside["filters"] is None:
        st.info(
            f"This model ({models.title(run.architecture)}) has no convolutional layers, so it has no filters or "
            "feature maps to show. Try a CNN such as Simple CNN or LeNet-5."
        )
        return
    st.plotly_chart(diagnostics.filters_figure(inside["filters"]), key="eval_filters")
    st.markdown("##### Feature maps for one image")
    source_col, layer_col = st.columns(2)
    drawing = st.session_state.get(parts.LAST_DRAWING_KEY)
    sources = ["A test image"]
    if drawing and drawing.get("dataset") == run.config.dataset:
        sources.append("My last drawing (Predict page)")
    source = source_col.radio("Image", sources, horizontal=True, key="eval_source")
    if source == sources[0]:
        default = data["mistakes"][0]["index"] if data["mistakes"] else 0
        index = source_col.number_input(
            "Test image number", 0, len(data["y_true"]) - 1, default, step=1, key=f"eval_image_{run.id}"
        )
        image = parts.model_input(parts.test_image(run, index))
        names = data["class_names"]
        caption = f"#{index}: true {names[data['y_true'][index]]}, predicted {names[data['y_pred'][index]]}"
    else:
        image, caption = np.asarray(drawing["input"], dtype=np.float32), "your last drawing"
    layers = inside["layers"]
    layer = layer_col.selectbox(
        "Layer",
        range(len(layers)),
        format_func=lambda i: f"{layers[i][0]} ({' x '.join(str(d) for d in layers[i][1])})",
        key=f"eval_layer_{run.id}",
    )
    parts.image_grid([(np.clip(image, 0, 1) * 255).astype(np.uint8)], [caption], width=112)
    maps = parts.layer_feature_maps(store, run.id, version, layer, image)
    st.plotly_chart(diagnostics.feature_maps_figure(maps, layers[layer][0]), key="eval_feature_maps")


# -- the page ---------------------------------------------------------------------------------
st.title("Evaluate")
store = get_store()
run = run_picker.pick_finished_run(store, "Run", "eval_run", follow_url=True)
if run is None:
    st.info("No finished run with a model yet. Train one on the **Train** page, then come back to evaluate it.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

version = parts.model_version(store, run.id)
try:
    data = parts.evaluation_data(store, run.id, version)
except ModelRefused as exc:  # a file someone put there by hand, or a damaged one
    st.error(f"This run's model cannot be used: {exc}", icon=":material/gpp_bad:")
    st.stop()
top = st.columns(3)
top[0].metric("Test accuracy", f"{data['accuracy']:.2%}")
top[1].metric("Test loss", f"{data['loss']:.4f}")
top[2].metric("Test images", f"{len(data['y_true']):,}")

# Only the open tab runs (on_change="rerun"): the model's insides load when someone looks at them.
SECTIONS = {
    "Confusion matrix": confusion_section,
    "Per-class metrics": per_class_section,
    "Most confident mistakes": mistakes_section,
    "Inside the model": inside_section,
    "Projector": lambda data: teach_review.projector_section(store, run, version),
    "Label suspects": lambda data: teach_review.suspects_section(store, run, version),
}
for tab, section in zip(st.tabs(list(SECTIONS), key="eval_section", on_change="rerun"), SECTIONS.values(), strict=True):
    if tab.open:
        with tab:
            section(data)
