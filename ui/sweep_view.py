"""The Sweeps page's parts: starting a sweep, watching one, and the server's background sweep driver.

Sweeps are driven by whichever process holds a sweep's lease (lib.sweeps.driver):
here, one daemon thread per server ticks every running sweep, so a sweep started
from the page, or left behind by a command line that was killed, carries on as
long as the app runs. Trials are ordinary runs; the app's scheduler trains them.
"""

from __future__ import annotations

import threading
import time
import traceback

import pandas as pd
import streamlit as st

from lib import names, settings
from lib.charts import curves
from lib.charts import sweeps as sweep_charts
from lib.config import ConfigError
from lib.runs import access
from lib.runs.progress import format_seconds
from lib.runs.store import UnknownRun, default_runs_dir
from lib.runs.store_errors import StoreError
from lib.runs.submit import submit
from lib.sweeps.driver import Driver, SweepBusy, reopen_sweep, stop_sweep
from lib.sweeps.importance import importances
from lib.sweeps.record import Sweep, SweepRecords, SweepSpec, Trial, UnknownSweep
from lib.sweeps.space import SearchSpace, SpaceError, sweepable
from lib.sweeps.strategy import PRUNERS, STRATEGIES
from ui import auth, state
from ui.resources import get_store

SWEEP_KEY = "cs_sweep"  # the sweep this session watches
URL_KEY = "sweep"
REFRESH_S = 2.0
DEFAULT_SPECS = {
    "learning_rate": "1e-4:1e-2:log", "batch_size": "32,64,128", "dropout": "0.0:0.5", "width": "0.5,1.0",
    "weight_decay": "0:0.001", "augment_shift": "0:0.15", "augment_rotation": "0:15", "augment_zoom": "0:0.2",
    "optimizer": "adam,sgd", "lr_schedule": "constant,cosine", "architecture": "lenet5,simple_cnn",
    "batchnorm": "true,false", "augment_flip": "true,false",
}  # fmt: skip


# -- shared resources ---------------------------------------------------------------
@st.cache_resource
def _records(runs_dir: str, url: str | None) -> SweepRecords:
    return SweepRecords(get_store())


def get_records() -> SweepRecords:
    return _records(default_runs_dir(), settings.store_url())


class BackgroundDriver:
    """A daemon thread driving every running sweep whose lease is free (one per server)."""

    def __init__(self, store, records: SweepRecords, interval: float = 1.0):
        self.store, self.records, self.interval = store, records, interval
        self.drivers: dict[str, Driver] = {}
        self.thread = threading.Thread(target=self._loop, name="convstudio-sweeps", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # the loop must survive a locked store or a bad sweep
                traceback.print_exc()
            time.sleep(self.interval)

    def tick(self) -> None:
        policy = access.load_policy()  # re-read: an administrator's edit takes effect
        for sweep in self.records.list(["running"]):
            driver = self.drivers.setdefault(sweep.id, Driver(self.store, self.records, sweep.id))
            driver.policy = policy
            if not driver.claim():
                continue  # another process drives it (a command line)
            try:
                if driver.tick() != "running":
                    driver.release()
                    self.drivers.pop(sweep.id, None)
            except SweepBusy:
                self.drivers.pop(sweep.id, None)


@st.cache_resource
def _background(runs_dir: str, url: str | None) -> BackgroundDriver:
    return BackgroundDriver(get_store(), _records(runs_dir, url))


def start_driver() -> None:
    """Start this server's sweep driver (not with CONVSTUDIO_NO_SCHEDULER: nothing would train the trials)."""
    if not settings.no_scheduler():
        _background(default_runs_dir(), settings.store_url())


# -- the sweep this session watches ----------------------------------------------------------
def current_sweep_id(records: SweepRecords) -> str | None:
    """?sweep=ID (a reload, a shared link) or the one this session opened; anything else is dropped."""
    for candidate in (st.query_params.get(URL_KEY), st.session_state.get(SWEEP_KEY)):
        if candidate:
            try:
                records.get(candidate)
            except (UnknownSweep, StoreError):  # unknown, or a damaged record (the list says which)
                continue
            st.session_state[SWEEP_KEY] = candidate
            return candidate
    return None


def watch(sweep_id: str | None) -> None:
    st.session_state[SWEEP_KEY] = sweep_id
    if sweep_id:
        st.query_params[URL_KEY] = sweep_id
    else:
        st.query_params.pop(URL_KEY, None)


# -- a new sweep -------------------------------------------------------------------------------
def new_sweep_form(records: SweepRecords) -> None:
    """What to vary and how, from the Train page's current settings; Start records the sweep."""
    base = state.config()
    st.caption(
        f"Every trial starts from the Train page's settings ({names.subject(base.architecture, base.dataset)},"
        f" batch {base.batch_size}, learning rate {base.learning_rate:g}) and changes only what you vary."
    )
    fields = st.multiselect(
        "Vary", sweepable(), default=["learning_rate"], key="sw_fields", help="Any setting that makes sense to search."
    )
    specs = {}
    for name in fields:
        specs[name] = st.text_input(
            name,
            value=DEFAULT_SPECS.get(name, ""),
            key=f"sw_spec_{name}",
            help="A list (32,64,128) or a range LOW:HIGH, LOW:HIGH:log.",
        )
    left, middle, right = st.columns(3)
    strategy = left.selectbox("Strategy", STRATEGIES, index=1, key="sw_strategy", help="tpe: Optuna's Bayesian TPE.")
    trials = middle.number_input("Trials", 1, 500, 8, key="sw_trials", disabled=strategy == "grid")
    epochs = right.number_input("Epochs per trial", 1, 500, max(1, min(base.epochs, 3)), key="sw_epochs")
    pruner = left.selectbox("Stop poor trials early", PRUNERS, key="sw_pruner", help="Optuna's median or Hyperband.")
    if st.button("Start the sweep", type="primary", icon=":material/travel_explore:", key="sw_start"):
        _start(records, base, specs, strategy, None if strategy == "grid" else int(trials), int(epochs), pruner)


def _start(records: SweepRecords, base, specs: dict, strategy: str, trials, epochs: int, pruner: str) -> None:
    try:
        space = SearchSpace.parse([f"{name}={spec}" for name, spec in specs.items()])
        config = base.replace(epochs=epochs).validate()
        if not config.validation_split:
            raise SpaceError("trials are compared on validation accuracy: set a validation split above 0")
        access.check_submission(auth.policy(), get_store(), None, config)  # the epoch limit, before anything runs
        sweep_id = records.create(
            SweepSpec(base=config, space=space, strategy=strategy, pruner=pruner, trials=trials), owner=auth.user()
        )
    except (SpaceError, ConfigError) as exc:
        st.error(str(exc), icon=":material/error:")
        return
    start_driver()
    watch(sweep_id)
    st.rerun()


# -- one sweep ------------------------------------------------------------------------------------
def show(records: SweepRecords, sweep_id: str) -> None:
    """The live view: refreshed every few seconds while the sweep runs."""
    running = records.get(sweep_id).is_running

    @st.fragment(run_every=REFRESH_S if running else None)
    def live():
        sweep = records.get(sweep_id)
        trials = records.trials(sweep_id)
        _header(records, sweep, trials)
        if not trials:
            st.info("The first trial is being queued.")
            return
        rows = trial_rows(get_store(), trials)
        st.dataframe(pd.DataFrame([_table_row(r) for r in rows]), hide_index=True, key="sw_table")
        scored = [
            {"number": r["trial"], "state": r["state"], "value": r["best val. accuracy"], **r["settings"]} for r in rows
        ]
        left, right = st.columns([3, 2])
        left.plotly_chart(sweep_charts.parallel_coordinates(sweep.spec.space, scored), key="sw_parcoords")
        right.plotly_chart(sweep_charts.history(scored), key="sw_history")
        _importance(sweep, trials)
        _best(sweep, trials)
        if running and not sweep.is_running:
            st.rerun()  # the sweep ended: redraw the page once without the refresh

    live()


def _header(records: SweepRecords, sweep: Sweep, trials: list[Trial]) -> None:
    search = sweep.search()
    done = sum(t.state in ("complete", "pruned", "fail") for t in trials)
    st.subheader(f"Sweep {sweep.id}")
    varies = "; ".join(sweep.spec.space.describe())
    st.markdown(
        f"**{sweep.state}** · {sweep.spec.strategy}, {done}/{search.trials} trials done,"
        f" {sweep.spec.base.epochs} epochs each · pruning: {sweep.spec.pruner} · varies {varies}"
    )
    st.progress(done / search.trials if search.trials else 0.0)
    may = auth.may_act_on(sweep.owner)
    if sweep.is_running:
        if st.button("Stop the sweep", icon=":material/stop:", key="sw_stop", disabled=not may):
            stop_sweep(get_store(), records, sweep.id)
            st.rerun()
    elif sweep.state in ("stopped", "failed"):
        if st.button("Resume the sweep", icon=":material/play_arrow:", key="sw_resume", disabled=not may):
            reopen_sweep(get_store(), records, sweep.id)
            start_driver()
            st.rerun()


def trial_rows(store, trials: list[Trial]) -> list[dict]:
    rows = []
    for t in trials:
        run = None
        if t.run_id:
            try:
                run = store.get(t.run_id)
            except UnknownRun:
                run = None
        rows.append(
            {
                "trial": t.number,
                "state": t.state,
                "settings": t.record.params,
                "best val. accuracy": t.best,
                "time": format_seconds(run.duration) if run and run.duration else "",
                "run": t.run_id or "",
                "note": t.reason or ("" if run is None else run.status),
            }
        )
    return rows


def _table_row(row: dict) -> dict:
    return {
        "trial": row["trial"],
        "state": row["state"],
        **row["settings"],
        "best val. accuracy": row["best val. accuracy"],
        "time": row["time"],
        "run": row["run"],
        "note": row["note"],
    }


@st.cache_data(max_entries=32, show_spinner="Weighing the settings...")
def _cached_importance(sweep_id: str, spec_json: str, finished: tuple) -> dict:
    """fANOVA fits a forest: once per new finished trial, not on every refresh."""
    records = get_records()
    sweep = records.get(sweep_id)
    return importances(sweep.search(), [t.record for t in records.trials(sweep_id)])


def _importance(sweep: Sweep, trials: list[Trial]) -> None:
    finished = tuple(t.number for t in trials if t.state == "complete")
    found = _cached_importance(sweep.id, sweep.spec.to_json(), finished)
    if found:
        st.plotly_chart(sweep_charts.importance(found), key="sw_importance")
    else:
        st.caption("What mattered (fANOVA) shows once three trials have finished with different scores.")


def _best(sweep: Sweep, trials: list[Trial]) -> None:
    best = sweep.search().best([t.record for t in trials])
    if best is None:
        return
    trial = next(t for t in trials if t.number == best.number)
    store = get_store()
    try:
        run = store.get(trial.run_id)
    except UnknownRun:
        return
    settings_text = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in best.params.items())
    st.markdown(f"**Best: trial {best.number}** ({settings_text}): validation accuracy **{best.value:.4f}**")
    epochs = store.epochs(run.id)
    left, right = st.columns(2)
    left.plotly_chart(curves.epoch_figure(epochs, "accuracy", planned=run.config.epochs), key="sw_best_acc")
    right.plotly_chart(curves.epoch_figure(epochs, "loss", planned=run.config.epochs), key="sw_best_loss")
    one, two, three = st.columns([1, 1, 2], vertical_alignment="bottom")
    one.button(
        "Use these settings", icon=":material/content_copy:", key="sw_use", on_click=_use_settings, args=(run.config,)
    )
    more = three.number_input("Epochs", 1, 500, max(run.config.epochs * 3, 5), key="sw_longer_epochs")
    if two.button("Train it longer", icon=":material/fast_forward:", key="sw_longer"):
        _train_longer(run.config, int(more))


def _clean(config):
    """A trial's settings as plain settings: no sweep link, no stamped limits."""
    extra = {k: v for k, v in config.extra.items() if k not in ("sweep", "trial", "max_run_minutes")}
    return config.replace(extra=extra)


def _use_settings(config) -> None:
    state.replace_config(_clean(config))
    st.session_state["cs_sweep_used"] = True


def _train_longer(config, epochs: int) -> None:
    owner = auth.user()
    try:
        run_id = submit(get_store(), _clean(config).replace(epochs=epochs), owner, auth.policy())
    except ConfigError as exc:
        st.error(f"{exc.field}: {exc.message}", icon=":material/error:")
        return
    state.remember_run(run_id)
    st.switch_page("pages/train.py")


def sweep_list(records: SweepRecords) -> None:
    sweeps = records.list()
    for bad in records.bad:  # a damaged record is said, not fatal for the others
        st.warning(f"{bad}: it is left out.", icon=":material/warning:")
    if not sweeps:
        st.info("No sweep yet: choose what to vary above and press **Start the sweep**.")
        return
    rows = []
    for s in sweeps:
        trials = records.trials(s.id)
        best = s.search().best([t.record for t in trials])
        rows.append(
            {
                "sweep": s.id,
                "state": s.state,
                "strategy": s.spec.strategy,
                "trials": f"{sum(t.state in ('complete', 'pruned', 'fail') for t in trials)}/{s.search().trials}",
                "varies": ", ".join(s.spec.space.names),
                "best val. accuracy": best.value if best else None,
                "owner": s.owner or "",
            }
        )
    choice = st.selectbox("Open a sweep", [r["sweep"] for r in rows], index=None, key="sw_open")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="sw_list")
    if choice:
        watch(choice)
        st.rerun()
