"""A Ray node that does not see the runs folder is named, and gets no runs.

The cluster: a head with one CPU that sees everything, and "blind", a node with one CPU and one
(declared) GPU whose processes run in a mount namespace of their own where an empty tmpfs covers
the runs folder: a machine on which the shared folder is not mounted. Without the check, a run
asks for a GPU and Ray puts it on "blind", where it cannot find its files.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lib.runs.executors_ray import RayExecutor
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store
from tests.conftest import ROOT
from tests.helpers.ray_cluster import (
    BlindNode,
    RayCluster,
    kill_convstudio_actors,
    missing_reason,
    mount_namespaces_work,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def split_cluster(tmp_path_factory):
    """(cluster, runs folder): the head sees the runs folder, the node "blind" does not."""
    if missing_reason():
        pytest.skip(missing_reason())
    if not mount_namespaces_work():
        pytest.skip("needs mount namespaces (root on Linux) to give one node another view of the runs folder")
    runs = tmp_path_factory.mktemp("shared") / "runs"
    runs.mkdir()
    cluster = RayCluster(nodes=({"node_name": "head", "num_cpus": 1, "num_gpus": 0},))
    blind = None
    try:
        cluster.start()
        blind = BlindNode(cluster, runs, name="blind", num_cpus=1, num_gpus=1)
        yield cluster, runs
    finally:
        if blind:
            blind.stop()
        cluster.stop()


def test_the_blind_node_really_sees_another_folder(split_cluster):
    """The fixture's premise: a task pinned to each node lists the runs folder there."""
    cluster, runs = split_cluster
    (runs / "here.txt").write_text("x")
    probe = f"""
import json, os, ray
ray.init(address={cluster.address!r}, _node_ip_address="127.0.0.1", logging_level="ERROR", log_to_driver=False)
look = ray.remote(lambda: sorted(os.listdir({str(runs)!r})))
seen = {{n["NodeName"]: ray.get(look.options(num_cpus=0, label_selector={{"ray.io/node-id": n["NodeID"]}}).remote())
         for n in ray.nodes() if n["Alive"]}}
print(json.dumps(seen))
"""
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={**os.environ, **cluster.env()},
                         capture_output=True, text=True, timeout=180)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"head": ["here.txt"], "blind": []}


def test_serve_names_the_node_and_sends_it_nothing(split_cluster, shared_data_dir):
    cluster, runs = split_cluster
    env = {
        **os.environ,
        **cluster.env(),
        "CONVSTUDIO_RUNS_DIR": str(runs),
        "CONVSTUDIO_DATA_DIR": shared_data_dir,
        "CONVSTUDIO_HEARTBEAT_S": "1",
    }
    env.pop("CONVSTUDIO_STORE", None)  # the SQLite store in the runs folder
    queued = subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", "--detach", "--json", "--dataset", "mnist", "--model", "mlp",
         "--epochs", "1", "--train-limit", "1000", "--batch-size", "64"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    run_id = json.loads(queued.stdout.strip().splitlines()[-1])["run_id"]
    serve = subprocess.Popen(
        [sys.executable, "-m", "lib.cli", "serve", "--interval", "0.5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    store = Store(runs)
    try:
        end = time.time() + 300
        while not store.get(run_id).is_finished and time.time() < end and serve.poll() is None:
            time.sleep(1)
    finally:
        serve.send_signal(signal.SIGTERM)
        log = serve.communicate(timeout=60)[1]
    run = store.get(run_id)
    assert run.status == "completed", (run.status, run.error, log[-2000:])
    assert (run.node, run.gpu) == ("head", "cpu"), "the GPU of the node without the runs folder is not used"
    assert f"node blind does not see the runs folder {runs}" in log, log
    assert "node head does not see" not in log and "Traceback" not in log, log
    assert not list((runs / ".node-check").iterdir()), "serve removes its token file when it stops"
    assert kill_convstudio_actors(cluster.address) == []


def test_the_scheduler_lists_the_problem_for_the_sidebar(split_cluster, tmp_path):
    """What the sidebar shows: the scheduler's problems() (this test's process joins the cluster, then leaves)."""
    cluster, runs = split_cluster
    store = Store(runs)
    scheduler = Scheduler(store, executor=RayExecutor(store, cluster.address))
    try:
        end = time.time() + 60  # each node's check is a Ray task of its own: they answer in any order
        while not (scheduler.problems() and scheduler.slots) and time.time() < end:
            time.sleep(0.5)
        assert [p.split(" (")[0] for p in scheduler.problems()] == [f"node blind does not see the runs folder {runs}"]
        assert scheduler.slots == ["ray-0"], "one place: the head's CPU; not the blind node's GPU"
    finally:
        scheduler.close()
