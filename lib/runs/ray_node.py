"""What runs on a Ray node for ConvStudio: the actor that keeps one run, and the runs-folder probe.

The executor (executors_ray.py, on the scheduler's machine) makes one detached actor per
claimed run. Detached means the actor belongs to the cluster, not to the driver that made it:
a `serve` (or app) that stops, restarts or is killed leaves the run training, and the next
scheduler finds it again by its name. The actor starts the same worker program as the local
executor, `python -m lib.train RUN_ID`, as a subprocess (so GPU memory is given back when the
run ends), waits for it, records a result the worker could not record itself, and then ends
itself, freeing its GPU. Stop requests reach the worker through the store, as everywhere.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from lib import settings
from lib.runs.executors import signal_name
from lib.runs.store import Store

ACTOR_PREFIX = "run-"


def _ray():
    """Ray, imported on first use (it is always there inside a Ray worker)."""
    import ray

    return ray


def actor_name(run_id: str, attempt: int) -> str:
    """One name per claim of a run: Ray refuses a second actor of that name, so a claim never runs twice."""
    return f"{ACTOR_PREFIX}{run_id}-{attempt}"


def parse_actor_name(name: str) -> tuple[str, int] | None:
    """(run id, attempt) from an actor's name, or None for a name that is not one of ours."""
    run_id, _, attempt = name.removeprefix(ACTOR_PREFIX).rpartition("-")
    if not name.startswith(ACTOR_PREFIX) or not run_id or not attempt.isdigit():
        return None
    return run_id, int(attempt)


def this_node_name() -> str:
    ray = _ray()
    node_id = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node["NodeID"] == node_id:
            return node.get("NodeName") or node["NodeManagerAddress"]
    return node_id[:12]


def _die_with_parent() -> None:
    """In the worker subprocess: be killed when the actor that started it dies (its node went away)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def unseen_reason(path: str, token: str) -> str | None:
    """The probe, on one node: None when `path` holds `token` there, else what the node sees instead."""
    try:
        found = Path(path).read_text().strip()
    except FileNotFoundError:
        return "a file written there by the scheduler is missing on this node"
    except OSError as exc:
        return f"it cannot be read on this node ({exc.strerror or exc})"
    return None if found == token else "a file written there by the scheduler holds something else on this node"


class RunActor:
    """One claim of one run on the node Ray placed it on; ends itself when the worker ends."""

    def __init__(self, run_id: str, attempt: int, runs_dir: str, store_url: str | None, worker_module: str):
        self.run_id, self.attempt, self.runs_dir, self.store_url = run_id, attempt, runs_dir, store_url
        self.node = this_node_name()
        self.proc, self.problem = None, None
        try:
            self.proc = self._start(worker_module)
        except OSError as exc:
            self.problem = f"could not start the worker on node {self.node}: {exc}"
        # the worker is started here, on the actor's main thread: PR_SET_PDEATHSIG follows the
        # thread that forked, and this one lives as long as the actor
        threading.Thread(target=self._watch, name="convstudio-run", daemon=True).start()

    def where(self) -> str:
        return self.node

    def _start(self, worker_module: str) -> subprocess.Popen:
        run_dir = Path(self.runs_dir) / self.run_id
        if not run_dir.is_dir():
            raise OSError(f"node {self.node} does not see the runs folder {self.runs_dir} (no {run_dir} there)")
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", CONVSTUDIO_NODE=self.node)
        env.update(CONVSTUDIO_ATTEMPT=str(self.attempt), CONVSTUDIO_RUNS_DIR=self.runs_dir)
        if self.store_url:
            env["CONVSTUDIO_STORE"] = self.store_url
        with open(run_dir / "worker.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", worker_module, self.run_id, "--runs-dir", self.runs_dir],
                cwd=settings.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )  # fmt: skip

    def _watch(self) -> None:
        problem = self.problem
        if self.proc is not None:
            code = self.proc.wait()
            if code != 0:
                how = f"was killed by {signal_name(code)}" if code < 0 else f"exited with code {code}"
                problem = (
                    f"The worker on node {self.node} {how} without reporting a result;"
                    f" see {Path(self.runs_dir) / self.run_id / 'worker.log'}"
                )
        if problem:
            self._record_failure(problem)
        ray = _ray()
        ray.kill(ray.get_runtime_context().current_actor)  # frees the run's GPU at once

    def _record_failure(self, reason: str) -> None:
        """A failure the worker left unrecorded (a result it did record wins: the store moves only live runs)."""
        if not (Path(self.runs_dir) / self.run_id).is_dir() and not (self.store_url or "").startswith("postgres"):
            # a SQLite store lives in the runs folder this node lacks: opening it would make an empty one here
            print(f"convstudio: run {self.run_id}: {reason}", file=sys.stderr)
            return
        try:
            store = Store(self.runs_dir, url=self.store_url, check=False, check_folder=False)
            try:
                store.finish(self.run_id, "failed", error=reason, attempt=self.attempt)
            finally:
                store.close()
        except Exception as exc:  # noqa: BLE001 - the scheduler then reports the run lost, with its node
            print(f"convstudio: could not record run {self.run_id}'s failure ({reason}): {exc}", file=sys.stderr)
