"""Runs on a Ray cluster: a real three-node cluster on loopback, a real PostgreSQL store, real training.

The cluster (tests/helpers/ray_cluster.py) has a head with one CPU and two "GPU servers",
gpu-a and gpu-b, each declaring one GPU (there is no real GPU: the worker just sees
CUDA_VISIBLE_DEVICES). `cli serve` with CONVSTUDIO_EXECUTOR=ray is the scheduler; the
runs are queued by separate `cli train --detach` processes, as users would.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lib.config import TrainConfig
from lib.runs import executors_ray, resume
from lib.runs.executors_ray import RayExecutor
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store
from tests.conftest import ROOT
from tests.helpers.ray_cluster import kill_convstudio_actors, process_alive

pytestmark = pytest.mark.slow

TINY = ["--model", "mlp", "--epochs", "1", "--train-limit", "1000", "--batch-size", "64"]


@pytest.fixture
def cluster_env(ray_cluster, postgres_url, runs_dir, shared_data_dir):
    """Environment for every process of one test: the cluster, the store, the shared runs folder.
    Afterwards no run actor may be left on the cluster (they end with their run); any that is, is ended."""
    yield {
        **os.environ,
        **ray_cluster.env(),
        "CONVSTUDIO_STORE": postgres_url,
        "CONVSTUDIO_RUNS_DIR": str(runs_dir),
        "CONVSTUDIO_DATA_DIR": shared_data_dir,
        "CONVSTUDIO_HEARTBEAT_S": "1",
        "CONVSTUDIO_HEARTBEAT_LIMIT_S": "8",
    }
    left = kill_convstudio_actors(ray_cluster.address)
    assert not left, f"run actors left on the cluster: {left}"


def cli(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def queue(env, *args) -> str:
    result = cli(env, "train", "--detach", "--json", "--dataset", "mnist", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])["run_id"]


class Serve:
    """`python -m lib.cli serve` in the background; stopped with SIGTERM like systemd would."""

    def __init__(self, env):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lib.cli", "serve", "--interval", "0.5"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: the process and its Ray driver vanish without a word (a crash, an OOM kill)."""
        self.proc.kill()
        self.proc.communicate(timeout=60)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.communicate(timeout=60)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()[1]


def wait_for(predicate, timeout, poll=0.5):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s")


def test_six_runs_from_two_processes_all_complete_spread_over_the_gpu_nodes(cluster_env, runs_dir, postgres_url):
    queuers = [
        subprocess.Popen(
            [sys.executable, "-c", QUEUE_THREE], cwd=ROOT, env=cluster_env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    ids = [i for q in queuers for i in json.loads(q.communicate(timeout=120)[0])]
    assert len(set(ids)) == 6
    serve = Serve(cluster_env)
    store = Store(runs_dir, url=postgres_url)
    try:
        wait_for(lambda: all(store.get(i).is_finished for i in ids), timeout=420, poll=1)
    finally:
        log = serve.stop()
    runs = [store.get(i) for i in ids]
    assert [r.status for r in runs] == ["completed"] * 6, [(r.status, r.error) for r in runs]
    assert {r.node for r in runs} == {"gpu-a", "gpu-b"}, "placed by Ray on both GPU nodes"
    assert {r.gpu for r in runs} == {"0"} and all(r.executor == "ray" and r.attempt == 1 for r in runs)
    assert all(r.test_accuracy > 0.5 for r in runs)
    assert "Traceback" not in log, log
    listing = cli(cluster_env, "runs", "--json")
    assert {r["run_id"] for r in json.loads(listing.stdout)} >= set(ids)


QUEUE_THREE = f"""
import json, subprocess, sys
ids = []
for _ in range(3):
    out = subprocess.run([sys.executable, "-m", "lib.cli", "train", "--detach", "--json", "--dataset", "mnist",
                          *{TINY!r}], capture_output=True, text=True, check=True).stdout
    ids.append(json.loads(out.strip().splitlines()[-1])["run_id"])
print(json.dumps(ids))
"""


def test_stop_reaches_a_run_on_a_remote_node(cluster_env, runs_dir, postgres_url):
    run_id = queue(cluster_env, "--model", "mlp", "--epochs", "200", "--train-limit", "1000")
    serve = Serve(cluster_env)
    store = Store(runs_dir, url=postgres_url)
    try:
        wait_for(lambda: store.get(run_id).progress.phase == "training" and store.get(run_id).node, timeout=180)
        node = store.get(run_id).node
        assert node in ("gpu-a", "gpu-b")
        stopped = cli(cluster_env, "stop", run_id)  # from this process, not the node's
        assert stopped.returncode == 0, stopped.stderr
        run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, timeout=60)
    finally:
        serve.stop()
    assert run.status == "stopped" and run.node == node
    assert run.epochs_completed < 200


def test_a_node_that_dies_mid_run_marks_it_interrupted_by_name_and_it_resumes_elsewhere(
    ray_cluster, cluster_env, runs_dir, postgres_url
):
    run_id = queue(cluster_env, "--model", "mlp", "--epochs", "40", "--train-limit", "1000")
    serve = Serve(cluster_env)
    store = Store(runs_dir, url=postgres_url)
    try:
        wait_for(lambda: store.get(run_id).epochs_completed >= 2, timeout=240)
        victim = store.get(run_id).node
        spec = next(s for s in ray_cluster.node_specs if s["node_name"] == victim)
        ray_cluster.kill_node(victim)
        run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, timeout=120)
        assert run.status == "interrupted" and victim in run.error, run.error
        saved_epochs = run.epochs_completed
        assert saved_epochs >= 2
        resume.resume_interrupted(store, run_id)
        run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, timeout=300, poll=1)
    finally:
        log = serve.stop()
        if victim not in ray_cluster.nodes:
            ray_cluster.add_node(**spec)  # the next test gets its three nodes back
    worker_log = (runs_dir / run_id / "worker.log").read_text(errors="replace")
    assert run.status == "completed", (run.error, log[-2000:], worker_log[-3000:])
    survivor = {"gpu-a", "gpu-b"} - {victim}
    assert run.node in survivor and run.attempt == 2
    epochs = [e["epoch"] for e in store.epochs(run_id)]
    assert epochs == sorted(set(epochs)) and len(epochs) == 40  # the epochs before the crash are kept
    assert (runs_dir / run_id / "model.keras").exists()


def test_a_run_outlives_the_serve_that_submitted_it_and_the_next_serve_takes_it_over(
    cluster_env, runs_dir, postgres_url
):
    """The run's detached actor belongs to the cluster: killing its submitter (the Ray driver) leaves it
    training; a new `serve` re-attaches: it does not start the run again, and still ends it well."""
    epochs = 150  # long enough that the second serve takes the lease (15 s after the first died) mid-run
    run_id = queue(cluster_env, "--model", "mlp", "--epochs", str(epochs), "--train-limit", "1000")
    first = Serve(cluster_env)
    store = Store(runs_dir, url=postgres_url)
    second = None
    try:
        wait_for(lambda: store.get(run_id).epochs_completed >= 1, timeout=240)
        first.kill()
        at_kill = store.get(run_id).epochs_completed
        # no scheduler at all now: the run must go on by itself
        wait_for(lambda: store.get(run_id).epochs_completed >= at_kill + 2, timeout=120)
        second = Serve(cluster_env)
        wait_for(lambda: any(lease["info"].get("pid") == second.proc.pid for lease in store.leases()), timeout=120)
        assert store.get(run_id).status == "running", "the second serve took over while the run trained"
        run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, timeout=480, poll=1)
    finally:
        if first.proc.poll() is None:
            first.kill()
        log = second.stop() if second else ""
    assert run.status == "completed", (run.status, run.error, log[-2000:])
    assert run.attempt == 1, "started once: by the first serve's claim only"
    assert [e["epoch"] for e in store.epochs(run_id)] == list(range(1, epochs + 1))
    assert "scheduling" in log and "Traceback" not in log, log


def test_stop_reaches_a_run_whose_serve_was_killed(cluster_env, runs_dir, postgres_url):
    """Stop goes through the store, so it works with no scheduler and after re-attaching; the actor ends."""
    run_id = queue(cluster_env, "--model", "mlp", "--epochs", "200", "--train-limit", "1000")
    serve = Serve(cluster_env)
    store = Store(runs_dir, url=postgres_url)
    try:
        wait_for(lambda: store.get(run_id).epochs_completed >= 1, timeout=240)
    finally:
        serve.kill()
    stopped = cli(cluster_env, "stop", run_id)
    assert stopped.returncode == 0, stopped.stderr
    run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, timeout=90)
    assert run.status == "stopped" and run.epochs_completed < 200


def test_the_cluster_size_the_sidebar_shows(ray_cluster, runs_dir):
    """Nodes, GPUs and CPUs as Ray counts them (this test's process joins the cluster as a driver, then leaves)."""
    store = Store(runs_dir)
    scheduler = Scheduler(store, executor=RayExecutor(store, ray_cluster.address))
    try:
        cluster = scheduler.capacity()
        assert (cluster["nodes"], cluster["gpus"], cluster["cpus"]) == (3, 2, 3)
        assert cluster["gpus_free"] == 2
        # one place per GPU, once every node has shown it sees the runs folder
        assert wait_for(lambda: scheduler.slots == ["ray-0", "ray-1"], timeout=60)
        assert scheduler.problems() == []
    finally:
        scheduler.close()


# -- the run actors' own ends (stand-in workers: the actors, not TensorFlow, are under test) -------
@pytest.fixture
def in_process_executor(ray_cluster, runs_dir, monkeypatch):
    """A scheduler in this process on a SQLite store, whose Ray workers beat for a minute (beating_worker);
    afterwards this process leaves the cluster and no run actor may be left on it."""
    import ray  # here, not at the top: the cluster helper sets Ray's loopback mode before Ray is imported

    monkeypatch.setattr(executors_ray, "ORPHAN_GRACE_S", 0.0)
    ray.init(
        address=ray_cluster.address, namespace="convstudio", _node_ip_address="127.0.0.1", logging_level="ERROR",
        log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "BEATING_WORKER_SECONDS": "60"}},
    )  # fmt: skip
    store = Store(runs_dir)
    made = []

    def make(worker_module: str) -> Scheduler:
        made.append(Scheduler(store, executor=RayExecutor(store, ray_cluster.address, worker_module)))
        return made[-1]

    try:
        yield store, make
    finally:
        for scheduler in made:
            scheduler.close()
        if ray.is_initialized():
            ray.shutdown()
        left = kill_convstudio_actors(ray_cluster.address, grace_s=20)
        assert not left, f"run actors left on the cluster: {left}"


def start_one(store, scheduler) -> str:
    run_id = store.create_run(TrainConfig(epochs=1))
    wait_for(lambda: run_id in scheduler.tick(), timeout=60)  # once the nodes have been checked
    return run_id


def test_a_worker_that_crashes_on_its_node_is_recorded_failed_there_and_its_actor_ends(in_process_executor):
    store, make = in_process_executor
    scheduler = make("tests.helpers.no_such_worker")  # `python -m` of it exits 1: a broken install
    run_id = start_one(store, scheduler)
    run = wait_for(lambda: (r := store.get(run_id)).is_finished and r, timeout=60)
    assert run.status == "failed" and "exited with code 1 without reporting a result" in run.error, run.error
    assert "No module named tests.helpers.no_such_worker" in (store.run_dir(run_id) / "worker.log").read_text()
    wait_for(lambda: not scheduler.executor._ours(), timeout=30)  # it ended itself, freeing its place


def test_a_vanished_actor_interrupts_its_run_with_its_node(in_process_executor):
    import ray  # here, not at the top: the cluster helper sets Ray's loopback mode before Ray is imported

    store, make = in_process_executor
    scheduler = make("tests.helpers.beating_worker")
    executor = scheduler.executor
    lost = start_one(store, scheduler)
    node = wait_for(lambda: store.get(lost).node, timeout=60)
    ray.kill(ray.get_actor(f"run-{lost}-1", namespace=executor.namespace))  # as if its node had died
    wait_for(lambda: f"run-{lost}-1" not in executor._ours(), timeout=30)
    scheduler.tick()
    run = store.get(lost)
    assert run.status == "interrupted" and f"on node {node}" in run.error, run.error


def test_an_actor_whose_run_the_store_gave_up_on_is_ended_with_its_worker(in_process_executor):
    """A hung worker never beats; once the store has given up on its run, the actor would hold its GPU forever."""
    store, make = in_process_executor
    scheduler = make("tests.helpers.hung_worker")
    executor = scheduler.executor
    run_id = start_one(store, scheduler)
    pid_file = store.run_dir(run_id) / "hung.pid"
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=60))
    assert store.finish(run_id, "interrupted", error="it never reported", attempt=1)  # as the startup grace would
    scheduler.tick()  # its actor is ended (after 30 s for real, at once here)
    wait_for(lambda: not executor._ours(), timeout=30)
    wait_for(lambda: not process_alive(pid), timeout=30)


def test_a_run_stopped_before_its_worker_said_a_word_is_stopped_at_once(in_process_executor):
    """No worker is beating to hear the request (waiting for a place, or starting): the scheduler ends it."""
    store, make = in_process_executor
    scheduler = make("tests.helpers.hung_worker")
    run_id = start_one(store, scheduler)
    pid_file = store.run_dir(run_id) / "hung.pid"
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=60))
    assert store.request_stop(run_id)
    scheduler.tick()
    run = store.get(run_id)
    assert run.status == "stopped" and run.error == "Stopped before its worker started.", (run.status, run.error)
    wait_for(lambda: not scheduler.executor._ours(), timeout=30)
    wait_for(lambda: not process_alive(pid), timeout=30)
