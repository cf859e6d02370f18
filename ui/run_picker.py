"""Choosing a finished run whose model a page uses (Predict, Evaluate)."""

from __future__ import annotations

import streamlit as st

from lib import names
from lib.inference import prediction
from lib.runs.store import UnknownRun, check_run_id


def label(run) -> str:
    acc = f"{run.test_accuracy:.2%}" if run.test_accuracy is not None else "not tested"
    stopped = " (stopped)" if run.status == "stopped" else ""
    return f"{run.id} · {names.subject(run.architecture, run.dataset)} · {acc}{stopped}"


def pick_finished_run(store, title: str, key: str, follow_url: bool = False):
    """A finished run with a model file (default: the latest completed), or None when there is none.

    With follow_url, ?run=ID picks the run when it is one, and the choice is written back to the
    address so a reload or a shared link opens the same run.
    """
    runs = [r for r in store.list_runs(list(prediction.PREDICTABLE)) if store.model_path(r.id).is_file()]
    if not runs:
        return None
    by_id = {r.id: r for r in runs}
    wanted = _url_run() if follow_url else None
    if wanted in by_id:
        default = list(by_id).index(wanted)
    else:
        default = next((i for i, r in enumerate(runs) if r.status == "completed"), 0)
    run_id = st.selectbox(title, list(by_id), index=default, format_func=lambda i: label(by_id[i]), key=key)
    if follow_url and st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id  # from the page body: a callback's URL change never reaches the browser
    return by_id[run_id]


def _url_run() -> str | None:
    wanted = st.query_params.get("run")
    try:
        return check_run_id(wanted) if wanted else None
    except UnknownRun:  # the URL is user input
        return None
