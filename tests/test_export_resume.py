"""Exports predict like the Keras model; continuing and fine-tuning keep training where it was."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lib.config import ConfigError
from lib.data import datasets
from lib.model_files import load_model
from lib.runs import export, resume
from lib.runs.store import Store

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_savedmodel_and_tflite_predict_like_the_keras_model(trained_run, tiny_data_dir, tmp_path):
    import tensorflow as tf

    runs, run_id = trained_run
    store = Store(runs)
    _, (x_test, _) = datasets.load_raw("mnist", tiny_data_dir)
    x = datasets.normalise(x_test[:32])
    expected = load_model(store.model_path(run_id)).predict(x, verbose=0)

    saved = export.export_model(store, run_id, "savedmodel", tmp_path / "saved")
    loaded = tf.saved_model.load(str(saved))  # keep a reference: its variables live as long as it does
    served = loaded.serve(tf.constant(x)).numpy()
    assert np.abs(served - expected).max() < 1e-4

    lite = export.export_model(store, run_id, "tflite", tmp_path / "model.tflite")
    interpreter = tf.lite.Interpreter(model_path=str(lite))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    lite_out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert np.abs(lite_out - expected).max() < 1e-4

    copied = export.export_model(store, run_id, "keras", tmp_path / "copy.keras")
    assert copied.read_bytes() == store.model_path(run_id).read_bytes()
    with pytest.raises(export.ExportError, match="not empty"):
        export.export_model(store, run_id, "savedmodel", saved)


def test_run_config_and_metrics_download_as_json_and_csv(trained_run):
    runs, run_id = trained_run
    store = Store(runs)
    document = json.loads(export.run_json(store, run_id))
    assert document["config"]["architecture"] == "simple_cnn" and len(document["epochs"]) == 2
    lines = export.epochs_csv(store, run_id).strip().splitlines()
    assert lines[0].startswith("epoch,loss,accuracy,val_loss") and len(lines) == 3


def cli(*args, runs_dir):
    env = dict(os.environ, CONVSTUDIO_RUNS_DIR=str(runs_dir))
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_resume_continues_the_epoch_count_and_the_optimizer(runs_dir, tiny_data_dir):
    first = cli("train", "--dataset", "mnist", "--data-dir", tiny_data_dir, "--epochs", "1", "--json",
                runs_dir=runs_dir)  # fmt: skip
    run_id = json.loads(first.stdout.splitlines()[-1])["run_id"]
    store = Store(runs_dir)
    iterations = int(load_model(store.model_path(run_id, "last")).optimizer.iterations.numpy())
    again = cli("train", "--resume", run_id, "--epochs", "1", "--json", runs_dir=runs_dir)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout.splitlines()[-1])
    assert result["run_id"] == run_id and result["epochs_completed"] == 2
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2]
    assert int(load_model(store.model_path(run_id, "last")).optimizer.iterations.numpy()) == 2 * iterations

    tuned = cli("train", "--finetune", run_id, "--lr", "0.0001", "--epochs", "1", "--json", runs_dir=runs_dir)
    assert tuned.returncode == 0, tuned.stderr
    child = store.get(json.loads(tuned.stdout.splitlines()[-1])["run_id"])
    assert child.parent_id == run_id and child.config.learning_rate == 0.0001
    assert child.config.dataset == "mnist" and child.epochs_completed == 1
    assert child.test_accuracy >= store.get(run_id).test_accuracy - 0.05  # starts from trained weights

    refused = cli("train", "--finetune", run_id, "--model", "lenet5", runs_dir=runs_dir)
    assert refused.returncode == 2 and "architecture" in refused.stderr

    evaluated = cli("evaluate", "--run", run_id, "--json", runs_dir=runs_dir)
    report = json.loads(evaluated.stdout)
    assert np.array(report["confusion_matrix"]).sum() == 200 and len(report["per_class"]) == 10


def test_a_running_or_cosine_run_cannot_continue(store, tiny_data_dir):
    from lib.config import TrainConfig

    run_id = store.create_run(TrainConfig(data_dir=tiny_data_dir))
    with pytest.raises(ConfigError, match="only a finished run"):
        resume.continue_run(store, run_id, 1)
