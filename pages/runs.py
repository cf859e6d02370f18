"""Runs: every run in the store, filtered; compare, delete, or train again with the same settings."""

import functools
import hashlib

import pandas as pd
import streamlit as st

from lib import names
from lib.runs import outcome
from lib.runs.progress import format_seconds
from lib.runs.store import STATUSES, UnknownRun
from ui import auth, compare, frame, run_actions, sidebar, state
from ui.resources import get_store

frame.ensure()  # a deep link right after a server restart must still get app.py's frame
SELECTED = "cs_runs_selected"  # run ids; survives reruns, unlike the table's row positions
SHOWN = "cs_runs_shown"
DRAWN = "cs_runs_drawn"  # (id, status, epochs) of every run as the table last showed them
CONFIRM = "cs_runs_confirm_delete"

st.title("Runs")
store = get_store()


def _row(run) -> dict:
    c = run.config
    return {
        "run": run.id,
        "status": run.status,
        "test accuracy": run.test_accuracy,  # what people compare first, before the table scrolls
        "time": format_seconds(run.duration) if run.duration else "",
        "where": run.placement,  # node and GPU it ran on ('' before it started)
        "sweep": c.extra.get("sweep", ""),  # a sweep's trial: which sweep (Sweeps page, ?sweep=ID)
        "dataset": names.dataset(run.dataset),  # display names; the ids are for the command line
        "architecture": names.architecture(run.architecture),
        "epochs": outcome.epochs_done(run),  # whole epochs, as `cli runs` lists them
        "batch": c.batch_size,
        "learning rate": c.learning_rate,
        "optimizer": c.optimizer,
        "dropout": c.dropout,
        "BatchNorm": c.batchnorm,
    }


def _on_select(table_key: str, drawn_ids: list[str]) -> None:
    """Row positions -> run ids, through the ids of the rows as drawn with that very table.

    The table's key changes with the order of its rows (see below), so positions are
    never read against another order; ticks on rows hidden by a filter are kept.
    """
    rows = st.session_state[table_key].selection.rows
    hidden = [i for i in st.session_state.get(SELECTED, []) if i not in drawn_ids]
    st.session_state[SELECTED] = hidden + [drawn_ids[i] for i in rows if 0 <= i < len(drawn_ids)]
    st.session_state.pop(CONFIRM, None)


def _signature(runs) -> list:
    return [(r.id, r.status, r.epochs_completed) for r in runs]


def _refresh_on_change() -> None:
    """Redraw the page when a run changes (a continued run starts, finishes): no stale 'queued'."""
    if _signature(store.list_runs()) != st.session_state.get(DRAWN):
        st.rerun(scope="app")


def _train_again(run_id: str) -> None:
    state.replace_config(store.get(run_id).config)
    st.session_state["cs_goto_train"] = True


def _watch(run_id: str) -> None:
    state.remember_run(run_id)
    st.session_state["cs_goto_train"] = True


def _delete(run_ids: list[str]) -> None:
    problems = []
    for run_id in run_ids:
        try:
            store.delete(run_id)
        except (ValueError, UnknownRun) as exc:  # still training, or deleted meanwhile by someone else
            problems.append(str(exc))
    st.session_state[SELECTED] = []
    st.session_state.pop(CONFIRM, None)
    st.session_state["cs_runs_message"] = "; ".join(problems) or f"Deleted {len(run_ids)} run(s)."


if st.session_state.pop("cs_goto_train", False):
    st.switch_page("pages/train.py")

runs = store.list_runs()
if not runs:
    st.info("No runs yet. Start one on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

# -- filters ---------------------------------------------------------------------
filters = st.columns(3)
statuses = filters[0].multiselect("Status", [s for s in STATUSES if any(r.status == s for r in runs)], key="f_status")
data_names = filters[1].multiselect(
    "Dataset", sorted({r.dataset for r in runs}), format_func=names.dataset, key="f_dataset"
)
arch_names = filters[2].multiselect(
    "Architecture", sorted({r.architecture for r in runs}), format_func=names.architecture, key="f_arch"
)
shown_runs = [
    r
    for r in runs
    if (not statuses or r.status in statuses)
    and (not data_names or r.dataset in data_names)
    and (not arch_names or r.architecture in arch_names)
]
shown_ids = [r.id for r in shown_runs]
st.session_state[SHOWN] = shown_ids
st.session_state[DRAWN] = _signature(runs)
# Another order (a filter, a continued run moving to the top, a deletion) is another table: the
# browser keeps ticks by row position, so a table reused across orders would tick other runs.
# The new table starts with the session's selected ids ticked wherever they now are.
_table_key = "runs_table:" + hashlib.sha1(" ".join(shown_ids).encode()).hexdigest()[:16]
_ticked = [shown_ids.index(i) for i in st.session_state.get(SELECTED, []) if i in shown_ids]

st.dataframe(
    pd.DataFrame([_row(r) for r in shown_runs], columns=list(_row(runs[0]))),
    hide_index=True,
    key=_table_key,
    on_select=functools.partial(_on_select, _table_key, shown_ids),
    selection_mode="multi-row",
    selection_default={"selection": {"rows": _ticked}},
    column_config={
        "test accuracy": st.column_config.NumberColumn(format="percent"),
        "learning rate": st.column_config.NumberColumn(format="%.0e"),
    },
)
st.caption(f"{len(shown_runs)} of {len(runs)} runs. Tick rows to compare them or act on them.")
if message := st.session_state.pop("cs_runs_message", None):
    st.toast(message)
if any(not r.is_finished for r in runs):  # something is queued or training: follow it
    st.fragment(run_every=2.0)(_refresh_on_change)()

selected = [i for i in st.session_state.get(SELECTED, []) if i in st.session_state[SHOWN]]
if not selected:
    st.stop()

# -- actions on the selection ---------------------------------------------------------
actions = st.columns(4)
one = len(selected) == 1
actions[0].button(
    "Train again",
    disabled=not one,
    on_click=_train_again,
    args=(selected[0],),
    icon=":material/replay:",
    help="Fills the Train page with this run's settings, for a new run." if one else "Select exactly one run.",
)
actions[1].button("Watch on the Train page", disabled=not one, on_click=_watch, args=(selected[0],))
forbidden = [r for r in runs if r.id in selected and not auth.may_manage(r)]
if actions[2].button(
    f"Delete {len(selected)} run(s)",
    icon=":material/delete:",
    disabled=bool(forbidden),
    help=f"Only the owner or an administrator can delete {forbidden[0].id}." if forbidden else None,
):
    st.session_state[CONFIRM] = list(selected)
if st.session_state.get(CONFIRM) == selected:
    with st.container(border=True):
        names = ", ".join(f"`{r.id}` ({sidebar.run_label(r)}, {r.status})" for r in runs if r.id in selected)
        st.warning(f"Delete {names} with metrics and model files? This cannot be undone.")
        yes, no = st.columns([1, 5])
        yes.button("Yes, delete", type="primary", on_click=_delete, args=(selected,), key="confirm_delete")
        no.button("Cancel", on_click=st.session_state.pop, args=(CONFIRM, None), key="cancel_delete")

if one:
    with st.expander("Export and keep training", expanded=True, icon=":material/download:"):
        run_actions.render_run_actions(store, store.get(selected[0]))

# -- compare ---------------------------------------------------------------------
compare.render_compare(store, selected)
