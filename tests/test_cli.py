"""The command line: trains through the queue, lists what exists, refuses bad input in one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, runs_dir, timeout=180):
    env = dict(os.environ, CONVSTUDIO_RUNS_DIR=str(runs_dir))
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_train_runs_through_a_worker_and_prints_json_last(runs_dir, tiny_data_dir):
    out = cli(
        "train", "--dataset", "mnist", "--data-dir", tiny_data_dir, "--model", "lenet5", "--epochs", "2",
        "--batch-size", "32", "--augment", "shift=0.05", "--json", runs_dir=runs_dir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result) >= {"run_id", "status", "test_accuracy", "test_loss", "epochs_completed", "train_seconds",
                           "images_per_second"}  # fmt: skip
    assert result["status"] == "completed" and result["epochs_completed"] == 2
    assert result["test_accuracy"] > 0.8 and result["images_per_second"] > 0
    assert "epoch 2/2" in out.stderr  # the progress display
    listed = json.loads(cli("runs", "--json", runs_dir=runs_dir).stdout)
    assert [r["run_id"] for r in listed] == [result["run_id"]]
    assert listed[0]["config"]["augment_shift"] == 0.05
    assert (runs_dir / result["run_id"] / "worker.log").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["train", "--epochs", "0"], "epochs"),
        (["train", "--batch-size", "abc"], "batch-size"),
        (["train", "--dataset", "imagenet"], "unknown dataset"),
        (["train", "--data-dir", "/no/such/folder"], "does not exist"),
        (["train", "--augment", "spin=3"], "--augment"),
        (["train", "--dropout", "2"], "dropout"),
        (["frobnicate"], "invalid choice"),
        (["stop", "../../etc/passwd"], "no run"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_a_nonzero_exit(runs_dir, args, words):
    out = cli(*args, runs_dir=runs_dir, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0]
    assert "Traceback" not in out.stderr


def test_missing_dataset_is_one_line_that_says_where_to_put_files(runs_dir, tmp_path):
    env_dir = tmp_path / "empty"
    env_dir.mkdir()
    out = cli("train", "--dataset", "cifar10", "--data-dir", str(env_dir), runs_dir=runs_dir, timeout=60)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "cifar-10-batches-py" in out.stderr and "--data-dir" in out.stderr


def test_models_and_datasets_are_listed(runs_dir, tiny_data_dir):
    models = cli("models", runs_dir=runs_dir).stdout
    for name in ("mlp", "simple_cnn", "lenet5", "keras_convnet", "vgg_small", "resnet_small"):
        assert name in models
    found = cli("datasets", "--data-dir", tiny_data_dir, runs_dir=runs_dir).stdout
    assert f"mnist          available at {tiny_data_dir}/mnist" in found
