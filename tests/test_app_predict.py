"""The Predict page in AppTest: no runs, a drawing set through the canvas's session state, uploads."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from lib.inference import prediction, preprocess
from lib.runs.store import Store

ROOT = Path(__file__).resolve().parent.parent


def page(monkeypatch, runs_dir) -> AppTest:
    """The whole app (navigation and all) opened on the Predict page."""
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(runs_dir))
    monkeypatch.syspath_prepend(str(ROOT))  # the app imports lib and ui
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/predict.py")
    at.run()
    assert not at.exception, at.exception
    return at


def digit_png(ink=255, paper=0) -> bytes:
    image = Image.new("L", (280, 280), paper)
    ImageDraw.Draw(image).line([(100, 60), (180, 60), (120, 220)], fill=ink, width=18)
    buf = io.BytesIO()
    image.convert("RGBA").save(buf, format="PNG")
    return buf.getvalue()


def canvas_value(png: bytes) -> dict:
    """What the canvas component sends when a stroke ends: Fabric JSON and the rendered PNG as a data URL."""
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}}


def model_says(trained_run, png: bytes) -> prediction.Prediction:
    runs_dir, run_id = trained_run
    run, info, model = prediction.load_run_model(Store(runs_dir), run_id)
    x = preprocess.prepare_bytes(png, info.input_shape, run.config.dataset).model_input
    return prediction.predict(model, x, info.class_names)[0]


def predictions_on(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("#### Prediction")]


def test_no_runs_points_to_the_train_page(monkeypatch, tmp_path):
    at = page(monkeypatch, tmp_path / "empty-runs")
    assert "Train" in at.info[0].value and "No trained model yet" in at.info[0].value
    assert not at.tabs
    assert len(at.get("page_link")) == 1


def test_shows_the_chosen_run_and_asks_for_a_drawing(monkeypatch, trained_run):
    runs_dir, run_id = trained_run
    at = page(monkeypatch, runs_dir)
    assert at.selectbox(key="predict_run").value == run_id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Architecture"] == "Simple CNN"  # the display name (issue 14), not the id
    assert metrics["Dataset"] == "MNIST handwritten digits"
    assert metrics["Test accuracy"].endswith("%")
    assert [t.label for t in at.tabs] == ["Draw", "Upload", "Camera"]
    assert any("Draw a digit" in i.value for i in at.info)
    assert not predictions_on(at)


def test_a_drawing_gets_a_prediction_chart_and_pictures(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    png = digit_png()
    at.session_state["predict_canvas"] = canvas_value(png)
    at.run()
    assert not at.exception, at.exception
    want = model_says(trained_run, png)
    assert predictions_on(at) == [f"#### Prediction: **{want.label}** · {want.confidence:.1%} confident"]
    assert len(at.get("plotly_chart")) == 1
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Predicted in") for c in captions)
    images = at.get("image")
    assert len(images) == 3  # the drawing, the 28x28 model input, the Grad-CAM overlay
    kept = at.session_state["cs_last_drawing"]  # for Evaluate's "My last drawing" feature maps
    assert kept["dataset"] == "mnist" and kept["input"].shape == (28, 28, 1)


def test_an_empty_canvas_is_not_predicted(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    at.session_state["predict_canvas"] = canvas_value(digit_png(ink=0))  # black on black: nothing drawn
    at.run()
    assert not at.exception, at.exception
    assert any("Too little ink" in i.value for i in at.info)
    assert not predictions_on(at)
    assert not at.get("plotly_chart")


def test_clear_empties_the_canvas(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    at.session_state["predict_canvas"] = canvas_value(digit_png())
    at.run()
    assert predictions_on(at)
    at.button[0].click().run()
    assert not predictions_on(at)  # even before the browser reports the emptied canvas
    assert any("Draw a digit" in i.value for i in at.info)


def test_clear_keeps_the_same_canvas_and_the_next_drawing_is_predicted(monkeypatch, trained_run):
    """Issue 14: Clear mounted a new canvas (a new key) under a user already drawing the next stroke."""
    at = page(monkeypatch, trained_run[0])
    at.session_state["predict_canvas"] = canvas_value(digit_png())
    at.run()
    at.button[0].click().run()
    assert "predict_canvas" in at.session_state and at.session_state["cs_canvas_clears"] == 1
    drawn = canvas_value(digit_png())
    drawn["drawing"]["raw"]["objects"] = [{"type": "path", "path": "a new stroke"}]
    at.session_state["predict_canvas"] = drawn  # the same canvas reports the next drawing
    at.run()
    assert not at.exception, at.exception
    assert predictions_on(at)


def test_the_empty_canvas_and_the_trash_icon_say_the_same(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    at.session_state["predict_canvas"] = {"drawing": {"raw": {"objects": []}, "data": None}}
    at.run()
    assert any("Draw a digit" in i.value for i in at.info) and not predictions_on(at)


def test_a_single_dot_is_too_little_ink_to_judge(monkeypatch, trained_run):
    image = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(image).ellipse([130, 130, 148, 148], fill=255)  # one click of an 18 px brush
    buf = io.BytesIO()
    image.convert("RGBA").save(buf, format="PNG")
    at = page(monkeypatch, trained_run[0])
    at.session_state["predict_canvas"] = canvas_value(buf.getvalue())
    at.run()
    assert any("Too little ink" in i.value for i in at.info)
    assert not predictions_on(at)


def test_uploads_get_a_grid_of_results_and_bad_files_a_message(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    at.session_state["predict_source"] = "Upload"
    at.run()
    white_paper = digit_png(ink=0, paper=255)
    at.file_uploader(key="predict_uploads").set_value(
        [
            ("drawing.png", digit_png(), "image/png"),
            ("broken.png", b"\x89PNG\r\n\x1a\n garbage", "image/png"),
            ("paper.png", white_paper, "image/png"),
        ]
    ).run()
    assert not at.exception, at.exception
    names = [m.value for m in at.markdown if m.value.startswith("**")]
    assert sorted(names) == ["**broken.png**", "**drawing.png**", "**paper.png**"]
    assert len(predictions_on(at)) == 2
    want = model_says(trained_run, white_paper)
    assert f"#### Prediction: **{want.label}** · {want.confidence:.1%} confident" in predictions_on(at)
    assert [e.value for e in at.error] == [
        "Cannot use this file: the image is damaged or truncated and cannot be decoded"
    ]
    assert len(at.get("plotly_chart")) == 2


def test_latest_completed_is_the_default_and_stopped_runs_are_offered(monkeypatch, trained_run, tmp_path):
    runs_dir, completed_id = trained_run
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy)
    store = Store(copy)
    # a newer run, stopped part-way with a model kept; and a newer failed one with no model
    stopped_id = store.create_run(store.get(completed_id).config)
    store.claim_next(["cpu"])
    shutil.copy(store.model_path(completed_id), store.model_path(stopped_id))
    store.finish(stopped_id, "stopped", test_accuracy=0.5)
    failed_id = store.create_run(store.get(completed_id).config)
    store.claim_next(["cpu"])
    store.finish(failed_id, "failed", error="out of memory")

    at = page(monkeypatch, copy)
    box = at.selectbox(key="predict_run")
    assert box.value == completed_id
    assert [o.split(" · ")[0] for o in box.options] == [stopped_id, completed_id]  # newest first, no failed run
    assert box.options[0].endswith("(stopped)")
    box.set_value(stopped_id).run()
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == "50.00%"
