"""The scheduler and the worker: queued runs become worker processes, one per slot.

    python -m lib.runs.scheduler RUN_ID [--runs-dir DIR]   # the worker: trains one claimed run

A worker is its own process (and session), so a page change, a reload or even a
restarted server does not touch it, GPU memory is given back when it ends, and a
crash takes down one run. The scheduler claims runs from the store, starts
workers, and turns any worker that died without reporting into a `failed` run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from lib import settings
from lib import devices
from lib.runs.store import Store

STARTUP_GRACE_S = 60  # a claimed run may have no pid yet for this long


# -- is a worker still alive? -------------------------------------------------
def worker_alive(pid: int | None, run_id: str) -> bool:
    """True if `pid` is a live (or not yet reaped) worker for this run; guards against pid reuse."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if not cmdline:
            # Exiting or a zombie: its parent scheduler is about to reap it and record why it ended,
            # unless that parent is gone too (then init adopted it, ppid 1) and nobody will.
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1].split()[1])
            return ppid != 1 and Path(f"/proc/{ppid}").exists()
    except OSError:
        return False
    return run_id.encode() in cmdline


def signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


# -- the scheduler -------------------------------------------------------------
class Scheduler:
    """Starts queued runs on free slots and reaps workers. Safe to run in several processes."""

    def __init__(self, store: Store, slots: list[str] | None = None, worker_module: str = "lib.train"):
        self.store = store
        self.worker_module = worker_module  # the reliability tests swap in a trivial worker
        self.slots = slots or devices.worker_slots()
        self.children: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._thread = None

    def recover(self) -> list[str]:
        """At start: runs left active by a server that died, with no live worker, become interrupted."""
        lost = []
        for run in self.store.active():
            if run.id in self.children or worker_alive(run.pid, run.id):
                continue
            if run.pid is None and time.time() - (run.started or 0) < STARTUP_GRACE_S:
                continue
            note = f"The server stopped while this run was training (after epoch {run.epochs_completed})."
            if self.store.finish(run.id, "interrupted", error=note + " Resume it to continue."):
                lost.append(run.id)
        return lost

    def tick(self) -> list[str]:
        """Reap finished workers, then start queued runs while slots are free. Returns started ids."""
        with self._lock:
            self.reap()
            started = []
            while True:
                run = self.store.claim_next(self.slots)
                if run is None:
                    return started
                self._spawn(run)
                started.append(run.id)

    def _spawn(self, run) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
        if run.slot != "cpu":
            env["CUDA_VISIBLE_DEVICES"] = run.slot
        log = open(self.store.run_dir(run.id) / "worker.log", "ab")
        cmd = [sys.executable, "-m", self.worker_module, run.id, "--runs-dir", str(self.store.root)]
        try:
            proc = subprocess.Popen(
                cmd, cwd=settings.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            self.store.finish(run.id, "failed", error=f"could not start the worker: {exc}")
            return
        finally:
            log.close()
        self.store.set_pid(run.id, proc.pid)
        self.children[run.id] = proc

    def reap(self) -> None:
        for run_id, proc in list(self.children.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.children[run_id]
            if code < 0:
                reason = f"The worker was killed by {signal_name(code)}"
                if code == -signal.SIGKILL:
                    reason += " (killed by a user, or by the system when out of memory)"
            else:
                reason = f"The worker exited with code {code} without reporting a result"
            self.store.finish(run_id, "failed", error=reason + f"; see {self.store.run_dir(run_id)}/worker.log")
        # workers started by other processes (another scheduler that has since gone away)
        for run in self.store.active():
            if run.id in self.children or worker_alive(run.pid, run.id):
                continue
            if run.pid is None and time.time() - (run.started or 0) < STARTUP_GRACE_S:
                continue
            self.store.finish(run.id, "failed", error="The worker process ended without reporting a result")

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

    def start_background(self, interval: float = 1.0) -> threading.Thread:
        """A daemon thread ticking forever (one per server, held by st.cache_resource)."""
        if self._thread and self._thread.is_alive():
            return self._thread

        def loop():
            while True:
                try:
                    self.tick()
                except Exception:  # the loop must survive a locked store or a full disk
                    traceback.print_exc()
                time.sleep(interval)

        self.recover()
        self._thread = threading.Thread(target=loop, name="convstudio-scheduler", daemon=True)
        self._thread.start()
        return self._thread
