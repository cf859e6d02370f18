"""Predict: draw, upload or photograph an image and see what a trained model says, and why.

Thin by design: lib.inference.preprocess turns the image into the model's input,
lib.inference predicts, lib.inference.explain draws the Grad-CAM map. The model is held by
lib.inference.prediction's cache, keyed by model file and time (one cache for the
pages and the CLI), because every canvas stroke reruns this script and loading a
model takes seconds.
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from lib import models
from lib.data import datasets
from lib.inference import explain, prediction, preprocess
from lib.model_files import ModelRefused
from ui import auth, frame, kept_inputs, run_picker, teach_correct
from ui.resources import get_store

frame.ensure()  # a deep link right after a server restart must still get app.py's frame (and its login)

CANVAS_SIZE = 280  # 10x MNIST's 28 px: room to draw, and a stroke of ~18 px scales to MNIST's 2 px
UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]
GRID_COLUMNS = 2
PREVIEW_PX = 140  # the model input is blown up to about this size, with hard pixel edges


def loaded_model(path):
    """One loaded model per (file, time): a stroke never reloads it, a retrained run does."""
    with st.spinner("Loading the model..."):
        model = prediction.load_model(path)
        prediction.warm_up(model)  # traced once per model, under the spinner, not on the first stroke
    return model


def describe_run(run, info) -> None:
    cols = st.columns([5, 4, 2])  # room for "MNIST handwritten digits" and "Keras MNIST convnet", uncut at 1400 px
    cols[0].metric("Dataset", info.title)
    cols[1].metric("Architecture", models.title(run.architecture))  # the display name, as on every page
    acc = run.test_accuracy
    cols[2].metric("Test accuracy", f"{acc:.2%}" if acc is not None else "-")


def probability_figure(prediction, class_names) -> go.Figure:
    colours = ["#e4572e" if i == prediction.class_index else "#7f8c9a" for i in range(len(class_names))]
    fig = go.Figure(
        go.Bar(
            x=[str(n) for n in class_names],
            y=prediction.probabilities,
            marker_color=colours,
            hovertemplate="%{x}: %{y:.2%}<extra></extra>",
        )
    )
    fig.update_layout(
        height=220,
        margin=dict(l=10, r=10, t=10, b=10),
        yaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
        xaxis=dict(type="category"),
    )
    return fig


def show_result(item_key: str, prepared, prediction, model, info) -> None:
    """Label and confidence, the image beside the model input and Grad-CAM, all class probabilities."""
    st.markdown(f"#### Prediction: **{prediction.label}** · {prediction.confidence:.1%} confident")
    explanation = explain.explain(model, prepared.model_input, prediction.class_index)
    height, width = info.input_shape[:2]
    scale = max(1, PREVIEW_PX // max(height, width))
    cols = st.columns(3)
    cols[0].image(prepared.original, caption="Your image", width="stretch")
    cols[1].image(
        preprocess.input_preview(prepared.model_input, scale),
        caption=f"What the model sees ({height} x {width})",
        width="stretch",
    )
    cols[2].image(
        explain.overlay(prepared.model_input, explanation.heat, scale),
        caption=f"{explanation.kind}: where it looked",
        width="stretch",
    )
    st.plotly_chart(
        probability_figure(prediction, info.class_names), key=f"probs_{item_key}", config={"displayModeBar": False}
    )
    teach_correct.correction_controls(store, run, info, item_key, prepared, prediction, model)


def prepare_or_explain(data: bytes, run, info, empty: str, refused: str):
    """The model input for one image, or None after telling the user why there is none."""
    try:
        return preprocess.prepare_bytes(data, info.input_shape, run.config.dataset)
    except preprocess.EmptyImage:
        st.info(empty)
    except preprocess.PreprocessError as exc:
        st.error(f"{refused}: {exc}")
    return None


def predict_one(item_key: str, prepared, model, info, started: float) -> None:
    """Predict and show one image; `started` is when its decoding began, for the timing caption."""
    answer = prediction.predict(model, prepared.model_input, info.class_names)[0]
    elapsed_ms = (time.perf_counter() - started) * 1000
    show_result(item_key, prepared, answer, model, info)
    st.caption(f"Predicted in {elapsed_ms:.0f} ms on the server (decoding, preprocessing and the model)")


# -- the three sources ------------------------------------------------------------------
# Their inputs (drawing, uploads) are kept for the session across page and tab changes: ui/kept_inputs.py
CANVAS_KEY = "predict_canvas"
UPLOADER_KEY = "predict_uploads"
SOURCES = ["Draw", "Upload", "Camera"]
CANVAS_CLEARS = "cs_canvas_clears"  # how many times Clear was pressed: part of the canvas's initial drawing
CANVAS_SHOWN = "cs_canvas_shown"  # the strokes this page last predicted from
CANVAS_CLEARED = "cs_canvas_cleared"  # the strokes Clear wiped, until the browser reports the empty canvas
MIN_INK_SHARE = 0.01  # a dot covers ~0.3% of the canvas, the thinnest "1" ~3%: below 1% there is nothing to judge


def clear_canvas() -> None:
    """Empty the canvas through its own state, never by a new key.

    A new key mounted a new canvas under a user who had already started the next stroke
    (the stroke vanished, and two canvases briefly overlapped). A changed initial drawing
    makes the same canvas load an empty drawing, then report it back.
    """
    st.session_state[CANVAS_CLEARS] = st.session_state.get(CANVAS_CLEARS, 0) + 1
    st.session_state[CANVAS_CLEARED] = st.session_state.get(CANVAS_SHOWN)
    kept_inputs.forget_drawing(st.session_state[CANVAS_CLEARS])


def _objects(canvas) -> list:
    return (canvas.json_data or {}).get("objects") or []


def _strokes(canvas) -> str | None:
    """The canvas's objects as text; None when there are none (nothing drawn, Clear)."""
    objects = _objects(canvas)
    return json.dumps(objects, sort_keys=True) if objects else None


def _ink_share(png: bytes) -> float:
    try:
        image = np.asarray(Image.open(io.BytesIO(png)))
    except (OSError, ValueError):  # not a picture: prepare_or_explain says so
        return 1.0
    if image.ndim != 3:
        return 0.0
    ink = image[..., :3].max(axis=-1) > 127
    if image.shape[-1] == 4:
        ink &= image[..., 3] > 0
    return float(ink.mean())


# The canvas component floats its own toolbar (undo, redo, edit, and a trash icon: a second Clear
# with its own empty state) above its top edge, over the brush slider, on hover. It has no option
# to leave it out, and it draws it in a shadow root this page's CSS cannot reach; clipping the
# component to its own box keeps the toolbar out of sight and out of the mouse's way.
CANVAS_BOX = "predict_canvas_box"
CLIP_CANVAS_TOOLBAR = (
    f'<style>.st-key-{CANVAS_BOX} [data-testid="stBidiComponentIsolated"] {{overflow: hidden;}}</style>'
)


def draw_tab(run, info, model) -> None:
    left, right = st.columns([3, 4], gap="medium")  # the left column must hold the 280 px canvas
    with left:
        brush = st.slider("Brush width", 5, 40, 18, key="brush_width")
        st.html(CLIP_CANVAS_TOOLBAR)  # style only: takes no room
        with st.container(key=CANVAS_BOX):
            canvas = _canvas(brush)
        st.button("Clear", on_click=clear_canvas, icon=":material/delete:")
        if not info.is_grey:
            st.info(
                f"This model was trained on colour photos ({info.title}). A drawing is an image too, "
                "but expect a photo to work far better: try the Upload or Camera tab."
            )
    with right:
        _predict_drawing(canvas, run, info, model)


def _canvas(brush: int):
    return st_canvas(
        stroke_width=brush,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=CANVAS_SIZE,
        width=CANVAS_SIZE,
        drawing_mode="freedraw",
        update_streamlit=True,  # send the drawing when a stroke ends (mouse up), not while it is drawn
        return_image_data=True,
        # fixed while the canvas is on screen; the kept drawing when it mounts again after a page change
        initial_drawing=kept_inputs.initial_drawing(CANVAS_KEY, st.session_state.get(CANVAS_CLEARS, 0)),
        key=CANVAS_KEY,
    )


def _predict_drawing(canvas, run, info, model) -> None:
    strokes = _strokes(canvas)
    if strokes is not None and strokes == st.session_state.get(CANVAS_CLEARED):
        strokes = None  # cleared: the browser has not reported the empty canvas yet
    st.session_state[CANVAS_SHOWN] = strokes
    # a canvas mounted again with the kept drawing reports it without its picture until it is drawn on
    data = canvas.image_bytes or kept_inputs.drawing_png(strokes)
    kept_inputs.keep_drawing(strokes, _objects(canvas), data)
    if strokes is None or not data:  # one message however the canvas was emptied
        st.info("Draw a digit on the canvas: the prediction appears when you lift the mouse.")
        return
    if _ink_share(data) < MIN_INK_SHARE:
        st.info("Too little ink to judge: draw the whole character, about as tall as the box.")
        return
    started = time.perf_counter()
    prepared = prepare_or_explain(
        data, run, info, empty="Draw something: the canvas is empty.", refused="Cannot read the drawing"
    )
    if prepared is None:
        return
    predict_one("canvas", prepared, model, info, started)
    # kept for the Evaluate page's feature maps ("My last drawing")
    st.session_state["cs_last_drawing"] = {"dataset": run.config.dataset, "input": prepared.model_input}


def upload_tab(run, info, model) -> None:
    new_mount = kept_inputs.is_new_mount(UPLOADER_KEY)
    files = st.file_uploader(
        "Images (PNG, JPEG, BMP, GIF, WebP)", type=UPLOAD_TYPES, accept_multiple_files=True, key=UPLOADER_KEY
    )
    images, from_before = kept_inputs.uploads(files, new_mount)
    if not images:
        st.info("Drop one or more images here; each gets its own prediction.")
        return
    if from_before:
        note, forget = st.columns([3, 1], vertical_alignment="center")
        count = f"{len(images)} image" + ("" if len(images) == 1 else "s")
        note.caption(f"{count} you uploaded earlier in this session; drop new ones to replace them.")
        forget.button("Forget them", on_click=kept_inputs.forget_uploads, icon=":material/close:")
    items = []
    limit = auth.policy().max_upload_mb
    for name, data in images:
        if limit and len(data) > limit * 2**20:
            items.append((name, preprocess.PreprocessError(f"this server accepts uploads up to {limit} MB")))
            continue
        try:
            items.append((name, preprocess.prepare_bytes(data, info.input_shape, run.config.dataset)))
        except preprocess.PreprocessError as exc:
            items.append((name, exc))
    good = [p for _, p in items if isinstance(p, preprocess.Prepared)]
    predictions = iter(prediction.predict(model, [p.model_input for p in good], info.class_names) if good else [])
    columns = st.columns(GRID_COLUMNS)
    for i, (name, item) in enumerate(items):
        with columns[i % GRID_COLUMNS].container(border=True):
            st.markdown(f"**{name}**")
            if isinstance(item, preprocess.PreprocessError):
                st.error(f"Cannot use this file: {item}")
            else:
                show_result(f"upload_{i}", item, next(predictions), model, info)


def camera_tab(run, info, model) -> None:
    # the camera's box is as wide as its column and 3:4 or 9:16 as tall: across the whole page it
    # pushed Take photo below the fold at 1400 x 900; in the drawing's column it stays on screen
    left, right = st.columns([3, 4], gap="medium")
    with left:
        shot = st.camera_input("Take a photo (a digit on paper works: dark ink is inverted)", key="predict_camera")
    with right:
        if shot is None:
            st.info("Hold the image up to the camera and press **Take photo**.")
            return
        started = time.perf_counter()
        empty = "Nothing stands out from the background in this photo; try again closer."
        prepared = prepare_or_explain(shot.getvalue(), run, info, empty=empty, refused="Cannot use this photo")
        if prepared is not None:
            predict_one("camera", prepared, model, info, started)


# -- the page ---------------------------------------------------------------------------
st.title("Predict")
store = get_store()
run = run_picker.pick_finished_run(store, "Model", "predict_run")
if run is None:
    st.info("No trained model yet. Train one on the **Train** page, then come back here to draw or upload images.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

info = datasets.info(run.config.dataset)
describe_run(run, info)
path = store.model_path(run.id)
try:
    model = loaded_model(path)
except ModelRefused as exc:  # a file someone put there by hand, or a damaged one
    st.error(f"This run's model cannot be used: {exc}", icon=":material/gpp_bad:")
    st.stop()

# Only the open tab runs (on_change="rerun"), so the camera is not switched on for people who draw;
# a return to the page opens the tab left open.
tabs = st.tabs(SOURCES, key="predict_source", on_change="rerun", default=kept_inputs.open_tab(SOURCES[0]))
for name, tab, draw_source in zip(SOURCES, tabs, [draw_tab, upload_tab, camera_tab], strict=True):
    if tab.open:
        kept_inputs.remember_tab(name)
        with tab:
            draw_source(run, info, model)
teach_correct.corrections_panel(store, run, info)
