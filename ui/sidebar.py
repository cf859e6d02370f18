"""The sidebar on every page: the device, the shared queue, and the current run's progress."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from lib.names import subject
from lib.runs.store import Run
from ui import auth, cached, state
from ui.resources import get_scheduler, get_store

TRAIN_PAGE = "pages/train.py"


def run_label(run: Run) -> str:
    return f"{subject(run.architecture, run.dataset)} · {run.id[-6:]}"  # display names, as on every page


def progress_text(run: Run) -> tuple[float, str]:
    """(fraction done, 'epoch 2/5 · batch 40/94 · 0:31 left') from a run's progress record."""
    if run.status == "queued":
        return 0.0, "waiting in the queue"
    if not run.is_active:
        return 0.0, run.status
    if run.status == "stopping":  # the same words in the sidebar and the main view
        step = "testing the kept model" if run.progress.phase == "evaluating" else "finishing the current batch"
        return run.progress.fraction_done, f"stopping: {step}"
    return run.progress.fraction_done, run.progress.describe()


def _device() -> None:
    info = cached.device()
    if info["gpus"]:
        for gpu in info["gpus"]:
            used, total = gpu["memory_used_mb"], max(1, gpu["memory_total_mb"])
            st.progress(used / total, text=f":material/memory: {gpu['name']}: {used:,}/{total:,} MiB")
    else:
        st.caption(f":material/memory: {info['summary']}: no GPU, training runs on the CPU")


def cluster_caption(capacity: dict | None) -> str | None:
    """'Ray cluster: 3 nodes · GPUs 1 of 2 free · CPUs 2 of 3 free', or None without a cluster."""
    if not capacity:
        return None
    nodes = capacity["nodes"]
    text = f":material/hub: Ray cluster: {nodes} node{'s' if nodes != 1 else ''}"
    if capacity["gpus"]:
        text += f" · GPUs {capacity['gpus_free']} of {capacity['gpus']} free"
    return text + f" · CPUs {capacity['cpus_free']} of {capacity['cpus']} free"


def _cluster() -> None:
    scheduler = get_scheduler()
    try:
        caption = cluster_caption(scheduler.capacity() if scheduler else None)
        problems = scheduler.problems() if scheduler else []  # e.g. a node that does not see the runs folder
    except Exception as exc:  # the cluster's head went away: say so, keep the sidebar
        caption, problems = f":material/hub: Ray cluster not reachable ({type(exc).__name__})", []
    if caption:
        st.caption(caption)
    for problem in problems:
        st.warning(problem, icon=":material/folder_off:")


def watch_link(label: str, run_id: str) -> None:
    try:
        st.page_link(TRAIN_PAGE, label=label, icon=":material/monitoring:", query_params={"run": run_id})
    except StreamlitPageNotFoundError:  # a new session's first run, before app.py's st.navigation named the pages
        pass  # the next refresh, a second later, draws it


def _yours(run: Run, user: str) -> str:
    """' (yours)' for runs the store records as this user's: in every tab and session, not just this one."""
    return " (yours)" if run.owner is not None and run.owner == user else ""


@st.fragment(run_every=1)  # as often as the live view, so both say the same
def _status() -> None:
    store = get_store()
    active, queue = store.active(), store.queue()
    mine, user = state.current_run_id(store), auth.user()
    if not active and not queue:
        st.caption("Nothing is training.")
    for run in active:
        done, text = progress_text(run)
        st.progress(done, text=f"**{run_label(run)}**{_yours(run, user)}  \n{text}")
        if run.id != mine:  # anyone may watch any run; only the URL changes
            watch_link("Watch it", run.id)
    if queue:
        st.markdown(f"**Queue** ({len(queue)} waiting)")
        for position, run in enumerate(queue, start=1):
            st.caption(f"{position}. {run_label(run)}{_yours(run, user)}")
    if mine:
        owned = any(r.id == mine and _yours(r, user) for r in active + queue)
        watch_link("Watch your run" if owned else "Watch the run you opened", mine)


def render() -> None:
    """Drawn by ui.frame.draw on every run."""
    with st.sidebar:
        st.subheader("Server")
        _device()
        _cluster()
        _status()
