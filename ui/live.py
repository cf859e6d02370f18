"""The live view of one run: status, queue place, progress, Stop, and its charts.

Redrawn every second by a fragment while the run is queued or training. Batch
rows are fetched incrementally (only steps after the last one seen) into a
per-session buffer that curves.append_thinned keeps bounded, so an hour-long
run costs the server no more memory than a minute-long one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from lib.charts import curves, diagnostics
from lib.config import ConfigError
from lib.data import datasets
from lib.names import subject
from lib.runs import outcome, resume
from lib.runs.progress import format_seconds
from lib.runs.store import Run, Store, UnknownRun
from ui import auth, sidebar, state

BUFFER_KEY = "cs_batch_buffer"
MAX_POINTS = 2000
STATUS_ICONS = {
    "queued": ":material/hourglass_top:",
    "running": ":material/play_circle:",
    "stopping": ":material/stop_circle:",
    "completed": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "failed": ":material/error:",
    "interrupted": ":material/warning:",
}


def batch_rows(store: Store, run_id: str) -> list[dict]:
    """This session's thinned copy of the run's batch metrics, topped up with the rows since last time."""
    buffer = st.session_state.get(BUFFER_KEY)
    if not buffer or buffer["run"] != run_id:
        buffer = {"run": run_id, "rows": store.batches(run_id, max_points=MAX_POINTS // 2)}
    else:
        last = buffer["rows"][-1]["step"] if buffer["rows"] else -1
        buffer["rows"] = curves.append_thinned(buffer["rows"], store.batches(run_id, since_step=last), MAX_POINTS)
    st.session_state[BUFFER_KEY] = buffer
    return buffer["rows"]


def describe(run: Run) -> str:
    """The run's own settings (not the session's, which may have changed since it started)."""
    c = run.config
    images = f"{c.train_limit:,} images" if c.train_limit else "all images"
    epochs = f"{c.epochs} epoch" + ("" if c.epochs == 1 else "s")
    return (
        f"{subject(c.architecture, c.dataset)} · {epochs} · batch {c.batch_size} · {c.optimizer}"
        f" lr {c.learning_rate:g} · dropout {c.dropout:g}{' · BatchNorm' if c.batchnorm else ''} · {images}"
        f"{' · augmented' if c.augments else ''}{' · on ' + run.device if run.device else ''}"
    )


STOP_ASKED = "cs_stop_asked"  # run ids this session pressed Stop for


def _stop(store: Store, run_id: str) -> None:
    store.request_stop(run_id)
    st.session_state.setdefault(STOP_ASKED, set()).add(run_id)  # said at once, even before the store answers


def _outcome(store: Store, run: Run) -> None:
    """What a finished run left: its test accuracy, and whether a model was kept."""
    seconds = format_seconds(run.duration or 0)
    epochs = f"{run.epochs_completed} of {run.config.epochs} epoch" + ("" if run.config.epochs == 1 else "s")
    if cut := outcome.partial_epoch(run):  # a stop mid-epoch: whole epochs, and how far the cut one got
        epochs += f" (and {cut})"
    accuracy = f"Test accuracy **{run.test_accuracy:.2%}**" if run.test_accuracy is not None else None
    if run.status == "completed" and accuracy:
        st.success(f"{accuracy} after {epochs} ({seconds}).")
    elif run.status == "stopped":
        kept = store.model_path(run.id).is_file()
        if kept and accuracy:
            st.success(
                f"Stopped on request after {epochs} ({seconds}). Model kept: its weights when it stopped. {accuracy}.",
                icon=":material/stop_circle:",
            )
        else:
            st.info(f"Stopped before any model was saved ({epochs}).", icon=":material/stop_circle:")


def _header(store: Store, run: Run) -> None:
    status = run.status
    if status == "running" and run.id in st.session_state.get(STOP_ASKED, ()):
        status = "stopping"  # Stop was pressed: say so now, not when the worker notices
    icon = STATUS_ICONS.get(status, "")
    st.markdown(f"### {icon} Run `{run.id}` · {status}")
    st.caption(describe(run))
    if run.status == "queued":
        position = store.queue_position(run.id)
        busy = ", ".join(sidebar.run_label(r) for r in store.active()) or "nothing yet"
        st.info(f"Waiting: place **{position}** in the queue. Training now: {busy}.", icon=":material/hourglass_top:")
    elif status == "stopping":
        done, text = sidebar.progress_text(dataclasses.replace(run, status="stopping"))
        st.progress(done, text=text)
        st.info(
            "Stopping... the run ends after the current batch; the model is kept and tested, then saved.",
            icon=":material/stop_circle:",
        )
    elif run.status == "running":
        done, text = sidebar.progress_text(run)
        st.progress(done, text=text)
    else:
        _outcome(store, run)
    if run.error:
        (st.error if run.status == "failed" else st.warning)(run.error)
    if resume.offers_half_batch(run):
        _offer_half_batch(store, run)
    if run.status == "interrupted":
        _offer_resume(store, run)
    if run.status == "queued" or status == "running":
        allowed = auth.may_manage(run)
        st.button(
            "Stop",
            key="stop_run",
            icon=":material/stop:",
            on_click=_stop,
            args=(store, run.id),
            disabled=not allowed,
            help=None if allowed else f"Only {run.owner} or an administrator can stop this run.",
        )


def _offer_half_batch(store: Store, run: Run) -> None:
    """Out of memory: one click queues the same settings at half the batch, and the page follows it."""
    half = run.config.batch_size // 2
    if not st.button(f"Retry with batch size {half}", key="retry_half_batch", icon=":material/replay:"):
        return
    try:
        new_id = resume.retry_with_half_batch(store, run.id, owner=auth.user(), policy=auth.policy())
    except ConfigError as exc:
        st.error(f"Cannot retry: {exc.message}", icon=":material/error:")
        return
    state.remember_run(new_id)
    st.rerun(scope="app")  # the page body puts the new run in the address bar


def _offer_resume(store: Store, run: Run) -> None:
    """A run the server lost: queue it again to carry on after its last saved epoch."""
    allowed = auth.may_manage(run)
    label = f"Resume from epoch {run.epochs_completed + 1}" if run.epochs_completed else "Start it again"
    if not st.button(
        label,
        key="resume_run",
        icon=":material/resume:",
        disabled=not allowed,
        help=None if allowed else f"Only {run.owner} or an administrator can resume this run.",
    ):
        return
    try:
        resume.resume_interrupted(store, run.id, user=auth.user(), policy=auth.policy())
    except ConfigError as exc:
        st.error(f"Cannot resume: {exc.message}", icon=":material/error:")
        return
    st.rerun(scope="app")  # the run is queued again: the page starts refreshing


def _charts(store: Store, run: Run) -> None:
    epochs = store.epochs(run.id)
    rows = batch_rows(store, run.id)
    live_rate = run.progress.images_per_second if run.is_active else None
    planned = run.config.epochs
    top = st.columns(2)
    top[0].plotly_chart(curves.batch_loss_figure(rows), key="chart_batch_loss")
    top[1].plotly_chart(curves.epoch_figure(epochs, "loss", planned), key="chart_epoch_loss")
    bottom = st.columns(3)
    bottom[0].plotly_chart(curves.epoch_figure(epochs, "accuracy", planned), key="chart_epoch_accuracy")
    bottom[1].plotly_chart(curves.learning_rate_figure(epochs, planned), key="chart_learning_rate")
    bottom[2].plotly_chart(curves.throughput_figure(epochs, live_rate, planned), key="chart_throughput")
    render_live_confusion(store, run.id)


def _view(store: Store, run_id: str, was_active: bool) -> None:
    try:
        run = store.get(run_id)
    except UnknownRun:  # deleted from another browser while this one watched it
        st.warning(f"Run `{run_id}` was deleted.")
        return
    _header(store, run)
    if run.status != "queued":
        _charts(store, run)
    if was_active and run.is_finished:
        st.rerun()  # the whole page: the run's buttons change and the refresh stops


def show(store: Store, run_id: str) -> None:
    """Draw the run; refresh every second while it is queued or training, then stop refreshing."""
    try:
        active = not store.get(run_id).is_finished
    except UnknownRun:
        active = False
    st.fragment(run_every=1.0 if active else None)(_view)(store, run_id, active)


def no_run_watched(store: Store) -> None:
    """The Train page of a session that watches no run: the server's current runs, each with a link.

    A second tab said "No run yet" while runs trained; it now names them (its user's own ones are
    already shown as the watched run, see state.current_run_id).
    """
    runs = store.active() + store.queue()
    if not runs:
        st.info("No run yet: set the knobs above and press **Start training**. Past runs are on the Runs page.")
        return
    st.info(
        "None of your runs is training. On this server now (past runs are on the Runs page):",
        icon=":material/info:",
    )
    for run in runs:
        owner = f" · {run.owner}" if run.owner else ""
        sidebar.watch_link(f"Watch {sidebar.run_label(run)} · {run.status}{owner}", run.id)


def render_live_confusion(store: Store, run_id: str) -> None:
    """The latest epoch's confusion matrix and per-class accuracy on the fixed validation slice."""
    rows = [e for e in store.epochs(run_id) if e.get("confusion")]
    if not rows:
        st.caption("The validation confusion matrix and per-class accuracy appear here after each epoch.")
        return
    last = rows[-1]
    names = datasets.info(store.get(run_id).dataset).class_names
    counts = np.asarray(last["confusion"])
    normalised = st.toggle("Row-normalised", value=True, key="live_confusion_normalised")
    cols = st.columns(2)
    cols[0].plotly_chart(
        diagnostics.confusion_figure(counts, names, normalised, f"Validation confusion after epoch {last['epoch']}"),
        key="live_confusion",
    )
    title = f"Per-class accuracy, epoch {last['epoch']}"
    cols[1].plotly_chart(
        diagnostics.per_class_accuracy_figure(names, last["per_class_accuracy"], title),
        key="live_per_class",
    )
    st.caption(f"On a fixed slice of {int(counts.sum()):,} validation images, recomputed after every epoch.")
