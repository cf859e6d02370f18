"""Evaluation figures and their helpers: what each chart shows for small, hand-made inputs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lib.charts import diagnostics

NAMES = ["cat", "dog", "bird"]
COUNTS = np.array([[5, 1, 0], [2, 6, 0], [0, 0, 0]])  # no bird in the test set


def test_confusion_counts_and_row_shares():
    fig = diagnostics.confusion_figure(COUNTS, NAMES)
    heat, cells = fig.data
    assert np.array_equal(heat.z, COUNTS)
    assert heat.zmax == 6 and list(heat.text[0]) == ["5", "1", "0"]
    assert list(fig.layout.xaxis.ticktext) == NAMES and fig.layout.xaxis.title.text == "predicted class"
    assert fig.layout.yaxis.range == (2.5, -0.5)  # the first class at the top

    shares = diagnostics.confusion_figure(COUNTS, NAMES, normalised=True).data[0]
    assert np.allclose(shares.z, [[5 / 6, 1 / 6, 0], [2 / 8, 6 / 8, 0], [0, 0, 0]])  # an empty row stays 0
    assert shares.zmax == 1 and list(shares.text[1]) == ["25%", "75%", "0%"]


def test_every_cell_has_a_clickable_marker_naming_it():
    cells = diagnostics.confusion_figure(COUNTS, NAMES).data[1]
    assert len(cells.x) == 9 and cells.marker.opacity == 0
    i = 1 * 3 + 0  # true dog, predicted cat
    assert (cells.x[i], cells.y[i]) == (0, 1)
    assert cells.hovertext[i] == "true dog · predicted cat<br>2 images (25.0% of dog)"


def test_a_click_names_the_cell_as_true_and_predicted():
    # what st.plotly_chart returns for a click on the marker at predicted 2, true 0 (Streamlit 1.67)
    click = {"points": [{"curve_number": 1, "point_index": 2, "x": 2, "y": 0, "customdata": {"0": 0, "1": 2}}]}
    assert diagnostics.cell_from_selection(click) == (0, 2)
    box = {"points": [{"x": 0, "y": 0}, {"x": 1, "y": 2}]}
    assert diagnostics.cell_from_selection(box) == (2, 1)  # the last point of a drag
    for nothing in (None, {}, {"points": []}, {"points": [{"x": "cat", "y": None}]}):
        assert diagnostics.cell_from_selection(nothing) is None


def test_cell_indices_pick_the_images_of_one_cell():
    y_true = np.array([0, 1, 1, 0, 2, 1])
    y_pred = np.array([0, 0, 1, 1, 2, 0])
    assert diagnostics.cell_indices(y_true, y_pred, 1, 0).tolist() == [1, 5]
    assert diagnostics.cell_indices(y_true, y_pred, 2, 0).tolist() == []


def test_a_matrix_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="3 x 3"):
        diagnostics.confusion_figure(np.zeros((2, 2)), NAMES)


def test_per_class_bars_and_accuracy():
    rows = [
        {"class": "cat", "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 2},
        {"class": "dog", "precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
    ]
    fig = diagnostics.per_class_figure(rows)
    assert [t.name for t in fig.data] == ["precision", "recall", "F1"]
    assert fig.data[0].y == (0.5, 1.0) and fig.data[1].y == (1.0, 0.5)
    acc = diagnostics.per_class_accuracy_figure(NAMES, [0.9, float("nan"), None])
    assert acc.data[0].y == (0.9, None, None)  # a class with no images is a gap, not a broken axis
    assert list(acc.data[0].x) == NAMES


def test_enlarge_keeps_pixels_sharp():
    image = np.array([[0, 255], [255, 0]], np.uint8)[..., None]
    big = diagnostics.enlarge(image, 3)
    assert big.shape == (6, 6)
    assert (big[:3, :3] == 0).all() and (big[:3, 3:] == 255).all()
    assert diagnostics.enlarge(np.zeros((4, 4, 3), np.uint8), 2).shape == (8, 8, 3)


def test_mosaic_lays_tiles_out_in_rows_with_gaps():
    tiles = np.stack([np.full((2, 2), v, np.float32) for v in (1, 2, 3)])
    grid = diagnostics.mosaic(tiles, columns=2)
    assert grid.shape == (5, 5)  # 2 rows and 2 columns of 2 px, 1 px gaps
    assert (grid[:2, :2] == 1).all() and (grid[:2, 3:] == 2).all() and (grid[3:, :2] == 3).all()
    assert np.isnan(grid[2]).all() and np.isnan(grid[3:, 3:]).all()  # gaps and the empty slot see-through
    with pytest.raises(ValueError):
        diagnostics.mosaic(np.zeros((0, 2, 2)), 2)


def test_filters_grey_and_colour():
    grey = np.random.default_rng(0).random((6, 3, 3, 1))
    fig = diagnostics.filters_figure(grey, columns=4)
    assert fig.layout.title.text == "First-layer filters: 6 kernels of 3 x 3"
    assert fig.data[0].type == "heatmap" and np.asarray(fig.data[0].z).shape == (7, 15)
    colour = diagnostics.filters_figure(np.random.default_rng(0).random((4, 5, 5, 3)))
    assert colour.data[0].type == "image" and np.asarray(colour.data[0].z).shape == (5, 23, 3)


def test_feature_maps_scale_each_channel_and_cap_the_count():
    maps = np.zeros((4, 4, 40), np.float32)
    maps[..., 0] = np.arange(16).reshape(4, 4)  # 0..15
    maps[..., 1] = 1000 * np.arange(16).reshape(4, 4)  # the same pattern, far larger
    fig = diagnostics.feature_maps_figure(maps, "conv2d", columns=8)
    assert fig.layout.title.text == "conv2d: 32 of 40 channels, 4 x 4"
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (4 * 5 - 1, 8 * 5 - 1)
    assert np.allclose(z[:4, :4], z[:4, 5:9]) and z[:4, :4].max() == 1.0  # each channel on its own 0..1 scale
    assert (z[:4, 10:14] == 0).all()  # a dead channel stays dark instead of dividing by zero
    assert diagnostics.feature_maps_figure(maps[..., :3], "x").layout.title.text == "x: all 3 channels, 4 x 4"


def test_differing_settings_lists_only_what_differs():
    a = {"learning_rate": 0.001, "batchnorm": False, "optimizer": "adam", "extra": {"note": 1}, "data_dir": None}
    b = {"learning_rate": 0.01, "batchnorm": True, "optimizer": "adam", "extra": {}, "data_dir": None}
    rows = diagnostics.differing_settings({"run a": a, "run b": b})
    assert rows == [
        {"setting": "batchnorm", "run a": "False", "run b": "True"},
        {"setting": "learning_rate", "run a": "0.001", "run b": "0.01"},
    ]
    assert diagnostics.differing_settings({"run a": a, "same": dict(a)}) == []
    assert diagnostics.differing_settings({}) == []


def test_no_tensorflow_or_streamlit_in_the_chart_module():
    import subprocess

    heavy = "('tensorflow', 'keras', 'streamlit')"
    code = f"import sys, lib.charts.diagnostics; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
