"""The Runs page's comparison: overlaid epoch curves and the settings that differ."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import names
from lib.charts import curves, diagnostics
from lib.runs.store import Store
from ui import sidebar

COMPARE_METRICS = {
    "val_accuracy": "validation accuracy",
    "accuracy": "train accuracy",
    "val_loss": "validation loss",
    "loss": "train loss",
}


def _settings(run) -> dict:
    """A run's settings as the comparison table shows them: display names, not ids."""
    shown = {**run.config.to_dict(), "parent run": run.parent_id}
    shown["architecture"] = names.architecture(run.config.architecture)
    shown["dataset"] = names.dataset(run.config.dataset)
    return shown


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
    configs = {labels[run.id]: _settings(run) for run in runs}
    rows = diagnostics.differing_settings(configs)
    if rows:
        st.markdown("**Settings that differ**")
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="compare_settings")
    else:
        st.caption("These runs used the same settings.")
