"""The Evaluate page and the evaluate/run-action sections for Train and Runs, in AppTest."""

from __future__ import annotations

import base64
import json
import os
import shutil
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lib.inference import evaluation
from lib.inference import metrics as eval_metrics
from lib.runs.store import Store

ROOT = Path(__file__).resolve().parent.parent


def page(monkeypatch, runs_dir, query: dict | None = None, state: dict | None = None) -> AppTest:
    """The whole app opened on the Evaluate page."""
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    monkeypatch.syspath_prepend(str(ROOT))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page("pages/evaluate.py")
    at.run()
    assert not at.exception, at.exception
    return at


def figure(at, title_start: str) -> dict:
    """The Plotly figure (as JSON) whose title starts with `title_start`."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec["layout"].get("title", {}).get("text", "")
        if title.startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


def plotly_values(data) -> np.ndarray:
    """A figure's array as sent to the browser: Plotly 7 writes numpy arrays as base64 typed arrays."""
    if isinstance(data, dict) and "bdata" in data:
        array = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
        shape = data.get("shape")
        return array.reshape([int(d) for d in str(shape).split(",")]) if shape else array
    return np.asarray(data)


def copy_of(trained_run, tmp_path) -> tuple[Store, str]:
    """A private copy of the trained run's store, for tests that change it."""
    runs_dir, run_id = trained_run
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy)
    return Store(copy), run_id


def add_finished_run(store: Store, like: str, **changes) -> str:
    """A newer completed run reusing `like`'s model file, with some settings changed."""
    run_id = store.create_run(store.get(like).config.replace(**changes))
    store.claim_next(["cpu"])
    shutil.copy(store.model_path(like), store.model_path(run_id))
    store.finish(run_id, "completed", test_accuracy=0.25, test_loss=2.0)
    return run_id


MISTAKES = [(0, 7, 0.9), (11, 7, 0.8), (23, 5, 0.6)]  # (test image, predicted class, confidence)


@pytest.fixture
def known_case(trained_run, tmp_path):
    """A copy of the trained run whose cached test predictions are written by hand: 3 known mistakes.

    The model file gets a new time, as after retraining, so no cache can serve the real predictions.
    """
    store, run_id = copy_of(trained_run, tmp_path)
    y = np.arange(200) % 10  # the tiny dataset's test labels
    probabilities = np.full((200, 10), 0.03 / 9)
    probabilities[np.arange(200), y] = 0.97
    for index, predicted, confidence in MISTAKES:
        probabilities[index] = 0.05 / 8
        probabilities[index, predicted] = confidence
        probabilities[index, y[index]] = 0.95 - confidence
    model = store.model_path(run_id)
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 10**9))
    np.savez_compressed(
        store.run_dir(run_id) / "test_predictions.npz", probabilities=probabilities, stamp=model.stat().st_mtime_ns
    )
    return store, run_id


@pytest.fixture(scope="module")
def expected(trained_run):
    runs_dir, run_id = trained_run
    return evaluation.evaluate_run(Store(runs_dir), run_id)


# -- the Evaluate page ------------------------------------------------------------------------
def test_no_runs_points_to_the_train_page(monkeypatch, tmp_path):
    at = page(monkeypatch, tmp_path / "empty")
    assert "No finished run" in at.info[0].value and "Train" in at.info[0].value
    assert len(at.get("page_link")) == 1
    assert not at.metric and not at.get("plotly_chart")


def test_accuracy_loss_and_the_confusion_heat_map(monkeypatch, trained_run, expected):
    runs_dir, run_id = trained_run
    at = page(monkeypatch, runs_dir)
    assert at.selectbox(key="eval_run").value == run_id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == f"{expected.accuracy:.2%}"
    assert metrics["Test loss"] == f"{expected.loss:.4f}"
    assert metrics["Test images"] == "200"
    spec = figure(at, "Confusion matrix")
    heat, cells = spec["data"]
    assert heat["type"] == "heatmap" and np.array_equal(plotly_values(heat["z"]), expected.confusion)
    assert (
        cells["type"] == "scatter" and len(plotly_values(cells["customdata"])) == 100
    )  # one clickable marker per cell

    at.toggle(key="eval_normalised").set_value(True).run()
    z = plotly_values(figure(at, "Confusion matrix")["data"][0]["z"])
    assert np.allclose(z, eval_metrics.row_normalised(expected.confusion))
    assert np.allclose(z.sum(axis=1)[expected.confusion.sum(axis=1) > 0], 1.0)


def cell_heading(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("##### True"))


def test_picking_a_cell_shows_its_test_images(monkeypatch, trained_run, expected):
    at = page(monkeypatch, trained_run[0])
    counts = expected.confusion
    if np.trace(counts) == counts.sum():  # a perfect model: the pickers start on the first class's right answers
        assert (at.selectbox(key="eval_true").value, at.selectbox(key="eval_pred").value) == (0, 0)

    at.selectbox(key="eval_true").set_value(3)
    at.selectbox(key="eval_pred").set_value(3).run()
    assert cell_heading(at) == f"##### True 3, classified right: {counts[3, 3]:,} test images"
    shown = at.get("image")[0].proto.imgs
    assert len(shown) == min(24, counts[3, 3])
    # every image shown is a test image of class 3 that the model called 3
    predicted = expected.probabilities.argmax(axis=1)
    for img in shown:
        index = int(img.caption.split(" · ")[0][1:])
        assert expected.y_true[index] == 3 and predicted[index] == 3

    empty = np.argwhere(counts == 0)
    if len(empty):
        t, p = map(int, empty[0])
        at.selectbox(key="eval_true").set_value(t)
        at.selectbox(key="eval_pred").set_value(p).run()
        assert "0 test images" in cell_heading(at)
        assert any("No test image falls in this cell" in c.value for c in at.caption)


def test_query_param_chooses_the_run(monkeypatch, trained_run, tmp_path):
    store, old_id = copy_of(trained_run, tmp_path)
    new_id = add_finished_run(store, old_id, learning_rate=0.01)
    at = page(monkeypatch, store.root)
    assert at.selectbox(key="eval_run").value == new_id  # the latest completed by default
    at = page(monkeypatch, store.root, query={"run": old_id})
    assert at.selectbox(key="eval_run").value == old_id
    at = page(monkeypatch, store.root, query={"run": "../../etc/passwd"})
    assert at.selectbox(key="eval_run").value == new_id


def test_per_class_table(monkeypatch, trained_run, expected):
    at = page(monkeypatch, trained_run[0], state={"eval_section": "Per-class metrics"})
    table = at.dataframe[0].value
    assert list(table["class"]) == [str(i) for i in range(10)]
    for row, want in zip(table.to_dict("records"), expected.per_class, strict=True):
        assert row["precision"] == pytest.approx(want["precision"])
        assert row["recall"] == pytest.approx(want["recall"])
        assert row["f1"] == pytest.approx(want["f1"])
        assert row["support"] == want["support"]
    bars = figure(at, "Per-class precision")
    assert [t["name"] for t in bars["data"]] == ["precision", "recall", "F1"]


def test_most_confident_mistakes_gallery(monkeypatch, known_case):
    store, _ = known_case
    at = page(monkeypatch, store.root, state={"eval_section": "Most confident mistakes"})
    labels = [m.value for m in at.markdown if m.value.startswith("true **")]
    assert labels == ["true **0** · said **7**", "true **1** · said **7**", "true **3** · said **5**"]
    captions = [c.value for c in at.caption]
    # the top 3 of each, most likely first (the third is one of eight equal 0.6% shares)
    assert [c.rsplit(" · ", 1)[0] for c in captions if c.endswith("1%")] == [
        "7 90% · 0 5%",
        "7 80% · 1 15%",
        "5 60% · 3 35%",
    ]
    assert [el.captions[0] for el in at.get("image")] == ["#0", "#11", "#23"]


def test_a_known_case_gives_hand_computed_numbers_and_cells(monkeypatch, known_case):
    store, _ = known_case
    at = page(monkeypatch, store.root)
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == "98.50%"  # 197 of 200
    z = plotly_values(figure(at, "Confusion matrix")["data"][0]["z"])
    assert z[0, 7] == 1 and z[1, 7] == 1 and z[3, 5] == 1 and z[0, 0] == 19 and z[2, 2] == 20 and z.sum() == 200
    # the pickers start on the first most frequent confusion: true 0 predicted as 7, image #0
    assert cell_heading(at) == "##### True 0, predicted as 7: 1 test images"
    assert [img.caption for img in at.get("image")[0].proto.imgs] == ["#0 · 90%"]
    at.selectbox(key="eval_true").set_value(1).run()
    assert [img.caption for img in at.get("image")[0].proto.imgs] == ["#11 · 80%"]

    at.session_state["eval_section"] = "Per-class metrics"
    at.run()
    rows = {r["class"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert rows["7"]["precision"] == pytest.approx(20 / 22) and rows["7"]["recall"] == 1.0
    assert rows["0"]["recall"] == pytest.approx(19 / 20) and rows["0"]["precision"] == 1.0
    assert rows["5"]["f1"] == pytest.approx(2 * (20 / 21) / (20 / 21 + 1))


def test_inside_the_model_filters_and_feature_maps(monkeypatch, trained_run, expected):
    from lib.inference import explain, prediction

    runs_dir, run_id = trained_run
    model = prediction.load_model(Store(runs_dir).model_path(run_id))
    layers = explain.feature_layers(model)
    conv = next(layer for layer in model.layers if "Conv" in type(layer).__name__)
    at = page(monkeypatch, runs_dir, state={"eval_section": "Inside the model"})
    filters = figure(at, "First-layer filters")
    assert filters["layout"]["title"]["text"] == f"First-layer filters: {conv.filters} kernels of 3 x 3"
    layer_box = at.selectbox(key=f"eval_layer_{run_id}")
    assert [o.split(" (")[0] for o in layer_box.options] == [layer.name for layer in layers]
    maps = figure(at, layers[0].name)["layout"]["title"]["text"]
    height, width, channels = layers[0].output.shape[1:]
    assert maps == f"{layers[0].name}: all {channels} channels, {height} x {width}"
    # the default image is the worst mistake (else the first test image); another number shows its maps
    first = expected.mistakes[0]["index"] if expected.mistakes else 0
    assert any(c.startswith(f"#{first}: true {expected.y_true[first]}") for el in at.get("image") for c in el.captions)
    before = figure(at, layers[0].name)["data"][0]["z"]
    other = 5 if first != 5 else 6
    at.number_input(key=f"eval_image_{run_id}").set_value(other).run()
    assert not at.exception, at.exception
    assert any(c.startswith(f"#{other}: true {other % 10}") for el in at.get("image") for c in el.captions)
    assert figure(at, layers[0].name)["data"][0]["z"] != before


def test_inside_offers_the_last_drawing(monkeypatch, trained_run):
    drawing = {"dataset": "mnist", "input": np.zeros((28, 28, 1), np.float32)}
    drawing["input"][10:18, 12:16] = 1.0
    at = page(monkeypatch, trained_run[0], state={"eval_section": "Inside the model", "cs_last_drawing": drawing})
    radio = at.radio(key="eval_source")
    assert radio.options == ["A test image", "My last drawing (Predict page)"]
    radio.set_value("My last drawing (Predict page)").run()
    assert not at.exception, at.exception
    assert any(img.caption == "your last drawing" for el in at.get("image") for img in el.proto.imgs)


def test_a_model_without_conv_layers_says_so(monkeypatch, tmp_path, tiny_data_dir):
    from lib.config import TrainConfig
    from lib.train import fit

    store = Store(tmp_path / "runs")
    config = TrainConfig(dataset="mnist", architecture="mlp", epochs=1, batch_size=64, data_dir=tiny_data_dir)
    run_id = store.create_run(config)
    store.claim_next(["cpu"])
    fit.train_run(store, run_id)
    at = page(monkeypatch, store.root, state={"eval_section": "Inside the model"})
    assert "no convolutional layers" in at.info[0].value
    assert not at.get("plotly_chart")


# -- the sections for the Train and Runs pages ------------------------------------------------
def _live(runs_dir, run_id):
    from lib.runs.store import Store
    from ui import live

    live.render_live_confusion(Store(runs_dir), run_id)


def _actions(runs_dir, run_id):
    from lib.runs.store import Store
    from ui import run_actions

    store = Store(runs_dir)
    run_actions.render_run_actions(store, store.get(run_id))


def _compare(runs_dir, run_ids):
    from lib.runs.store import Store
    from ui import compare

    compare.render_compare(Store(runs_dir), run_ids)


def section(monkeypatch, func, *args) -> AppTest:
    monkeypatch.syspath_prepend(str(ROOT))
    at = AppTest.from_function(func, args=tuple(str(a) if isinstance(a, Path) else a for a in args))
    at.run(timeout=60)
    assert not at.exception, at.exception
    return at


def test_live_confusion_shows_the_last_epoch(monkeypatch, trained_run):
    runs_dir, run_id = trained_run
    last = Store(runs_dir).epochs(run_id)[-1]
    at = section(monkeypatch, _live, runs_dir, run_id)
    heat = figure(at, f"Validation confusion after epoch {last['epoch']}")
    assert np.allclose(plotly_values(heat["data"][0]["z"]), eval_metrics.row_normalised(np.array(last["confusion"])))
    bars = figure(at, "Per-class accuracy")
    assert np.allclose(plotly_values(bars["data"][0]["y"]), last["per_class_accuracy"])
    at.toggle(key="live_confusion_normalised").set_value(False).run()
    assert np.array_equal(plotly_values(figure(at, "Validation confusion")["data"][0]["z"]), last["confusion"])


def test_live_confusion_before_the_first_epoch(monkeypatch, tmp_path, trained_run):
    store = Store(tmp_path / "runs")
    run_id = store.create_run(Store(trained_run[0]).get(trained_run[1]).config)
    at = section(monkeypatch, _live, store.root, run_id)
    assert "after each epoch" in at.caption[0].value
    assert not at.get("plotly_chart")


def test_run_actions_offer_every_download(monkeypatch, trained_run):
    at = section(monkeypatch, _actions, *trained_run)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [".keras model", "SavedModel (zip)", "TFLite", "Config + metrics (JSON)", "Epoch metrics (CSV)"]
    assert not any(b.proto.disabled for b in at.get("download_button"))


def test_continue_queues_the_same_run_for_more_epochs(monkeypatch, trained_run, tmp_path):
    store, run_id = copy_of(trained_run, tmp_path)
    done = store.get(run_id).epochs_completed
    at = section(monkeypatch, _actions, store.root, run_id)
    at.number_input(key=f"continue_epochs_{run_id}").set_value(2)
    at.button(key=f"continue_{run_id}").click().run()
    assert "queued for 2 more epoch(s)" in at.success[0].value
    run = store.get(run_id)
    assert run.status == "queued" and run.config.epochs == done + 2
    # a queued run cannot be continued again: the button is off, and the store refuses it too
    assert at.button(key=f"continue_{run_id}").disabled


def test_finetune_makes_a_linked_run_with_the_new_rate(monkeypatch, trained_run, tmp_path):
    store, run_id = copy_of(trained_run, tmp_path)
    at = section(monkeypatch, _actions, store.root, run_id)
    at.number_input(key=f"finetune_lr_{run_id}").set_value(2e-4)
    at.number_input(key=f"finetune_epochs_{run_id}").set_value(1)
    at.button(key=f"finetune_{run_id}").click().run()
    assert "Fine-tuning queued as run" in at.success[0].value
    child = next(r for r in store.list_runs() if r.id != run_id)
    assert child.parent_id == run_id and child.status == "queued"
    assert child.config.learning_rate == pytest.approx(2e-4) and child.config.epochs == 1


def test_compare_overlays_curves_and_lists_only_the_differences(monkeypatch, trained_run, tmp_path):
    store, first = copy_of(trained_run, tmp_path)
    second = add_finished_run(store, first, learning_rate=0.01, dropout=0.5)
    at = section(monkeypatch, _compare, store.root, [first, second])
    overlay = figure(at, "Val accuracy")
    assert len(overlay["data"]) == 2
    table = at.dataframe[0].value
    assert sorted(table["setting"]) == ["dropout", "learning_rate"]
    at = section(monkeypatch, _compare, store.root, [first])
    assert "two or more" in at.caption[0].value


def test_savedmodel_zip_holds_a_saved_model(trained_run):
    from ui import run_actions

    runs_dir, run_id = trained_run
    with zipfile.ZipFile(BytesIO(run_actions.savedmodel_zip(Store(runs_dir), run_id))) as archive:
        names = archive.namelist()
    assert "saved_model/saved_model.pb" in names
    assert any(n.startswith("saved_model/variables/") for n in names)
