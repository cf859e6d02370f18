"""Resources shared by every session of one server, held in st.cache_resource."""

from __future__ import annotations

import streamlit as st

from lib import settings
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store, default_runs_dir


@st.cache_resource
def _store(runs_dir: str, url: str | None) -> Store:
    return Store(runs_dir, url=url)


def get_store() -> Store:
    """The run store (CONVSTUDIO_RUNS_DIR, default ./runs; its database CONVSTUDIO_STORE); one per server."""
    return _store(default_runs_dir(), settings.store_url())


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
    return _scheduler(default_runs_dir())
