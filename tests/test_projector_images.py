"""The projector shows images, not only labels: the selection's images beside the map, thumbnails on it."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lib.charts import projection

ROOT = Path(__file__).resolve().parent.parent


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_the_selection_names_the_images_of_the_clicked_or_lassoed_points():
    event = {"selection": {"points": [{"customdata": 7}, {"customdata": [3]}, {"customdata": 7}, {"x": 1.0}]}}
    assert projection.selected_indices(event) == [3, 7]
    for nothing in (None, {}, {"selection": {}}, {"selection": {"points": []}}, "junk", {"selection": "junk"}):
        assert projection.selected_indices(nothing) == []
    hostile = {"selection": {"points": [{"customdata": "x"}, {"customdata": None}, "p", {"customdata": []}]}}
    assert projection.selected_indices(hostile) == []


def test_thumbnails_go_to_the_mistakes_first_and_stop_at_the_limit():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    predicted = np.array([0, 2, 2, 1, 1, 2, 0, 1])
    rows = projection.thumbnail_rows(labels, predicted, limit=4)
    assert len(rows) == 4 and sorted(rows[:2]) == [1, 3] and len(set(rows)) == 4
    assert len(projection.thumbnail_rows(labels, predicted, limit=100)) == 8


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_thumbnails_are_the_images_themselves_at_their_points(shape):
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(6, 2)).astype(np.float32) * 10
    images = rng.integers(0, 256, size=(3, *shape), dtype=np.uint8)
    fig = projection.projection_figure(xy, np.arange(6), np.zeros(6, int), np.zeros(6, int), np.ones(6), ["a"])
    projection.add_thumbnails(fig, xy, np.array([4, 0, 2]), images)
    drawn = fig.layout.images
    assert len(drawn) == 3
    assert [(i.x, i.y) for i in drawn] == [tuple(map(float, xy[r])) for r in (4, 0, 2)]
    assert all(i.xref == "x" and i.yref == "y" and i.sizex > 0 for i in drawn)
    assert (decode(drawn[1].source) == images[1].reshape(decode(drawn[1].source).shape)).all()
    spec = json.loads(fig.to_json())  # what st.plotly_chart sends: the pictures travel in the figure
    assert len(spec["layout"]["images"]) == 3


def test_a_float_image_is_drawn_too():
    image = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4, 1)
    assert decode(projection.png_data_uri(image)).tolist()[0] == [0, 17, 34, 51]


def test_evaluate_shows_the_selected_images_beside_the_map(monkeypatch, trained_run):
    runs_dir, run_id = trained_run
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    monkeypatch.syspath_prepend(str(ROOT))
    picked = []
    # AppTest cannot click a Plotly point (Streamlit refuses a selection written into session state),
    # so the page's reading of the selection answers what a click on images 3 and 7 would
    monkeypatch.setattr(projection, "selected_indices", lambda event: list(picked))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["eval_section"] = "Projector"
    at.session_state[f"proj_method_{run_id}"] = "PCA (instant)"
    at.switch_page("pages/evaluate.py")
    at.run()
    assert not at.exception, at.exception
    assert any("to see their images here" in c.value for c in at.caption)
    picked.extend([3, 7])
    at.run()
    assert not at.exception, at.exception
    captions = [c for el in at.get("image") for c in el.captions]
    assert [c.split(" ")[0] for c in captions] == ["#3", "#7"] and "%" in captions[0]
    assert any(m.value.startswith("**2 selected**") for m in at.markdown)

    at.toggle(key=f"proj_thumbs_{run_id}").set_value(True).run()
    assert not at.exception, at.exception
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "scattergl" in c.proto.spec)
    assert len(spec["layout"]["images"]) == min(projection.THUMBNAILS, 200)  # the tiny set has 200 test images


def test_large_images_are_shrunk_on_the_map():
    rng = np.random.default_rng(1)
    photos = rng.integers(0, 256, size=(2, 128, 128, 3), dtype=np.uint8)
    fig = projection.projection_figure(np.eye(2), [0, 1], [0, 1], [0, 1], [1.0, 1.0], ["a", "b"])
    projection.add_thumbnails(fig, np.eye(2), np.array([0, 1]), photos)
    side = projection.THUMBNAIL_MAX_PX
    assert all(decode(i.source).shape == (side, side, 3) for i in fig.layout.images)
    assert decode(projection.png_data_uri(photos[0])).shape == (128, 128, 3)  # beside the map: whole


def test_points_selected_on_a_built_ins_training_map_are_excluded_as_an_overlay(monkeypatch, trained_run, tmp_path):
    from lib.data import datasets, overlay
    from lib.runs.store import Store

    runs_dir, run_id = trained_run
    for name, value in (("RUNS_DIR", runs_dir), ("NO_SCHEDULER", "1"), ("DATA_DIR", tmp_path / "data")):
        monkeypatch.setenv(f"CONVSTUDIO_{name}", str(value))
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setattr(projection, "selected_indices", lambda event: [3, 7])  # a lasso around two images
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["eval_section"] = "Projector"
    at.session_state[f"proj_method_{run_id}"] = "PCA (instant)"
    at.session_state[f"proj_split_{run_id}"] = "train"
    at.switch_page("pages/evaluate.py")
    at.run()
    at.button(key=f"proj_{run_id}_exclude").click().run()
    assert not at.exception, at.exception
    assert any("2 image(s) excluded, kept as a fix beside MNIST handwritten digits" in s.value for s in at.success)
    (x, y), _ = datasets.load_raw("mnist", Store(runs_dir).get(run_id).config.data_dir)
    assert overlay.fixes("mnist", overlay.fingerprint(x, y)) == {3: None, 7: None}
