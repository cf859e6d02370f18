"""A local multi-node Ray cluster for tests: every process on 127.0.0.1, stopped by its own handle.

Ray's `cluster_utils.Cluster` starts each "node" (a raylet with its declared CPUs, GPUs and
custom resources) as child processes of this one, so a node can declare a GPU it does not have
and can be killed on its own to play a machine that died. Ray resolves a loopback address to
the machine's outward address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (its loopback-only
mode), so that is set before Ray is imported, here and in every process the tests start.
Nothing here ever runs `ray stop`, which would end other people's clusters.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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


KILL_OUR_ACTORS = """
import json, sys, time
import ray
ray.init(address=sys.argv[1], _node_ip_address="127.0.0.1", logging_level="ERROR", log_to_driver=False)
def ours():
    return [a for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"].startswith("convstudio-")]
end = time.time() + float(sys.argv[2])
while (found := ours()) and time.time() < end:  # a worker that recorded its end may still be exiting
    time.sleep(0.5)
for a in found:
    try:
        ray.kill(ray.get_actor(a["name"], namespace=a["namespace"]), no_restart=True)
    except ValueError:
        pass
print(json.dumps(sorted(a["name"] for a in found)))
"""


def kill_convstudio_actors(address: str, grace_s: float = 60.0) -> list[str]:
    """End the detached run actors ConvStudio left on this test cluster after `grace_s`; returns their names.

    Run actors end themselves with their run, so a test expects []; a driver of its own
    (a subprocess) keeps this pytest process out of the cluster."""
    out = subprocess.run(
        [sys.executable, "-c", KILL_OUR_ACTORS, address, str(grace_s)],
        env={**os.environ, **LOOPBACK_ENV}, capture_output=True, text=True, timeout=grace_s + 120, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def mount_namespaces_work() -> bool:
    """True where this process may make a mount namespace and mount a tmpfs in it (root on Linux)."""
    if not shutil.which("unshare"):
        return False
    probe = tempfile.mkdtemp(prefix="csns-", dir="/tmp")
    try:
        cmd = ["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=1m", "cs", probe]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


START_NODE = """
import json, signal, sys, threading
import ray._private.node, ray._private.parameter
spec = json.loads(sys.argv[1])
params = ray._private.parameter.RayParams(**spec, include_log_monitor=False, node_manager_port=0, min_worker_port=0,
                                          max_worker_port=0)
params.dashboard_agent_listen_port = None
node = ray._private.node.Node(params, head=False, shutdown_at_exit=False, spawn_reaper=False)
print("node started", flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
node.kill_all_processes(check_alive=False, allow_graceful=True)
"""


class BlindNode:
    """A node that joins `cluster` but does not see `hidden` (a machine where the shared runs folder
    is not mounted): it runs in a mount namespace of its own, where an empty tmpfs covers `hidden`.
    Every other path, and the network (127.0.0.1), are the machine's. The node is started the way
    Ray's cluster_utils starts one (`ray start` refuses a second node in loopback-only mode) and
    is stopped by its own PIDs: SIGTERM, then its session."""

    MOUNT_THEN_START = 'mount -t tmpfs -o size=1m convstudio-blind "$1" && shift && exec "$@"'

    def __init__(self, cluster: RayCluster, hidden: Path, name: str = "blind", num_cpus: int = 1, num_gpus: int = 0):
        self.log = Path(cluster.temp_dir) / f"{name}.out"
        spec = {
            "gcs_address": cluster.address, "node_name": name, "num_cpus": num_cpus, "num_gpus": num_gpus,
            "object_store_memory": cluster.object_store, **cluster._common(),
        }  # fmt: skip
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", self.MOUNT_THEN_START, "sh",
                 str(hidden), sys.executable, "-c", START_NODE, json.dumps(spec)],
                env={**os.environ, **LOOPBACK_ENV}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        end = time.time() + 120
        while "node started" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.time() > end:
                self.stop()
                raise RuntimeError(f"the blind node did not start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of its session is left
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=30)


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
