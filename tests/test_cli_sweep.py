"""`cli sweep`, `cli sweeps`, `cli lr-find`: real runs through the queue, one-line refusals, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib.sweeps.record import SweepRecords

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, runs_dir, timeout=600):
    env = dict(os.environ, CONVSTUDIO_RUNS_DIR=str(runs_dir))
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def last_json(out) -> dict:
    assert out.stdout.strip(), out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args, words",
    [
        (["sweep", "--epochs", "1"], "--vary"),
        (["sweep", "--vary", "learning_rate=1e-2:1e-4"], "below its high end"),
        (["sweep", "--vary", "epochs=1,2"], "budget"),
        (["sweep", "--vary", "colour=red"], "not a setting"),
        (["sweep", "--vary", "lr=1e-4:1e-2:log", "--strategy", "grid"], "a grid needs a list"),
        (["sweep", "--vary", "lr=1e-4:1e-2:log"], "--trials"),
        (["sweep", "--vary", "lr=1e-4:1e-2:log", "--trials", "100000"], "between 1 and 500"),
        (["sweep", "--vary", "lr=1e-4:1e-2:log", "--trials", "3", "--prune", "--epochs", "1"], "at least 2 epochs"),
        (["sweep", "--vary", "batch_size=32,64", "--strategy", "grid", "--validation-split", "0"], "validation"),
        (["sweep", "--vary", "batch_size=32", "--strategy", "grid", "--epochs", "0"], "epochs"),
        (["sweep", "--resume", "sw-20260101-000000-abcdef"], "no sweep"),
        (["sweep", "--resume", "../../etc/passwd"], "no sweep"),
        (["sweep", "--stop", "nonsense"], "no sweep"),
        (["sweep", "--vary", "batch_size=32", "--strategy", "bayes"], "invalid choice"),
        (["lr-find", "--start", "1e-2", "--end", "1e-4"], "below the end"),
        (["lr-find", "--start", "0"], "between 1e-08 and 10"),
        (["lr-find", "--start", "1e-3", "--end", "2e-3"], "less than a factor of 10"),
        (["lr-find", "--steps", "5"], "from 20 to 1000"),
        (["lr-find", "--dataset", "imagenet"], "unknown dataset"),
        (["sweep", "--model", "nonsense", "--vary", "batch_size=32", "--strategy", "grid"], "unknown architecture"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_a_nonzero_exit(runs_dir, tiny_data_dir, args, words):
    out = cli(*args, "--data-dir", tiny_data_dir, runs_dir=runs_dir, timeout=60)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.realdata
def test_a_six_trial_random_sweep_on_mnist_finishes_six_linked_runs(runs_dir, shared_data_dir):
    out = cli(
        "sweep", "--dataset", "mnist", "--data-dir", shared_data_dir, "--model", "lenet5", "--train-limit", "2000",
        "--epochs", "1", "--vary", "learning_rate=1e-4:1e-2:log", "--vary", "batch_size=32,64,128",
        "--strategy", "random", "--trials", "6", "--json", runs_dir=runs_dir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = last_json(out)
    assert set(result) >= {"sweep_id", "trials", "best_run_id", "best_settings", "best_val_accuracy"}
    assert len(result["trials"]) == 6 and all(t["state"] == "complete" for t in result["trials"])
    runs = {r["run_id"]: r for r in json.loads(cli("runs", "--json", runs_dir=runs_dir).stdout)}
    assert set(runs) == {t["run_id"] for t in result["trials"]}
    for trial in result["trials"]:
        run = runs[trial["run_id"]]
        assert run["status"] == "completed" and run["config"]["extra"]["sweep"] == result["sweep_id"]
        assert run["config"]["learning_rate"] == trial["settings"]["learning_rate"]
    assert result["best_val_accuracy"] == max(t["best_val_accuracy"] for t in result["trials"]) > 0.5
    best_config = runs[result["best_run_id"]]["config"]
    assert all(best_config[k] == v for k, v in result["best_settings"].items())
    assert out.stderr.count("complete: best validation accuracy") == 6  # a progress line per trial
    listed = cli("sweeps", runs_dir=runs_dir).stdout
    assert result["sweep_id"] in listed and "6/6" in listed


@pytest.mark.slow
@pytest.mark.realdata
def test_pruning_stops_a_clearly_bad_trial_early_with_its_reason(runs_dir, shared_data_dir):
    from tests.test_sweep_driver import _seed_putting_last

    varies = ["learning_rate=0.001,0.002,1.0"]
    seed = _seed_putting_last(varies, 1.0)
    out = cli(
        "sweep", "--dataset", "mnist", "--data-dir", shared_data_dir, "--model", "lenet5", "--train-limit", "2000",
        "--epochs", "5", "--optimizer", "sgd", "--vary", varies[0], "--strategy", "grid", "--prune",
        "--search-seed", str(seed), "--json", runs_dir=runs_dir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    trials = {t["settings"]["learning_rate"]: t for t in last_json(out)["trials"]}
    bad = trials[1.0]
    assert bad["state"] == "pruned" and "median" in bad["reason"], bad
    run = next(r for r in json.loads(cli("runs", "--json", runs_dir=runs_dir).stdout) if r["run_id"] == bad["run_id"])
    assert run["status"] == "stopped" and run["epochs_completed"] < 5 and run["error"] == bad["reason"]
    assert "pruned" in out.stderr


@pytest.mark.slow
def test_killing_the_driving_process_and_resuming_repeats_no_trial(runs_dir, tiny_data_dir):
    env = dict(os.environ, CONVSTUDIO_RUNS_DIR=str(runs_dir))
    args = [
        "sweep", "--dataset", "mnist", "--data-dir", tiny_data_dir, "--model", "simple_cnn", "--epochs", "1",
        "--vary", "learning_rate=1e-3:1e-2:log", "--strategy", "random", "--trials", "4", "--json",
    ]  # fmt: skip
    driver = subprocess.Popen([sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    from lib.runs.store import Store

    records = SweepRecords(Store(runs_dir))
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            sweeps = records.list()
            if sweeps and sum(t.state == "complete" for t in records.trials(sweeps[0].id)) >= 2:
                break
            time.sleep(0.2)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    (sweep,) = records.list()
    before = {t.number: t.run_id for t in records.trials(sweep.id) if t.state == "complete"}
    assert len(before) >= 2 and sweep.state == "running"
    out = cli("sweep", "--resume", sweep.id, "--json", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    result = last_json(out)
    assert len(result["trials"]) == 4 and all(t["state"] == "complete" for t in result["trials"])
    assert {t["number"]: t["run_id"] for t in result["trials"] if t["number"] in before} == before
    runs = json.loads(cli("runs", "--json", runs_dir=runs_dir).stdout)
    assert len(runs) == 4 and {r["status"] for r in runs} == {"completed"}  # no trial trained twice
    assert "resuming after" in out.stderr


@pytest.mark.slow
def test_lr_find_prints_the_suggestion_as_json(runs_dir, tiny_data_dir):
    out = cli(
        "lr-find", "--dataset", "mnist", "--data-dir", tiny_data_dir, "--model", "simple_cnn", "--batch-size", "16",
        "--start", "1e-5", "--end", "1", "--steps", "40", "--json", runs_dir=runs_dir,
    )  # fmt: skip
    result = last_json(out)
    assert set(result) >= {"run_id", "status", "suggested_rate", "min_loss_rate", "problem"}
    assert result["status"] == "completed"
    assert (result["suggested_rate"] and out.returncode == 0) or (result["problem"] and out.returncode == 1)
