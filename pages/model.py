"""Model: pick an architecture and its knobs; see its layers, size and memory per batch."""

import pandas as pd
import streamlit as st

from lib import models
from lib.data import datasets
from ui import cached, frame, state, widgets

frame.ensure()  # a deep link right after a server restart must still get app.py's frame
st.title("Model")
widgets.begin()
settings = state.values()
meta = datasets.info(settings["dataset"]) if settings["dataset"] in datasets.names() else None
if meta is None:
    st.error("Choose a dataset on the Data page first.")
    st.stop()

left, right = st.columns([1, 2])
with left:
    before = state.values()["architecture"]
    name = widgets.select(
        "architecture", "Architecture", models.names(), format_func=lambda n: models.REGISTRY[n].title
    )
    if name != before:  # a new architecture comes with its own dropout, BatchNorm and width
        state.choose(**models.defaults(name))
        st.rerun()
    arch = models.REGISTRY[name]
    st.caption(models.description(name))  # its defaults read from its builder, as the knobs start
    dropout = widgets.slider("dropout", "Dropout", step=0.05, help="Share of units dropped before the classifier.")
    batchnorm = widgets.toggle(
        "batchnorm",
        "BatchNorm",
        help="Normalise after each convolution. It needs batches of about 16 images or more (its statistics "
        "come from each batch), and a test-time average of those statistics that has settled: short runs "
        "forget the starting values faster (momentum from the run's length, 0.9 to 0.99).",
    )
    if batchnorm:
        st.caption(
            "BatchNorm needs batches of 16 or more images; its running statistics are tuned to the run's "
            "length, so even a 3-epoch run tests with settled statistics."
        )
    if arch.uses_width:
        width = widgets.select_slider(
            "width", "Width", options=[0.25, 0.5, 1.0, 1.5, 2.0, 4.0], help="Multiplies every layer's filters/units."
        )
    else:
        width = 1.0
    for message in widgets.show_errors(state.errors()):
        if message.startswith(("dropout", "architecture", "width", "batchnorm")):
            st.error(message)
    st.caption(f"For {meta.title}: input {meta.input_shape}, {meta.num_classes} classes.")

try:
    summary = cached.model_summary(name, meta.input_shape, meta.num_classes, float(dropout), bool(batchnorm), width)
except Exception as exc:  # a knob combination the architecture cannot build (e.g. too narrow)
    right.error(f"This model cannot be built with these settings: {exc}")
    st.stop()

with right:
    batch_size = int(settings.get("batch_size") or 1)
    memory = models.training_memory_bytes(
        summary["parameters"], summary["activations"], batch_size, settings.get("optimizer", "adam")
    )
    cols = st.columns(3)
    cols[0].metric("Parameters", f"{summary['parameters']:,}")
    cols[1].metric("Layers", len(summary["layers"]))
    cols[2].metric(
        f"Memory per batch of {batch_size}",
        f"{memory / 2**20:,.1f} MiB",
        help="Weights, gradients and optimizer state plus activations and their gradients, in float32. "
        "A lower bound: frameworks add workspace. Change the batch size on the Train page.",
    )
    st.dataframe(
        pd.DataFrame(summary["layers"]),
        hide_index=True,
        column_config={"parameters": st.column_config.NumberColumn(format="localized")},
        key="layer_table",
    )
state.keep_in_url()  # last: a reload finds the settings as the widgets just left them
