"""Only model files the store wrote are loaded, with Keras's safe mode on; anything else is refused clearly.

Each test tampers with a copy of a really trained run's folder: a model carrying Python code (a
Lambda layer), a link in place of the file, a damaged file. The Predict and Evaluate pages, the
command line and the library all refuse, say why, and run none of the file's code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from lib.inference import prediction
from lib.model_files import ModelRefused, load_model
from lib.runs.store import Store
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def copied_run(trained_run, tmp_path):
    """(store, run_id): a private copy of the trained run, free to tamper with."""
    runs_dir, run_id = trained_run
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy)
    return Store(copy), run_id


def model_with_code(path, marker, monkeypatch):
    """A working Keras model whose Lambda layer writes `marker` whenever its code runs.

    A lambda, not a named function: Keras stores a lambda's bytecode in the file, which is how a
    model file would carry code; the marker's path comes from the environment (no closure to store).
    """
    import keras

    monkeypatch.setenv("CONVSTUDIO_TEST_MARKER", str(marker))
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(
        lambda x: (__import__("pathlib").Path(__import__("os").environ["CONVSTUDIO_TEST_MARKER"]).write_text("1"), x)[1]
    )(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model ran it once; only a later run counts


def test_a_model_carrying_python_code_is_refused_and_its_code_never_runs(copied_run, tmp_path, monkeypatch):
    store, run_id = copied_run
    marker = tmp_path / "ran"
    model_with_code(store.model_path(run_id), marker, monkeypatch)

    with pytest.raises(ModelRefused, match="Python code"):
        prediction.load_run_model(store, run_id)
    assert not marker.exists()

    # the control: the same file loaded without safe mode does run its code, so the test can fail
    import keras

    keras.saving.load_model(store.model_path(run_id), safe_mode=False)
    assert marker.exists()


def test_a_link_in_place_of_the_model_is_refused_wherever_it_points(copied_run, trained_run, tmp_path):
    store, run_id = copied_run
    elsewhere = tmp_path / "elsewhere.keras"
    shutil.copyfile(trained_run[0] / run_id / "model.keras", elsewhere)  # a perfectly good model
    load_model(elsewhere)  # loads where it is...
    store.model_path(run_id).unlink()
    store.model_path(run_id).symlink_to(elsewhere)
    with pytest.raises(ModelRefused, match="link or not a file"):
        load_model(store.model_path(run_id))  # ...but not through a link in a run's folder


def test_a_damaged_model_file_is_refused_clearly(copied_run):
    store, run_id = copied_run
    path = store.model_path(run_id)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ModelRefused, match="damaged or not a Keras model"):
        load_model(path)


def test_the_command_line_refuses_a_tampered_model_in_one_line(copied_run, tmp_path, monkeypatch):
    store, run_id = copied_run
    model_with_code(store.model_path(run_id), tmp_path / "ran", monkeypatch)
    image = tmp_path / "digit.png"
    from PIL import Image

    digit = Image.new("L", (28, 28))
    digit.paste(255, (10, 4, 18, 24))  # a stroke, so the image itself is fine
    digit.save(image)
    for command in (["predict", "--run", run_id, str(image)], ["evaluate", "--run", run_id]):
        done = subprocess.run(
            [sys.executable, "-m", "lib.cli", "--runs-dir", str(store.root), *command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert "error:" in done.stderr and "Python code" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("page", ["pages/predict.py", "pages/evaluate.py"])
def test_the_pages_say_why_a_tampered_model_is_not_used(copied_run, tmp_path, monkeypatch, page):
    store, run_id = copied_run
    model_with_code(store.model_path(run_id), tmp_path / "ran", monkeypatch)
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(store.root))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be used" in e.value and "Python code" in e.value for e in at.error)
    assert not (tmp_path / "ran").exists()
