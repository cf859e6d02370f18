"""A sweep whose trials run on a Ray cluster: the loopback three-node cluster, a PostgreSQL store, real training.

`cli sweep` drives the sweep and, with CONVSTUDIO_EXECUTOR=ray, its scheduler places each trial's
run on the cluster (tests/helpers/ray_cluster.py: a CPU head and two nodes declaring one GPU each).
"""

import json
import os
import subprocess
import sys

import pytest

from lib.runs.store import Store
from lib.sweeps.record import SweepRecords
from tests.conftest import ROOT
from tests.helpers.ray_cluster import kill_convstudio_actors

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster_env(ray_cluster, postgres_url, runs_dir, tiny_data_dir):
    """Environment for the sweep's process; afterwards no run actor may be left on the cluster."""
    yield {
        **os.environ,
        **ray_cluster.env(),
        "CONVSTUDIO_STORE": postgres_url,
        "CONVSTUDIO_RUNS_DIR": str(runs_dir),
        "CONVSTUDIO_DATA_DIR": tiny_data_dir,
        "CONVSTUDIO_HEARTBEAT_S": "1",
        "CONVSTUDIO_HEARTBEAT_LIMIT_S": "8",
    }
    left = kill_convstudio_actors(ray_cluster.address)
    assert not left, f"run actors left on the cluster: {left}"


def test_a_small_grid_sweep_runs_its_trials_on_the_ray_cluster(cluster_env, runs_dir, postgres_url, tiny_data_dir):
    args = [
        "sweep", "--dataset", "mnist", "--data-dir", tiny_data_dir, "--model", "mlp", "--epochs", "1",
        "--vary", "batch_size=32,64", "--strategy", "grid", "--parallel", "2", "--json",
    ]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=cluster_env, capture_output=True, text=True, timeout=540
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["state"] == "completed" and len(summary["trials"]) == 2
    assert {t["settings"]["batch_size"] for t in summary["trials"]} == {32, 64}
    assert all(t["state"] == "complete" and t["best_val_accuracy"] is not None for t in summary["trials"])
    assert summary["best_run_id"] in {t["run_id"] for t in summary["trials"]}

    store = Store(runs_dir, url=postgres_url)
    try:
        records = SweepRecords(store)
        (sweep,) = records.list()
        assert sweep.id == summary["sweep_id"] and sweep.state == "completed"
        for trial in records.trials(sweep.id):
            run = store.get(trial.run_id)
            assert run.status == "completed" and run.executor == "ray", (run.status, run.executor, run.error)
            assert run.config.extra["sweep"] == sweep.id and run.config.extra["trial"] == trial.number
            assert store.trial_of_run(run.id) == (sweep.id, trial.number)
    finally:
        store.close()
