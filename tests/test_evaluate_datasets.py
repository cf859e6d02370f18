"""Evaluate works for every kind of dataset: built-in grey and colour, custom grey and RGB.

Custom datasets stream from PNG files (ImageFiles), which model.predict cannot take: evaluate
used to fail on every run trained on one ("Unrecognized data type: ImageFiles"). Each kind is
trained for one tiny epoch, then evaluated by the library, `python -m lib.cli evaluate` and the
Evaluate page (AppTest).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lib.config import TrainConfig
from lib.data import custom
from lib.inference import evaluation
from lib.runs.store import Store
from tests.conftest import ROOT
from tests.helpers.blob_data import write_blob_mnist

pytestmark = pytest.mark.slow

KINDS = ("builtin_grey", "builtin_colour", "custom_grey", "custom_rgb")
COLOURS = ((220, 30, 30), (30, 200, 30), (30, 30, 220))


def write_cifar10(root, per_batch=40, test=60):
    """cifar-10-batches-py in its standard pickle format: colour squares, a class per hue."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)

    def batch(n):
        labels = rng.integers(0, 10, n)
        pixels = np.zeros((n, 3, 32, 32), np.uint8)
        for i, label in enumerate(labels):
            pixels[i, label % 3] = 60 + 19 * label + rng.integers(0, 20, (32, 32))
        return {b"data": pixels.reshape(n, -1), b"labels": labels.tolist()}

    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", test)]:
        with open(folder / name, "wb") as f:
            pickle.dump(batch(n), f)


def write_folder(folder, grey: bool, per_class=24, size=20):
    rng = np.random.default_rng(1)
    for label, colour in enumerate(COLOURS):
        (folder / f"class{label}").mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.integers(-30, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels)
            (image.convert("L") if grey else image).save(folder / f"class{label}" / f"{i}.png")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{kind: run id} in one store, one tiny epoch each; CONVSTUDIO_* point at the module's folders."""
    from lib.train import fit

    base = tmp_path_factory.mktemp("evaluate_kinds")
    data, runs = base / "data", base / "runs"
    data.mkdir()
    write_blob_mnist(data, train=200, test=60)
    write_cifar10(data)
    write_folder(data / "grey_photos", grey=True)
    write_folder(data / "rgb_photos", grey=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONVSTUDIO_DATA_DIR", str(data))
        mp.setenv("CONVSTUDIO_RUNS_DIR", str(runs))
        custom.add("greys", str(data / "grey_photos"), image_size=28, color="grey")
        custom.add("rgbs", str(data / "rgb_photos"), image_size=28, color="rgb")
        store = Store(runs)
        datasets = {"builtin_grey": "mnist", "builtin_colour": "cifar10", "custom_grey": "greys", "custom_rgb": "rgbs"}
        ids = {}
        for kind, dataset in datasets.items():
            config = TrainConfig(
                dataset=dataset, architecture="simple_cnn", epochs=1, batch_size=16, data_dir=str(data)
            )
            ids[kind] = store.create_run(config)
            assert store.claim_next(["cpu"]).id == ids[kind]
            assert fit.train_run(store, ids[kind])["status"] == "completed"
        yield data, runs, ids


@pytest.fixture
def env(trained, monkeypatch):
    data, runs, ids = trained
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(runs))
    return Store(runs), ids


@pytest.mark.parametrize("kind", KINDS)
def test_the_library_evaluates(env, kind):
    store, ids = env
    result = evaluation.evaluate_run(store, ids[kind])
    assert len(result.y_true) == result.confusion.sum() > 0
    assert result.probabilities.shape == (len(result.y_true), len(result.per_class))
    assert 0 <= result.accuracy <= 1
    assert np.array_equal(evaluation.predict_test_split(store, ids[kind]), result.probabilities)  # the cache


@pytest.mark.parametrize("kind", KINDS)
def test_the_command_line_evaluates(env, kind):
    store, ids = env
    done = subprocess.run(
        [sys.executable, "-m", "lib.cli", "evaluate", "--run", ids[kind], "--json"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["run_id"] == ids[kind] and 0 <= answer["test_accuracy"] <= 1


@pytest.mark.parametrize("kind", KINDS)
def test_the_evaluate_page_shows_the_result(env, monkeypatch, kind):
    from streamlit.testing.v1 import AppTest

    store, ids = env
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/evaluate.py").run()
    at.selectbox(key="eval_run").set_value(ids[kind]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    expected = evaluation.evaluate_run(store, ids[kind])
    assert metrics["Test accuracy"] == f"{expected.accuracy:.2%}"
