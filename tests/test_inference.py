"""Prediction, explanations and `cli predict` on the tiny trained run (synthetic bars: class k = bar at row 2+2k)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from lib.cli.main import main as cli_main
from lib.inference import explain, prediction, preprocess
from lib.runs.store import Store


def bar_image(label: int, size: int = 28) -> np.ndarray:
    """A clean example of the tiny dataset's class `label`, as a model input."""
    x = np.zeros((size, size, 1), np.float32)
    x[2 + 2 * label : 4 + 2 * label, 4:24] = 1.0
    return x


@pytest.fixture(scope="module")
def loaded(trained_run):
    runs_dir, run_id = trained_run
    store = Store(runs_dir)
    run, info, model = prediction.load_run_model(store, run_id)
    return store, run_id, info, model


def test_predicts_the_classes_it_was_trained_on(loaded):
    _, _, info, model = loaded
    predictions = prediction.predict(model, np.stack([bar_image(k) for k in range(10)]), info.class_names)
    assert [p.class_index for p in predictions] == list(range(10))
    assert [p.label for p in predictions] == [str(k) for k in range(10)]
    for p in predictions:
        assert len(p.probabilities) == 10
        assert abs(sum(p.probabilities) - 1) < 1e-4
        assert p.confidence == max(p.probabilities)


def test_one_image_without_a_batch_axis(loaded):
    _, _, _, model = loaded
    assert prediction.probabilities(model, bar_image(3)).shape == (1, 10)


def test_wrong_input_shape_is_a_clear_error(loaded):
    _, _, _, model = loaded
    with pytest.raises(ValueError, match=r"expects inputs of shape \(28, 28, 1\)"):
        prediction.probabilities(model, np.zeros((32, 32, 3), np.float32))


def test_model_is_loaded_once_and_reloaded_when_the_file_changes(loaded):
    store, run_id, _, model = loaded
    path = store.model_path(run_id)
    assert prediction.load_model(path) is model
    stat = path.stat()
    try:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # "retrained"
        fresh = prediction.load_model(path)
        assert fresh is not model
        assert prediction.load_model(path) is fresh
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_unfinished_run_has_no_model(loaded, tiny_data_dir):
    store, *_ = loaded
    from lib.config import TrainConfig

    queued = store.create_run(TrainConfig(dataset="mnist", architecture="mlp", epochs=1, data_dir=tiny_data_dir))
    try:
        with pytest.raises(prediction.ModelUnavailable, match="queued"):
            prediction.model_file(store, queued)
    finally:
        store.delete(queued)


# -- explanations -----------------------------------------------------------------------
def test_gradcam_points_at_the_bar(loaded):
    _, _, _, model = loaded
    x = bar_image(7)
    explanation = explain.explain(model, x, 7)
    assert explanation.kind == "Grad-CAM" and explanation.layer
    heat = explanation.heat
    assert heat.shape == (28, 28) and 0 <= heat.min() and heat.max() <= 1
    bar_rows = heat[14:18].mean()
    assert bar_rows > heat.mean()  # the evidence for class 7 is at rows 16-17


def test_model_without_convolutions_gets_saliency():
    from lib import models

    mlp = models.build("mlp", (28, 28, 1), 10)
    explanation = explain.explain(mlp, bar_image(2), 2)
    assert explanation.kind == "saliency"
    assert explanation.heat.shape == (28, 28) and explanation.heat.max() == pytest.approx(1.0)


def test_feature_maps_and_filters(loaded):
    _, _, _, model = loaded
    maps = explain.feature_maps(model, bar_image(1))
    assert maps and maps[0][1].shape == (26, 26, 32)  # simple_cnn: 32 valid 3x3 convolutions, after ReLU
    filters = explain.first_layer_filters(model)
    assert filters.shape == (32, 3, 3, 1) and filters.min() >= 0 and filters.max() <= 1


def test_overlay_is_the_scaled_input_with_heat_on_top():
    x = bar_image(0)
    heat = np.zeros((28, 28), np.float32)
    heat[:14] = 1.0
    picture = np.asarray(explain.overlay(x, heat, scale=4))
    assert picture.shape == (112, 112, 3)
    cold, hot = picture[100, 100], picture[20, 2]
    assert (cold == 0).all()  # no heat: the input shows through unchanged (black here)
    assert hot[0] > 50 and hot[1] == 0 and hot[2] == 0  # full heat: red, the hot end of the jet scale


# -- the command line ---------------------------------------------------------------------
def write_png(path, label: int) -> str:
    """A bar drawn big on a 280x280 canvas, so the CLI's preprocessing has work to do."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[20 + 20 * label : 40 + 20 * label, 40 + 10 * label : 240] = 255
    Image.fromarray(canvas).save(path)
    return str(path)


def expected(path, model, info) -> prediction.Prediction:
    """What the page would say for this file: the same preprocessing, the same model."""
    with open(path, "rb") as f:
        x = preprocess.prepare_bytes(f.read(), info.input_shape, "mnist").model_input
    return prediction.predict(model, x, info.class_names)[0]


def test_cli_predict_json(loaded, tmp_path, capsys):
    store, run_id, info, model = loaded
    files = [write_png(tmp_path / "three.png", 3), write_png(tmp_path / "eight.png", 8)]
    code = cli_main(["--runs-dir", str(store.root), "predict", "--run", run_id, *files, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    answers = [json.loads(line) for line in out]
    assert [a["file"] for a in answers] == files
    for answer, file in zip(answers, files, strict=True):
        want = expected(file, model, info)
        assert answer["class_index"] == want.class_index and answer["label"] == want.label
        assert answer["confidence"] == pytest.approx(want.confidence, abs=1e-5)
        assert answer["probabilities"] == pytest.approx(want.probabilities, abs=1e-5)


def test_cli_predict_bad_file_is_one_line_and_a_failure(loaded, tmp_path, capsys):
    store, run_id, info, model = loaded
    good = write_png(tmp_path / "two.png", 2)
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    code = cli_main(["--runs-dir", str(store.root), "predict", "--run", run_id, str(bad), good, "missing.png"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip().splitlines() == [
        f"error: {bad}: not an image this app reads (PNG, JPEG, BMP, GIF, WEBP)",
        "error: missing.png: No such file or directory",
    ]
    want = expected(good, model, info)
    assert captured.out.strip() == f"{good}: {want.label} ({want.confidence:.1%})"  # the good file is still answered


def test_cli_predict_unknown_run(loaded, capsys):
    store, *_ = loaded
    code = cli_main(["--runs-dir", str(store.root), "predict", "--run", "20000101-000000-000000", "x.png"])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: no run")
