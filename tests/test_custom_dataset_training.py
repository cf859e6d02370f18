"""End to end through the command line: a folder of your own images -> `dataset add` -> `train` -> `predict`.

Three colour classes a CNN tells apart in one epoch; the run goes through the
real queue and worker process, reading the images from disk as it trains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

COLOURS = {"blue": (30, 30, 220), "green": (30, 200, 30), "red": (220, 30, 30)}


def cli(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def env(tmp_path) -> dict:
    data, runs = tmp_path / "data", tmp_path / "runs"
    data.mkdir()
    return dict(os.environ, CONVSTUDIO_DATA_DIR=str(data), CONVSTUDIO_RUNS_DIR=str(runs), TF_CPP_MIN_LOG_LEVEL="2")


def write_images(folder, per_class=30, size=36):
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            noise = rng.integers(-40, 40, (size, size, 3))
            Image.fromarray(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)).save(folder / name / f"{i}.jpg")


def test_train_on_a_custom_folder_and_predict_one_of_its_images(env):
    folder = os.path.join(env["CONVSTUDIO_DATA_DIR"], "my_photos")
    write_images(Path(folder))

    added = cli("dataset", "add", "colours", "--from", folder, "--json", env=env)
    assert added.returncode == 0, added.stderr
    manifest = json.loads(added.stdout)
    assert manifest["class_names"] == ["blue", "green", "red"]
    assert (manifest["image_size"], manifest["color"]) == (32, "rgb")

    listed = cli("datasets", env=env)
    assert "colours" in listed.stdout

    trained = cli(
        "train", "--dataset", "colours", "--model", "simple_cnn", "--epochs", "1",
        "--batch-size", "8", "--json", env=env,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["epochs_completed"] == 1
    assert result["test_accuracy"] >= 0.9  # the held-out images of three plain colours

    red = os.path.join(folder, "red", "7.jpg")
    predicted = cli("predict", "--run", result["run_id"], red, "--json", env=env)
    assert predicted.returncode == 0, predicted.stderr
    answer = json.loads(predicted.stdout.strip().splitlines()[-1])
    assert answer["label"] == "red" and answer["confidence"] > 0.5
