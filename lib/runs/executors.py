"""Executors: how a claimed run becomes a running worker. The local one is the default.

An executor starts the worker for a run the scheduler has claimed and reports workers
that ended without recording a result. Both run the same worker program
(`python -m lib.train RUN_ID`) in a process of its own:
- local: one subprocess per slot (a GPU, or the CPU) on this machine;
- ray (executors_ray.py): one detached Ray actor per run, placed by Ray on a node with room that
  sees the runs folder; it outlives the scheduler that submitted it.
Liveness across machines is the store's heartbeat (heartbeat.py), not the executor's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from lib import devices, settings

WORKER_MODULE = "lib.train"


@dataclass(frozen=True)
class Ended:
    """A worker that ended without recording its result: the scheduler records `status` and `reason`."""

    run_id: str
    attempt: int  # the claim the worker was started for: a later claim of the run is not touched
    status: str  # 'failed' (the worker's own fault), 'interrupted' (its machine went away) or 'stopped'
    reason: str


def signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def worker_env(run, **extra) -> dict:
    """The worker's environment: unbuffered logs, quiet TensorFlow, the claim it holds."""
    return dict(
        os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", CONVSTUDIO_ATTEMPT=str(run.attempt), **extra
    )


class LocalExecutor:
    """Worker subprocesses on this machine, one per slot. Each is its own session, so a server that
    stops (or restarts) leaves them training; the heartbeat tells the next server they are alive."""

    name = "local"

    def __init__(self, store, slots: list[str] | None = None, worker_module: str = WORKER_MODULE):
        self.store = store
        self.worker_module = worker_module  # the reliability tests swap in a trivial worker
        self._slots = slots or devices.worker_slots()
        self.node = settings.node_name()
        self.children: dict[tuple[str, int], subprocess.Popen] = {}  # (run id, attempt) -> its worker

    @property
    def lease_name(self) -> str:
        return f"scheduler:local:{self.node}"

    def slots(self) -> list[str]:
        return self._slots

    def start(self, run) -> None:
        extra = {"CONVSTUDIO_NODE": self.node}
        if run.slot != "cpu":
            extra["CUDA_VISIBLE_DEVICES"] = run.slot
        cmd = [sys.executable, "-m", self.worker_module, run.id, "--runs-dir", str(self.store.root)]
        try:
            with open(self.store.run_dir(run.id) / "worker.log", "ab") as log:
                proc = subprocess.Popen(
                    cmd, cwd=settings.ROOT, env=worker_env(run, **extra), stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
        except OSError as exc:
            self.store.finish(run.id, "failed", error=f"could not start the worker: {exc}")
            return
        self.store.set_pid(run.id, proc.pid)
        self.children[(run.id, run.attempt)] = proc

    def poll(self) -> list[Ended]:
        """Reap this process's children; those that ended badly are reported (a result they did record
        wins: the store only moves a run that is still live)."""
        ended = []
        for (run_id, attempt), proc in list(self.children.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.children[(run_id, attempt)]
            if code == 0:
                continue
            if code < 0:
                reason = f"The worker was killed by {signal_name(code)}"
                if code == -signal.SIGKILL:
                    reason += " (killed by a user, or by the system when out of memory)"
            else:
                reason = f"The worker exited with code {code} without reporting a result"
            log = self.store.run_dir(run_id) / "worker.log"
            ended.append(Ended(run_id, attempt, "failed", f"{reason}; see {log}"))
        return ended

    def node_lost(self, node: str | None) -> None:
        """A run's heartbeat ran out: nothing to learn here (this executor's only node is this one)."""

    def close(self) -> None:
        """Nothing to end: the workers are on their own and keep training."""
