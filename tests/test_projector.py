"""The projector (lib.teach.projector) and its figure (lib.charts.projection)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from lib.charts.projection import projection_figure
from lib.teach import projector


def test_sample_keeps_everything_under_the_limit_and_is_reproducible_over_it():
    assert list(projector.sample(5, limit=10)) == [0, 1, 2, 3, 4]
    chosen = projector.sample(20_000, limit=5_000, seed=3)
    assert len(chosen) == 5_000 and len(set(chosen)) == 5_000 and list(chosen) == sorted(chosen)
    assert (chosen == projector.sample(20_000, limit=5_000, seed=3)).all()


@pytest.mark.parametrize("method", projector.METHODS)
def test_reduce_keeps_clusters_apart(method):
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    points = rng.normal(size=(300, 64)) + 8 * np.eye(3, 64)[labels]
    xy = projector.reduce(points, method)
    assert xy.shape == (300, 2) and xy.dtype == np.float32
    centres = np.stack([xy[labels == c].mean(axis=0) for c in range(3)])
    spread = max(xy[labels == c].std() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 2 * spread


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_reduce_handles_a_handful_of_points(n):
    assert projector.reduce(np.ones((n, 8)), "tsne").shape == (n, 2)


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown projection"):
        projector.reduce(np.zeros((10, 3)), "umap")


def test_figure_has_one_webgl_trace_per_class_and_rings_the_mistakes():
    xy = np.arange(12, dtype=np.float32).reshape(6, 2)
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    fig = projection_figure(xy, np.arange(10, 16), labels, predicted, np.full(6, 0.9), ["a", "b", "c"])
    assert isinstance(fig, go.Figure)
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    assert [t.name for t in fig.data] == ["a", "b", "c", "mistakes (2)"]
    assert list(fig.data[3].customdata) == [11, 15]  # image positions, for click and lasso
    assert fig.layout.dragmode == "pan"  # in lasso mode Streamlit makes a click select nothing
    assert "model: b" in fig.data[3].text[0]


def test_project_a_small_model_end_to_end():
    import keras

    from lib import models

    rng = np.random.default_rng(0)
    x = rng.random((40, 28, 28, 1), dtype=np.float32)
    y = np.arange(40) % 4
    model = models.build("lenet5", (28, 28, 1), 4)
    p = projector.project(model, x, y, method="tsne", limit=30)
    assert len(p.indices) == 30 and p.xy.shape == (30, 2)
    assert (p.labels == y[p.indices]).all()
    assert p.predicted.shape == (30,) and ((p.confidence > 0) & (p.confidence <= 1)).all()
    assert p.mistakes.dtype == bool and p.seconds > 0
    keras.backend.clear_session()
