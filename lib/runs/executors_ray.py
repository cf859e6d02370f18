"""The Ray executor: each claimed run is one Ray task, placed by Ray on any node with room.

    CONVSTUDIO_EXECUTOR=ray CONVSTUDIO_RAY_ADDRESS=head:6379 python -m lib.cli serve

The task asks for one GPU (or one CPU on a cluster without GPUs) and runs the same
worker program as the local executor, `python -m lib.train RUN_ID`, as a subprocess on
its node, so GPU memory is given back when the run ends. Every node mounts the same
runs folder and reaches the same store. Queue order, per-user limits and "which run
next" stay ConvStudio's: the scheduler claims a run only when the cluster has a free
place for it, so Ray never holds a queue of its own. Ray's own retries are off
(max_retries=0): a run is only ever started by a claim in the store, so it never
trains twice at once; a run whose node died is marked interrupted (with the node's
name) and can be resumed on another node from its last checkpoint.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lib import settings
from lib.runs.executors import WORKER_MODULE, Ended
from lib.runs.store_errors import StoreError

CAPACITY_TTL_S = 5.0  # how long the cluster's size is trusted before asking Ray again
LOOPBACK = ("127.0.0.1", "localhost")


def _ray():
    """Ray, imported on first use: it costs seconds, and only a Ray executor needs it."""
    import ray

    return ray


def _die_with_parent() -> None:
    """In the worker subprocess: be killed when the Ray worker that started it dies (its node went away)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def this_node_name() -> str:
    ray = _ray()
    node_id = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node["NodeID"] == node_id:
            return node.get("NodeName") or node["NodeManagerAddress"]
    return node_id[:12]


def largest_node_gpus() -> int:
    ray = _ray()
    return max((int(n["Resources"].get("GPU", 0)) for n in ray.nodes() if n.get("Alive")), default=0) or 1


def run_worker_task(run_id: str, attempt: int, runs_dir: str, store_url: str | None, worker_module: str) -> dict:
    """Inside Ray, on whichever node it was placed: run the worker and hand back its exit code."""
    node = this_node_name()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", CONVSTUDIO_NODE=node)
    env.update(CONVSTUDIO_ATTEMPT=str(attempt), CONVSTUDIO_RUNS_DIR=runs_dir)
    if store_url:
        env["CONVSTUDIO_STORE"] = store_url
    run_dir = Path(runs_dir) / run_id
    if not run_dir.is_dir():  # the runs folder is not shared with this node
        return {"node": node, "code": None, "error": f"node {node} does not see the runs folder {runs_dir}"}
    with open(run_dir / "worker.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", worker_module, run_id, "--runs-dir", runs_dir],
            cwd=settings.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )  # fmt: skip
        return {"node": node, "code": proc.wait(), "error": None}


def connect(address: str) -> None:
    """Join the cluster as a driver (once per process). Workers find this project through PYTHONPATH."""
    kwargs = {}
    if address.removeprefix("ray://").rsplit(":", 1)[0] in LOOPBACK:
        # Ray turns a loopback address into this machine's outward one unless it is in its
        # loopback-only mode, which it reads once, at import: a loopback cluster stays on loopback
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        kwargs["_node_ip_address"] = "127.0.0.1"
    ray = _ray()
    if ray.is_initialized():
        return
    try:
        ray.init(
            address=address,
            namespace="convstudio",
            logging_level="WARNING",
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(settings.ROOT)}},
            **kwargs,
        )
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise StoreError(
            f"cannot reach the Ray cluster at {address} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}):"
            " is `ray start --head` running there, and is CONVSTUDIO_RAY_ADDRESS right?"
        ) from None


class RayExecutor:
    name = "ray"
    node = "ray"  # claims are cluster-wide: one scheduler for the whole cluster
    lease_name = "scheduler:ray"

    def __init__(self, store, address: str | None = None, worker_module: str = WORKER_MODULE):
        self.store = store
        self.address = address or settings.ray_address()
        if not self.address:
            raise StoreError("the Ray executor needs the cluster's address: set CONVSTUDIO_RAY_ADDRESS=host:port")
        self.worker_module = worker_module
        connect(self.address)
        self.ray = _ray()
        self._task = self.ray.remote(run_worker_task)
        self.refs: dict = {}  # (run id, attempt) -> the Ray task's ObjectRef
        self._capacity, self._capacity_at = None, 0.0

    def resources(self) -> dict:
        """Nodes, GPUs and CPUs of the cluster, and how many are free now (the sidebar shows it)."""
        total, free = self.ray.cluster_resources(), self.ray.available_resources()
        alive = [n for n in self.ray.nodes() if n.get("Alive")]
        return {
            "nodes": len(alive),
            "gpus": int(total.get("GPU", 0)),
            "gpus_free": int(free.get("GPU", 0)),
            "cpus": int(total.get("CPU", 0)),
            "cpus_free": int(free.get("CPU", 0)),
        }

    def slots(self) -> list[str]:
        """One place per GPU in the cluster (per CPU where it has none); re-read every few seconds."""
        if self._capacity is None or time.monotonic() - self._capacity_at > CAPACITY_TTL_S:
            total = self.ray.cluster_resources()
            self._capacity = int(total.get("GPU", 0)) or int(total.get("CPU", 0))
            self._capacity_at = time.monotonic()
        return [f"ray-{i}" for i in range(self._capacity)]

    def start(self, run) -> None:
        options = {"num_cpus": 1}
        if self.ray.cluster_resources().get("GPU", 0):
            # --multi-gpu keeps its meaning: every GPU of one node (the largest), never several nodes
            options["num_gpus"] = largest_node_gpus() if run.config.multi_gpu else 1
        ref = self._task.options(max_retries=0, name=f"convstudio-{run.id}", **options).remote(
            run.id, run.attempt, str(self.store.root), self.store.url or None, self.worker_module
        )
        self.refs[(run.id, run.attempt)] = ref

    def poll(self) -> list[Ended]:
        if not self.refs:
            return []
        ready, _ = self.ray.wait(list(self.refs.values()), num_returns=len(self.refs), timeout=0)
        ready = set(ready)
        ended = []
        for (run_id, attempt), ref in list(self.refs.items()):
            if ref not in ready:
                continue
            del self.refs[(run_id, attempt)]
            try:
                result = self.ray.get(ref, timeout=0)
            except self.ray.exceptions.RayError as exc:  # the task itself was lost: its node or worker died
                ended.append(Ended(run_id, attempt, "interrupted", self._lost_reason(run_id, exc)))
                continue
            if result.get("error"):
                ended.append(Ended(run_id, attempt, "failed", result["error"]))
            elif result["code"] not in (0, None):
                reason = (
                    f"The worker on node {result['node']} exited with code {result['code']} without reporting"
                    f" a result; see {self.store.run_dir(run_id)}/worker.log"
                )
                ended.append(Ended(run_id, attempt, "failed", reason))
        return ended

    def _lost_reason(self, run_id: str, exc: Exception) -> str:
        try:
            node = self.store.get(run_id).node or "its node"
        except (StoreError, KeyError):
            node = "its node"
        kind = type(exc).__name__
        return f"Ray lost the run's task on node {node} ({kind}): the node or its worker died. Resume it to continue."

    def close(self) -> None:
        """Leave the cluster. Tasks belong to this driver: Ray ends them with it (their runs are then
        marked interrupted by the next scheduler's heartbeat check), so `serve` is meant to keep running."""
        if self.ray.is_initialized():
            self.ray.shutdown()
