"""On the Train page: "Search these settings" (the Sweeps page) and the learning-rate finder.

The finder is a short run through the same queue: the worker raises the rate
exponentially batch by batch and records the loss; here the curve is drawn as it
comes in, then the suggested rate with "Use this rate".
"""

from __future__ import annotations

import math

import streamlit as st

from lib.charts import sweeps as sweep_charts
from lib.config import LIMITS, ConfigError
from lib.runs.store import UnknownRun
from lib.runs.submit import submit
from lib.sweeps import lr_finder
from ui import auth, state

FINDER_KEY = "cs_lr_finder_run"


def panel(store) -> None:
    """The two entries, and the finder's curve once one was started from this session."""
    left, right, _ = st.columns([1, 1, 2], vertical_alignment="center")
    left.page_link("pages/sweep.py", label="Search these settings", icon=":material/travel_explore:")
    if right.button(
        "Find a learning rate",
        icon=":material/show_chart:",
        key="lrf_start",
        help="A short run that raises the rate from 1e-6 to 1 over 200 batches and suggests one.",
    ):
        _start(store)
    run_id = st.session_state.get(FINDER_KEY)
    if run_id:
        _show(store, run_id)


def _start(store) -> None:
    try:
        config = lr_finder.finder_config(state.config())
        st.session_state[FINDER_KEY] = submit(store, config, auth.user(), auth.policy())
    except ConfigError as exc:
        st.error(f"{exc.field}: {exc.message}", icon=":material/error:")
    except lr_finder.LRFinderError as exc:
        st.error(str(exc), icon=":material/error:")


def _show(store, run_id: str) -> None:
    try:
        active = not store.get(run_id).is_finished
    except UnknownRun:
        st.session_state.pop(FINDER_KEY, None)
        return

    @st.fragment(run_every=1.0 if active else None)
    def curve():
        run = store.get(run_id)
        if not run.is_finished:
            rows = store.batches(run_id)
            ramp = lr_finder.ramp_of(run.config)
            where = "waiting in the queue" if run.status == "queued" else run.progress.describe()
            st.caption(f"Learning-rate finder (run {run_id}): {where}")
            if rows:
                rates = [ramp.rate(r["step"]) for r in rows]
                st.plotly_chart(sweep_charts.lr_finder(rates, [r["loss"] for r in rows]), key="lrf_live")
            return
        found = run.metrics.get("lr_find") or {}
        if not found.get("suggested"):
            st.warning(
                f"The learning-rate finder suggests nothing: {found.get('problem') or run.error or run.status}",
                icon=":material/warning:",
            )
            return
        suggested = _rounded(found["suggested"])
        fig = sweep_charts.lr_finder(
            found["rates"], found["losses"], found.get("smoothed"), found["suggested"], found.get("min_loss_rate")
        )
        st.plotly_chart(fig, key="lrf_done")
        st.button(
            f"Use this rate ({suggested:.1e})",
            icon=":material/check:",
            key="lrf_use",
            on_click=state.choose,
            kwargs={"learning_rate": suggested},
        )
        if active:
            st.rerun()  # finished while watched: redraw the page once without the refresh

    curve()


def _rounded(rate: float) -> float:
    """Two significant digits (a rate is a choice, not a measurement), within the rate's limits."""
    low, high = LIMITS["learning_rate"]
    digits = 1 - int(math.floor(math.log10(rate)))
    return min(max(round(rate, digits), low), high)
