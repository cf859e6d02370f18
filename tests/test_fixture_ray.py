"""The local Ray cluster fixture: three nodes, all on 127.0.0.1, declared GPUs, stopped by handle."""
# ruff: noqa: F811 - the fixture is imported from tests.helpers.ray_cluster

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.ray_cluster import RayCluster, missing_reason, process_alive, ray_cluster  # noqa: F401

pytestmark = pytest.mark.slow

PROBE = """
import json, sys
import ray
ray.init(address=sys.argv[1], _node_ip_address="127.0.0.1", logging_level="ERROR")

@ray.remote(num_gpus=1)
def where():
    import os
    ctx = ray.get_runtime_context()
    names = {n["NodeID"]: n["NodeName"] for n in ray.nodes()}
    return names[ctx.get_node_id()], os.environ.get("CUDA_VISIBLE_DEVICES")

print(json.dumps({
    "resources": ray.cluster_resources(),
    "addresses": sorted({n["NodeManagerAddress"] for n in ray.nodes()}),
    "placed": ray.get([where.remote() for _ in range(2)]),
}))
"""


def test_three_loopback_nodes_with_declared_gpus(ray_cluster):
    """Another process (as the scheduler will be) connects and places GPU tasks on the GPU nodes."""

    out = subprocess.run(
        [sys.executable, "-c", PROBE, ray_cluster.address],
        env={**os.environ, **ray_cluster.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["resources"]["GPU"] == 2 and report["resources"]["CPU"] == 3
    assert report["addresses"] == ["127.0.0.1"]
    assert all(node in ("gpu-a", "gpu-b") and gpus == "0" for node, gpus in report["placed"])


def test_stop_ends_every_process_it_started():
    if missing_reason():
        pytest.skip(missing_reason())
    cluster = RayCluster(nodes=({"node_name": "head", "num_cpus": 1}, {"node_name": "n2", "num_cpus": 1}))
    cluster.start()
    pids = cluster.pids()
    cluster.kill_node("n2")
    cluster.stop()
    assert pids and not [pid for pid in pids if process_alive(pid)]
