"""Real data: Fashion-MNIST in full from Debian, and the MNIST sample from ../shared."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib.config import TrainConfig
from lib.train import fit

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_simple_cnn_one_epoch_on_full_fashion_mnist_reaches_85_percent(store, fashion_available):
    config = TrainConfig(dataset="fashion_mnist", architecture="simple_cnn", epochs=1, validation_split=0.0)
    run_id = store.create_run(config)
    store.claim_next(["cpu"])
    result = fit.train_run(store, run_id)
    assert result["train_size"] == 60_000 and result["test_size"] == 10_000
    assert result["test_accuracy"] >= 0.85, result


def test_cli_lenet5_on_the_mnist_sample_reaches_95_percent(runs_dir, shared_data_dir):
    out = subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", "--dataset", "mnist", "--data-dir", shared_data_dir,
         "--model", "lenet5", "--epochs", "5", "--json"],
        cwd=ROOT, env=dict(os.environ, CONVSTUDIO_RUNS_DIR=str(runs_dir)), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["test_accuracy"] >= 0.95, result
