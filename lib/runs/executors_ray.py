"""The Ray executor: each claimed run is one detached Ray actor, placed by Ray on a node with room.

    CONVSTUDIO_EXECUTOR=ray CONVSTUDIO_RAY_ADDRESS=head:6379 python -m lib.cli serve

The actor (ray_node.RunActor) asks for one GPU (or one CPU on a cluster without GPUs) and
runs the same worker program as the local executor, `python -m lib.train RUN_ID`, as a
subprocess on its node. It is detached and named after the run's claim in a namespace of
this store, so it belongs to the cluster, not to the process that submitted it: a `serve`
that stops or is killed leaves its runs training, and the next scheduler (another `serve`,
the app's) re-attaches by listing the actors by name: nothing is started twice (a claim's
name can only be taken once, and a running run is not queued), stop requests still go
through the store, and liveness is still the store's heartbeat. An active run whose actor
has vanished (its node died) is marked interrupted with the node's name and can be resumed
on another node from its last checkpoint (that node gets no runs for a minute, as Ray may
still count it alive); an actor whose run the store no longer holds live (its heartbeat ran
out) is ended, to free its GPU, and so is one whose run is stopped before its worker began.

Queue order, per-user limits and "which run next" stay ConvStudio's: the scheduler claims
a run only when the cluster has a free place for it, so Ray never holds a queue of its own.
Ray's own restarts and retries are off: a run is only ever started by a claim in the store.
Only nodes that see the scheduler's runs folder get runs (ray_folder_check.py).
"""

from __future__ import annotations

import os
import sys
import time

from lib import settings
from lib.runs.executors import WORKER_MODULE, Ended
from lib.runs.ray_folder_check import FolderCheck
from lib.runs.ray_node import RunActor, actor_name, parse_actor_name
from lib.runs.store_errors import StoreError

CAPACITY_TTL_S = 5.0  # how long the cluster's size is trusted before asking Ray again
SHUN_S = 60.0  # a node where a run's actor was lost gets no runs for this long (Ray may not know it died yet)
ORPHAN_GRACE_S = 30.0  # an actor whose run is no longer live gets this long to end by itself
LOOPBACK = ("127.0.0.1", "localhost")


def _ray():
    """Ray, imported on first use: it costs seconds, and only a Ray executor needs it."""
    import ray

    return ray


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


def say(message: str) -> None:
    """One line on stderr: the `serve` output, or the app's server log."""
    print(f"scheduler: {message}", file=sys.stderr, flush=True)


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
        # one namespace per store: two ConvStudio stores on one cluster never touch each other's runs
        self.namespace = f"convstudio-{store.store_id()}"
        self._actor = self.ray.remote(RunActor)
        self.folder = FolderCheck(self.ray, store.root, say)
        self._capacity, self._capacity_at = None, 0.0
        self._gpus: dict[str, int] = {}  # node id -> GPUs, of the nodes that may take runs
        self._shunned: dict[str, float] = {}  # node name -> when a run's actor was lost there
        self._orphans: dict[str, float] = {}  # actor name -> when it was first seen without a live run

    # -- the cluster ------------------------------------------------------------------
    def _usable_nodes(self) -> list[dict]:
        try:
            nodes = self.ray.nodes()
        except Exception as exc:  # noqa: BLE001 - as in _ours: no claims this tick
            raise StoreError(f"the Ray cluster at {self.address} did not answer ({type(exc).__name__})") from None
        self.folder.refresh(nodes)
        usable = self.folder.usable()
        now = time.monotonic()
        self._shunned = {name: since for name, since in self._shunned.items() if now - since < SHUN_S}
        return [
            n
            for n in nodes
            if n.get("Alive")
            and n["NodeID"] in usable
            and (n.get("NodeName") or n["NodeManagerAddress"]) not in self._shunned
        ]

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

    def problems(self) -> list[str]:
        """What keeps nodes from taking runs (a node that does not see the runs folder). Checks the
        cluster if no tick did lately (a scheduler standing by still shows them)."""
        self.slots()
        return self.folder.problems()

    def slots(self) -> list[str]:
        """One place per GPU of the nodes that may take runs (per CPU where they have none);
        re-read every few seconds, which is also when joining nodes are checked."""
        if self._capacity is None or time.monotonic() - self._capacity_at > CAPACITY_TTL_S:
            nodes = self._usable_nodes()
            self._gpus = {n["NodeID"]: int(n["Resources"].get("GPU", 0)) for n in nodes}
            cpus = sum(int(n["Resources"].get("CPU", 0)) for n in nodes)
            self._capacity = sum(self._gpus.values()) or cpus
            # while nodes are being checked (at start, or one joined) ask again on the next call
            self._capacity_at = time.monotonic() if not self.folder.pending else 0.0
        return [f"ray-{i}" for i in range(self._capacity)]

    # -- runs -------------------------------------------------------------------------
    def start(self, run) -> None:
        """Submit the run's actor (on a checked node: slots() just ran, so the node list is fresh)."""
        options = {
            "name": actor_name(run.id, run.attempt),
            "namespace": self.namespace,
            "lifetime": "detached",  # outlives this process: the run is the cluster's now
            "max_restarts": 0,
            "max_task_retries": 0,
            "num_cpus": 1,
            "label_selector": {"ray.io/node-id": f"in({','.join(self._gpus)})"},
        }
        if any(self._gpus.values()):
            # --multi-gpu keeps its meaning: every GPU of one node (the largest), never several nodes
            options["num_gpus"] = max(self._gpus.values()) if run.config.multi_gpu else 1
        try:
            self._actor.options(**options).remote(
                run.id, run.attempt, str(self.store.root), self.store.url or None, self.worker_module
            )
        except Exception as exc:  # noqa: BLE001 - Ray's errors have no common base: the run fails, the scheduler goes on
            error = f"Ray did not take the run ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            self.store.finish(run.id, "failed", error=error, attempt=run.attempt)

    def _ours(self) -> set[str]:
        try:
            listed = self.ray.util.list_named_actors(all_namespaces=True)
        except Exception as exc:  # noqa: BLE001 - the head is away: judge nothing now, the next tick asks again
            raise StoreError(f"the Ray cluster at {self.address} did not answer ({type(exc).__name__})") from None
        return {a["name"] for a in listed if a["namespace"] == self.namespace}

    def poll(self) -> list[Ended]:
        """Runs whose actor is gone while the store still has them active (their node died), wherever
        and by whichever scheduler they were started; runs stopped before their worker began; and
        actors whose run is over are ended."""
        actors = self._ours()  # read before the store: an actor records its run's end before it goes
        live = {}
        ended = []
        for run in self.store.active():
            if run.executor != "ray":
                continue
            name = actor_name(run.id, run.attempt)
            live[name] = run
            if name not in actors:
                ended.append(Ended(run.id, run.attempt, "interrupted", self._lost_reason(run)))
                self.node_lost(run.node)
            elif run.status == "stopping" and run.heartbeat is None:
                # stopped before its worker said a word (still waiting for a place, or starting up):
                # nothing to save, and no worker to hear the request, so the actor goes now
                self._kill(name)
                ended.append(Ended(run.id, run.attempt, "stopped", "Stopped before its worker started."))
        self._end_orphans(actors - set(live))
        return ended

    def node_lost(self, node: str | None) -> None:
        """A run was lost on `node` (its actor vanished, or its heartbeat ran out). Ray notices a dead
        node only after its health checks fail (about 15 s) and meanwhile places new actors there,
        which then die unstarted: so the node gets no runs for a while."""
        if node:
            self._shunned[node] = time.monotonic()
            self._capacity = None  # the next slots() leaves it out

    def _lost_reason(self, run) -> str:
        where = f"on node {run.node}" if run.node else "before it reported its node"
        return f"Ray lost the run's actor {where}: the node or its worker died. Resume it to continue."

    def _end_orphans(self, names: set[str]) -> None:
        now = time.monotonic()
        self._orphans = {n: self._orphans.get(n, now) for n in names if parse_actor_name(n)}
        for name, since in list(self._orphans.items()):
            if now - since < ORPHAN_GRACE_S:
                continue
            self._kill(name)
            del self._orphans[name]

    def _kill(self, name: str) -> None:
        """End a run's actor; its worker goes with it (PR_SET_PDEATHSIG)."""
        try:
            self.ray.kill(self.ray.get_actor(name, namespace=self.namespace), no_restart=True)
        except ValueError:
            pass  # it ended by itself meanwhile

    def close(self) -> None:
        """Leave the cluster. The runs' actors are detached: they keep training, and the next
        scheduler on this store finds them by name."""
        self.folder.close()
        if self.ray.is_initialized():
            self.ray.shutdown()
