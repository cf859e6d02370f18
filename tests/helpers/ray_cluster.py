"""A local multi-node Ray cluster for tests: every process on 127.0.0.1, stopped by its own handle.

Ray's `cluster_utils.Cluster` starts each "node" (a raylet with its declared CPUs, GPUs and
custom resources) as child processes of this one, so a node can declare a GPU it does not have
and can be killed on its own to play a machine that died. Ray resolves a loopback address to
the machine's outward address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (its loopback-only
mode), so that is set before Ray is imported, here and in every process the tests start.
Nothing here ever runs `ray stop`, which would end other people's clusters.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
os.environ.update(LOOPBACK_ENV)  # before any `import ray` in this process

# Three small nodes: a head with CPUs only and two "GPU servers" with one (declared) GPU each.
DEFAULT_NODES = (
    {"node_name": "head", "num_cpus": 1, "num_gpus": 0},
    {"node_name": "gpu-a", "num_cpus": 1, "num_gpus": 1},
    {"node_name": "gpu-b", "num_cpus": 1, "num_gpus": 1},
)


def missing_reason() -> str | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install -r requirements.txt)"
    return None


class RayCluster:
    """start() -> the GCS address; kill_node(name); env() for subprocesses; stop()."""

    def __init__(self, nodes=DEFAULT_NODES, object_store_mb: int = 80):
        self.node_specs = [dict(n) for n in nodes]
        self.object_store = object_store_mb * 2**20
        # short: Ray puts Unix sockets under it, and a socket path has a 107-byte limit
        self.temp_dir = tempfile.mkdtemp(prefix="csray-", dir="/tmp")
        self.cluster = None
        self.nodes = {}  # name -> ray._private.node.Node

    def _common(self) -> dict:
        return {"node_ip_address": LOOPBACK, "object_store_memory": self.object_store, "temp_dir": self.temp_dir}

    def start(self) -> str:
        from ray.cluster_utils import Cluster

        head, *others = self.node_specs
        self.cluster = Cluster(
            initialize_head=True, head_node_args={**head, "include_dashboard": False, **self._common()}
        )
        self.nodes[head["node_name"]] = self.cluster.head_node
        for spec in others:
            self.add_node(**spec)
        self.cluster.wait_for_nodes()
        return self.address

    def add_node(self, **spec):
        node = self.cluster.add_node(**spec, **self._common())
        self.nodes[spec["node_name"]] = node
        return node

    @property
    def address(self) -> str:
        return self.cluster.address

    def env(self) -> dict:
        """Environment for a process that should use this cluster (scheduler, CLI, app)."""
        return {**LOOPBACK_ENV, "CONVSTUDIO_EXECUTOR": "ray", "CONVSTUDIO_RAY_ADDRESS": self.address}

    def kill_node(self, name: str) -> None:
        """A machine dying: its raylet and everything on it killed at once, no graceful exit."""
        self.cluster.remove_node(self.nodes.pop(name), allow_graceful=False)

    def pids(self) -> list[int]:
        """Every process this cluster started (to prove teardown left none behind)."""
        pids = []
        for node in [self.cluster.head_node, *self.cluster.worker_nodes] if self.cluster else []:
            for infos in node.all_processes.values():
                pids += [info.process.pid for info in infos if info.process is not None]
        return pids

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.shutdown()
            self.cluster = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def process_alive(pid: int) -> bool:
    """True for a running process (a zombie awaiting its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- pytest fixture (conftest.py re-exports it) -----------------------------------------
@pytest.fixture(scope="module")
def ray_cluster():
    """Three loopback nodes (head: 1 CPU; gpu-a, gpu-b: 1 CPU + 1 declared GPU each)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    cluster = RayCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
