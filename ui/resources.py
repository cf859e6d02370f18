"""Resources shared by every session of one server, held in st.cache_resource."""

from __future__ import annotations

import streamlit as st

from lib import settings
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store, default_runs_dir
from lib.runs.store_errors import StoreError


@st.cache_resource
def _store(runs_dir: str, url: str | None) -> Store:
    return Store(runs_dir, url=url)


def get_store() -> Store:
    """The run store (CONVSTUDIO_RUNS_DIR, default ./runs; its database CONVSTUDIO_STORE); one per server.

    A store that cannot be opened (locked, unwritable, damaged, from a newer ConvStudio, a
    database server that does not answer) ends the page with its one-line reason, not a traceback.
    """
    try:
        return _store(default_runs_dir(), settings.store_url())
    except StoreError as exc:
        show_store_error(exc)


def show_store_error(exc: StoreError) -> None:
    """The boundary for pages: the store's own message, what to do, and the page stops here."""
    st.error(f"The run store cannot be used: {exc}", icon=":material/database:")
    st.stop()


@st.cache_resource
def _scheduler(runs_dir: str) -> Scheduler:
    scheduler = Scheduler(_store(runs_dir, settings.store_url()))
    scheduler.start_background(interval=1.0)
    return scheduler


def get_scheduler() -> Scheduler | None:
    """The one scheduler of this server: a daemon thread that starts queued runs in workers.

    CONVSTUDIO_NO_SCHEDULER=1 leaves queued runs queued: app tests use it to check
    the queue without training, and a server can leave training to `lib.cli` workers.
    """
    if settings.no_scheduler():
        return None
    try:
        return _scheduler(default_runs_dir())
    except StoreError as exc:  # the store, or the Ray cluster the scheduler would use, is out of reach
        show_store_error(exc)
