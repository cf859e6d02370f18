"""The sidebar on every page: the device, the shared queue, and the current run's progress."""

from __future__ import annotations

import streamlit as st

from lib.runs.store import Run
from ui import cached, state
from ui.resources import get_store

TRAIN_PAGE = "pages/train.py"


def run_label(run: Run) -> str:
    return f"{run.architecture} on {run.dataset} · {run.id[-6:]}"


def progress_text(run: Run) -> tuple[float, str]:
    """(fraction done, 'epoch 2/5 · batch 40/94 · 0:31 left') from a run's progress dict."""
    p = run.progress or {}
    if run.status == "queued":
        return 0.0, "waiting in the queue"
    if p.get("phase") not in (None, "training") or not p.get("epochs"):
        return 0.0, str(p.get("phase") or run.status)
    if not p.get("steps"):  # training has begun but no batch has reported yet
        return 0.0, f"starting {p['epochs']} epoch(s)"
    epochs, steps = max(1, int(p["epochs"])), max(1, int(p["steps"]))
    epoch, batch = int(p.get("epoch") or 0), int(p.get("batch") or 0)
    done = min(1.0, max(0.0, ((epoch - 1) + min(batch, steps) / steps) / epochs)) if epoch else 0.0
    text = f"epoch {epoch}/{epochs} · batch {batch}/{steps}"
    eta = p.get("eta_seconds")
    if isinstance(eta, (int, float)) and eta >= 0:
        text += f" · {format_seconds(eta)} left"
    return done, text


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _device() -> None:
    info = cached.device()
    if info["gpus"]:
        for gpu in info["gpus"]:
            used, total = gpu["memory_used_mb"], max(1, gpu["memory_total_mb"])
            st.progress(used / total, text=f":material/memory: {gpu['name']}: {used:,}/{total:,} MiB")
    else:
        st.caption(f":material/memory: {info['summary']}: no GPU, training runs on the CPU")


@st.fragment(run_every=2)
def _status() -> None:
    store = get_store()
    active, queue = store.active(), store.queue()
    mine = state.current_run_id(store)
    if not active and not queue:
        st.caption("Nothing is training.")
    for run in active:
        done, text = progress_text(run)
        star = " (yours)" if run.id == mine else ""
        st.progress(done, text=f"**{run_label(run)}**{star}  \n{text}")
        if run.id != mine:  # anyone may watch any run; only the URL changes
            st.page_link(TRAIN_PAGE, label="Watch it", icon=":material/monitoring:", query_params={"run": run.id})
    if queue:
        st.markdown(f"**Queue** ({len(queue)} waiting)")
        for position, run in enumerate(queue, start=1):
            star = " (yours)" if run.id == mine else ""
            st.caption(f"{position}. {run_label(run)}{star}")
    if mine:
        st.page_link(TRAIN_PAGE, label="Watch your run", icon=":material/monitoring:", query_params={"run": mine})


def render() -> None:
    """Drawn by ui.frame.draw on every run."""
    with st.sidebar:
        st.subheader("Server")
        _device()
        _status()
