"""On the Train page: "Search these settings" (the Sweeps page) and the learning-rate finder.

The finder is a short run through the same queue: the worker raises the rate
exponentially batch by batch (from the first to the last rate chosen here, over the
chosen number of batches) and records the loss; here the curve is drawn as it comes
in, then the suggested rate with "Use this rate". A range the finder cannot use turns
the button off, with the reason in plain text beside it.
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
RANGE_KEY = "cs_lr_finder_range"  # the range last typed (widget keys are forgotten on other pages)
DEFAULT_RANGE = {"start": lr_finder.DEFAULT_START, "end": lr_finder.DEFAULT_END, "steps": lr_finder.DEFAULT_STEPS}


def panel(store) -> None:
    """The two entries, the finder's range, and its curve once one was started from this session."""
    st.page_link("pages/sweep.py", label="Search these settings", icon=":material/travel_explore:")
    chosen = _range_inputs()
    try:
        ramp = lr_finder.check_range(chosen["start"], chosen["end"], chosen["steps"])
        problem = None
    except lr_finder.LRFinderError as exc:
        ramp, problem = None, str(exc)
    button, why = st.columns([1, 3], vertical_alignment="center")
    tip = (
        f"A short run that raises the rate from {ramp.start:g} to {ramp.end:g} over {ramp.steps} batches"
        if ramp
        else None
    )
    clicked = button.button(
        "Find a learning rate", icon=":material/show_chart:", key="lrf_start", disabled=ramp is None, help=tip
    )
    if clicked and ramp:
        _start(store, ramp)
    if problem:  # in plain text beside the disabled button, like Start training's reasons
        why.markdown(f"The finder is off until its range is fixed: {problem}")
    run_id = st.session_state.get(FINDER_KEY)
    if run_id:
        _show(store, run_id)


def _range_inputs() -> dict:
    """Start rate, end rate and batches of the finder's ramp; any number reaches check_range, which says
    what is wrong (a bounded box would keep a bad value in the browser and quietly use the last good one)."""
    current = {**DEFAULT_RANGE, **st.session_state.get(RANGE_KEY, {})}
    start, end, steps = st.columns(3)
    chosen = {
        "start": start.number_input(
            "Finder: first rate", value=float(current["start"]), step=None, format="%.1e", key="lrf_range_start",
            help=f"Where the ramp begins ({lr_finder.LOWEST:g} to {lr_finder.HIGHEST:g}; default 1e-6).",
        ),
        "end": end.number_input(
            "Finder: last rate", value=float(current["end"]), step=None, format="%.1e", key="lrf_range_end",
            help="Where it ends: at least 10 times the first rate (default 1).",
        ),
        "steps": steps.number_input(
            "Finder: batches", value=int(current["steps"]), step=10, key="lrf_range_steps",
            help=f"How many batches the ramp takes ({lr_finder.MIN_STEPS} to {lr_finder.MAX_STEPS}; default 200).",
        ),
    }  # fmt: skip
    st.session_state[RANGE_KEY] = chosen
    return chosen


def _start(store, ramp: lr_finder.RateRange) -> None:
    try:
        config = lr_finder.finder_config(state.config(), ramp.start, ramp.end, ramp.steps)
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
