"""lib.charts: the figures the dashboard draws, and the buffer that keeps live charts small."""

import math

import numpy as np
import pytest

from lib import models
from lib.charts import curves


def batch(step, loss):
    return {"step": step, "epoch": 1, "batch": step, "loss": loss, "accuracy": 0.5, "time": 0.0}


def test_smooth_starts_at_the_first_value_and_follows_a_step():
    values = [1.0] * 5 + [0.0] * 50
    out = curves.smooth(values, 0.8)
    assert out[0] == pytest.approx(1.0)  # debiased: not pulled towards 0 at the start
    assert out[4] == pytest.approx(1.0)
    assert 0.0 < out[6] < 1.0
    assert out[-1] == pytest.approx(0.0, abs=1e-4)


def test_smooth_leaves_gaps_for_nan_and_refuses_bad_weight():
    assert curves.smooth([1.0, math.nan, 1.0])[1] is None
    with pytest.raises(ValueError):
        curves.smooth([1.0], 1.0)


def test_append_thinned_stays_bounded_over_a_long_run_and_keeps_the_newest_row():
    buffer = []
    for start in range(0, 100_000, 4):  # a long run polled four rows at a time
        buffer = curves.append_thinned(buffer, [batch(s, 1.0) for s in range(start, start + 4)], max_points=500)
        assert len(buffer) <= 500
    assert buffer[-1]["step"] == 99_999
    assert buffer[0]["step"] == 0
    steps = [r["step"] for r in buffer]
    assert steps == sorted(steps)


def test_batch_loss_figure_has_faint_raw_and_smoothed_lines():
    fig = curves.batch_loss_figure([batch(i, 2.0 / (i + 1)) for i in range(20)])
    raw, smoothed = fig.data
    assert raw.name == "raw" and raw.opacity < 0.5
    assert smoothed.name == "smoothed"
    assert list(raw.x) == list(range(20))
    assert smoothed.y[-1] > raw.y[-1]  # smoothing lags behind a falling loss


def test_epoch_figure_shows_validation_only_when_recorded():
    with_val = [{"epoch": 1, "loss": 1.0, "val_loss": 1.2}, {"epoch": 2, "loss": 0.5, "val_loss": 0.7}]
    assert [t.name for t in curves.epoch_figure(with_val, "loss").data] == ["train", "validation"]
    without = [{"epoch": 1, "accuracy": 0.8, "val_accuracy": None}]
    assert [t.name for t in curves.epoch_figure(without, "accuracy").data] == ["train"]
    with pytest.raises(ValueError):
        curves.epoch_figure(with_val, "images")


def test_throughput_adds_the_running_epoch_as_a_separate_bar():
    epochs = [{"epoch": 1, "images_per_second": 900.0}]
    assert len(curves.throughput_figure(epochs).data) == 1
    fig = curves.throughput_figure(epochs, live=850.0)
    assert list(fig.data[1].x) == [2] and list(fig.data[1].y) == [850.0]


def test_overlay_has_one_named_line_per_run():
    fig = curves.overlay_figure(
        {"a": [{"epoch": 1, "val_accuracy": 0.9}], "b": [{"epoch": 1, "val_accuracy": 0.8}]}, "val_accuracy"
    )
    assert [t.name for t in fig.data] == ["a", "b"]
    assert fig.data[1].y == (0.8,)


def test_class_distribution_groups_train_and_test_per_class():
    fig = curves.class_distribution_figure(["cat", "dog"], [10, 20], [1, 2])
    assert list(fig.data[0].x) == ["cat", "dog"] and list(fig.data[0].y) == [10, 20]
    assert fig.layout.barmode == "group"


def test_sample_strip_shows_only_images_of_the_class_and_pads_small_classes():
    images = np.zeros((30, 4, 4, 1), dtype=np.uint8)
    labels = np.arange(30) % 3
    images[labels == 1] = 200
    strip = curves.sample_strip(images, labels, label=1, count=8)
    assert strip.shape == (4, 32, 1)
    assert (strip == 200).all()  # 10 images of class 1: every slot filled from it
    rare = curves.sample_strip(images, np.r_[1, np.zeros(29, dtype=int)], label=1, count=8)
    assert (rare[:, :4] == images[0]).all() and (rare[:, 4:] == 0).all()


def test_training_memory_grows_with_batch_size_and_optimizer_state():
    small = models.training_memory_bytes(1000, 5000, 32, "adam")
    assert models.training_memory_bytes(1000, 5000, 64, "adam") - small == 4 * 2 * 5000 * 32
    assert models.training_memory_bytes(1000, 5000, 32, "sgd") == small - 4 * 1000


def test_compared_runs_get_distinct_qualitative_colours():
    """Issue 14: two runs in a comparison were two blues, hard to tell apart."""
    rows = [{"epoch": 1, "val_accuracy": 0.5}]
    fig = curves.overlay_figure({f"run {i}": rows for i in range(4)})
    colours = [trace.line.color for trace in fig.data]
    assert None not in colours and len(set(colours)) == 4
