"""Data: pick a dataset, see its size, classes, shape, samples and class balance."""

import streamlit as st

from lib import settings
from lib.charts import curves
from lib.config import ConfigError, TrainConfig
from lib.data import datasets
from lib.runs import submit
from ui import auth, cached, frame, state, widgets
from ui.resources import get_store

frame.ensure()  # a deep link right after a server restart must still get app.py's frame
QUICK_START = "cs_quick_start"  # set by the welcome's button: open the Train page on the new run
if st.session_state.pop(QUICK_START, False):
    st.switch_page("pages/train.py")
st.title("Data")
widgets.begin()
data_dir = state.values().get("data_dir")
available = [n for n in datasets.names() if datasets.is_available(n, data_dir)]
FIRST_RUN = TrainConfig.with_defaults(dataset="mnist", architecture="lenet5", epochs=2, train_limit=5000)


def _quick_start() -> None:
    """A first success: LeNet-5 on 5,000 digits for two epochs, queued at once, watched on Train."""
    config = FIRST_RUN.replace(data_dir=data_dir)
    try:
        run_id = submit.submit(get_store(), config, auth.user(), auth.policy())
    except ConfigError as exc:
        st.session_state["cs_quick_start_error"] = f"{exc.field.replace('_', ' ')}: {exc.message}"
        return
    state.replace_config(config)
    state.remember_run(run_id)
    st.session_state[QUICK_START] = True


def _welcome() -> None:
    """For a server with no runs yet: what to do, in order, and a one-click first run."""
    with st.container(border=True):
        st.markdown(
            "**Welcome to ConvStudio.** Four steps, each a page on the left: **1. Data** — pick a dataset "
            "(here); **2. Model** — pick a network; **3. Train** — press Start and watch it learn; "
            "**4. Predict** — draw or upload an image and see what your model says."
        )
        ready = "mnist" in available
        st.button(
            "Train a digit model in a minute",
            type="primary",
            icon=":material/rocket_launch:",
            on_click=_quick_start,
            disabled=not ready,
            key="quick_start",
            help="LeNet-5 on 5,000 handwritten digits, 2 epochs; then draw a digit on Predict."
            if ready
            else "Needs the MNIST digits on this server (see below for where to put them).",
        )
        if message := st.session_state.pop("cs_quick_start_error", None):
            st.error(f"Cannot start it: {message}", icon=":material/error:")


if not get_store().list_runs(limit=1):
    _welcome()


def _label(name: str) -> str:
    return datasets.info(name).title + ("" if name in available else " (not found on this server)")


name = widgets.select("dataset", "Dataset", datasets.names(), format_func=_label)
meta = datasets.info(name)
st.caption(f"The published dataset: {meta.description}")  # this server's copy may be a sample: see below


DOWNLOAD_FAILED = "cs_download_failed"  # dataset -> why its download failed, for the instructions


def _download(name: str) -> None:
    """keras.datasets into the Keras cache, where the next run finds it; fails within 30 s offline."""
    with st.spinner(f"Downloading {datasets.info(name).title}..."):
        try:
            datasets.load_raw(name, data_dir, allow_download=True)
        except datasets.DatasetUnavailable as exc:
            reason = exc.download_error or str(exc).splitlines()[-1]
            st.session_state.setdefault(DOWNLOAD_FAILED, {})[name] = reason
    st.rerun()  # redrawn: the dataset, or the instructions saying the download was tried and why it failed


if name not in available:
    st.error(f"**{meta.title} is not on this server.** Here is how to add it:", icon=":material/folder_off:")
    failed = st.session_state.get(DOWNLOAD_FAILED, {}).get(name)
    if failed:
        st.error(f"The download through Keras failed: {failed}", icon=":material/cloud_off:")
    instructions = datasets.where_to_put(name, data_dir, download_error=failed)
    st.code(instructions, language=None, wrap_lines=True)  # long paths stay whole
    if name in datasets.BUILTIN and not settings.offline():
        label = "Try the download again" if failed else "Try downloading it through Keras"
        if st.button(label, icon=":material/download:", key="download"):
            _download(name)
    if available:
        st.write("Available now:")
        for other in available:
            st.button(
                datasets.info(other).title,
                key=f"use_{other}",
                on_click=state.choose,
                kwargs={"dataset": other},
            )
    else:
        st.warning("No dataset is available offline. Add one as above, then reload this page.")
    st.stop()

try:
    summary = cached.dataset_summary(name, data_dir)
except datasets.DatasetUnavailable as exc:  # the files are there but unreadable
    st.error(str(exc), icon=":material/error:")
    st.stop()

cols = st.columns(4)
cols[0].metric("Training images", f"{summary['train_size']:,}")
cols[1].metric("Test images", f"{summary['test_size']:,}")
cols[2].metric("Classes", meta.num_classes)
cols[3].metric("Image shape", " x ".join(str(d) for d in meta.input_shape))
st.caption(
    f"This server's copy, read from `{summary['folder']}`: {summary['train_size']:,} training and "
    f"{summary['test_size']:,} test images. These are what a run trains and tests on."
)

widgets.number(
    "train_limit",
    "Use at most this many training images (0 = all)",
    step=500,
    help="A stratified subset, for quick experiments. Validation images are taken from it.",
)
widgets.show_errors(state.errors({}))

left, right = st.columns([3, 2])
with left:
    st.subheader("Samples")
    shown = len(summary["strips"])
    st.image(summary["strips"], caption=list(meta.class_names[:shown]), width=420)
    if shown < meta.num_classes:
        st.caption(f"The first {shown} of {meta.num_classes} classes.")
with right:
    fig = curves.class_distribution_figure(meta.class_names, summary["train_counts"], summary["test_counts"])
    st.plotly_chart(fig, key="class_distribution")
state.keep_in_url()  # last: a reload finds the settings as the widgets just left them
