"""The scheduler: claims queued runs, hands them to an executor, and notices workers that died.

It runs inside the app (a background thread) or on its own (`python -m lib.cli serve`).
Several may run against one store: each tick first takes (or renews) a lease in the
store, so exactly one scheduler per executor and machine (one per cluster for Ray)
starts work; the others stand by and take over when its lease runs out. Claims are
atomic in the store, so even two schedulers that both hold work can never start one
run twice.

Liveness is the worker's heartbeat in the store: a run that has not beaten for longer
than the limit is marked interrupted with where it ran and why, whatever killed it
and on whichever machine. The executor also reports workers that ended badly, at
once: the local one its own children's exit codes; the Ray one any active run whose
actor vanished, whichever scheduler started it (Ray runs outlive their scheduler).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time

from lib import settings
from lib.runs.executors import LocalExecutor
from lib.runs.executors_ray import RayExecutor
from lib.runs.store import Store
from lib.runs.store_errors import StoreError

LEASE_TTL_S = 15.0  # a scheduler that stops ticking for this long hands over to another


def make_executor(store: Store, slots: list[str] | None = None, worker_module: str = "lib.train"):
    """The executor settings ask for (CONVSTUDIO_EXECUTOR): local unless it says ray."""
    if settings.executor() == "ray":
        return RayExecutor(store, settings.ray_address(), worker_module)
    return LocalExecutor(store, slots, worker_module)


class Scheduler:
    """Starts queued runs on free places and reaps workers. Safe to run in several processes."""

    def __init__(
        self,
        store: Store,
        slots: list[str] | None = None,
        worker_module: str = "lib.train",
        executor=None,
        heartbeat_limit_s: float | None = None,
        startup_grace_s: float | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
        holder: str | None = None,
    ):
        self.store = store
        self.executor = executor or make_executor(store, slots, worker_module)
        self.heartbeat_limit_s = heartbeat_limit_s or settings.heartbeat_limit_s()
        self.startup_grace_s = startup_grace_s or max(self.heartbeat_limit_s, 120.0)
        self.lease_ttl_s = lease_ttl_s
        # one holder per process: schedulers in one process (tests, the CLI beside nothing else)
        # never wait on each other; another process waits until this one's lease runs out
        self.holder = holder or f"{settings.node_name()}:{os.getpid()}"
        self.leading = False
        self._lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()
        self._watching_since = time.time()  # heartbeats are judged only over time we could see the store
        self._last_ok = None
        atexit.register(self._release_lease)  # a CLI that exits hands the queue over at once

    # compatibility with callers of the local scheduler
    @property
    def slots(self) -> list[str]:
        return self.executor.slots()

    @property
    def children(self) -> dict:
        return getattr(self.executor, "children", {})

    def capacity(self) -> dict | None:
        """The Ray cluster's nodes, GPUs and CPUs and how many are free (the sidebar shows them); None locally."""
        resources = getattr(self.executor, "resources", None)
        return resources() if resources else None

    def problems(self) -> list[str]:
        """What the executor cannot use and why (a Ray node that does not see the runs folder)."""
        problems = getattr(self.executor, "problems", None)
        return problems() if problems else []

    # -- liveness ----------------------------------------------------------------------
    def _lost_reason(self, run, silent_s: float) -> str:
        where = f" on {run.node}" if run.node else ""
        if run.heartbeat is None:
            what = f"Its worker{where} never reported after {silent_s:.0f} s (it did not start, or died at once)."
        else:
            what = (
                f"Its worker{where} stopped reporting {silent_s:.0f} s ago (after epoch {run.epochs_completed}):"
                " the worker or its machine stopped."
            )
        return what + " Resume it to continue from its last saved epoch."

    def reap_stale(self, judge_from: float | None = None) -> list[str]:
        """Interrupt active runs whose worker has been silent past the limit. Returns their ids."""
        now = time.time()
        since = self._watching_since if judge_from is None else judge_from
        lost = []
        for run in self.store.active():
            last = run.heartbeat or run.claimed or run.started or 0.0
            limit = self.heartbeat_limit_s if run.heartbeat else self.startup_grace_s
            if now - max(last, since) <= limit:
                continue
            if self.store.mark_lost(run.id, run.attempt, now - limit, self._lost_reason(run, now - last)):
                lost.append(run.id)
                self.executor.node_lost(run.node)  # Ray: no new runs there until the cluster knows
        return lost

    def recover(self) -> list[str]:
        """At start: runs whose worker has already been silent past the limit become interrupted."""
        return self.reap_stale(judge_from=0.0)

    # -- the tick ---------------------------------------------------------------------
    def _lead(self) -> bool:
        info = {"executor": self.executor.name, "pid": os.getpid(), "node": settings.node_name()}
        self.leading = self.store.acquire_lease(self.executor.lease_name, self.holder, self.lease_ttl_s, info)
        return self.leading

    def tick(self) -> list[str]:
        """Reap, check heartbeats, then start queued runs while there is room. Returns started ids."""
        with self._lock:
            now = time.time()
            if self._last_ok is not None and now - self._last_ok > self.lease_ttl_s:
                self._watching_since = now  # we could not see the store: give every worker a fresh limit
            if not self._lead():
                self._last_ok = now
                return []
            for ended in self.executor.poll():
                self.store.finish(ended.run_id, ended.status, error=ended.reason, attempt=ended.attempt)
            self.reap_stale()
            started = []
            while True:
                run = self.store.claim_next(self.executor.slots(), node=self.executor.node, executor=self.executor.name)
                if run is None:
                    break
                self.executor.start(run)
                started.append(run.id)
            self._last_ok = time.time()
            return started

    def wait(self, run_id: str, poll: float = 0.5, on_poll=None):
        """Tick until `run_id` has finished; `on_poll(run)` is called on every poll."""
        while True:
            self.tick()
            run = self.store.get(run_id)
            if on_poll:
                on_poll(run)
            if run.is_finished:
                return run
            time.sleep(poll)

    # -- running on its own -------------------------------------------------------------
    def run_forever(self, interval: float = 1.0, stop: threading.Event | None = None) -> None:
        """Tick until `stop` is set; a store fault is one line on stderr and the next tick tries again."""
        stop = stop or self._stop
        try:
            self.recover()
        except StoreError as exc:
            print(f"scheduler: {exc}", file=sys.stderr, flush=True)
        while not stop.is_set():
            try:
                self.tick()
            except StoreError as exc:  # a locked store or a full disk: say so, keep going
                print(f"scheduler: {exc}", file=sys.stderr, flush=True)
            stop.wait(interval)

    def start_background(self, interval: float = 1.0) -> threading.Thread:
        """A daemon thread ticking forever (one per server, held by st.cache_resource). It only starts
        work while it holds the lease, so a server next to a `cli serve` stays out of its way."""
        if self._thread and self._thread.is_alive():
            return self._thread
        self._thread = threading.Thread(
            target=self.run_forever, args=(interval,), name="convstudio-scheduler", daemon=True
        )
        self._thread.start()
        return self._thread

    def close(self) -> None:
        """Stop ticking and hand the lease over at once (workers keep going)."""
        self._stop.set()
        if self._thread and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._release_lease()
        self.executor.close()

    def _release_lease(self) -> None:
        try:
            if self.leading:
                self.store.release_lease(self.executor.lease_name, self.holder)
                self.leading = False
        except StoreError:
            pass  # the lease simply runs out


def local_scheduler(store: Store, slots=None, worker_module: str = "lib.train") -> Scheduler:
    return Scheduler(store, executor=LocalExecutor(store, slots, worker_module))
