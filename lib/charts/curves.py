"""Plotly figure builders: plain data in, go.Figure out.

No TensorFlow and no Streamlit here, so every chart can be unit-tested and the
pages that draw them never pay for a TensorFlow import. Rows are the dicts the
run store returns (Store.batches, Store.epochs).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go

TRAIN_COLOUR = "#1f6feb"
VAL_COLOUR = "#e8590c"
HEIGHT = 300
# Plotly's toolbar (about 30 px) appears at the top right on hover; a legend placed above the plot
# sits in the top margin too, so the margin leaves room for both, one above the other.
TOP_LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0)
TOP_MARGIN_WITH_LEGEND = 64


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        height=HEIGHT,
        margin=dict(l=10, r=10, t=TOP_MARGIN_WITH_LEGEND, b=10),
        legend=TOP_LEGEND,
        xaxis_title=x_title,
        yaxis_title=y_title,
        uirevision="keep",  # keeps zoom and hidden traces while the chart refreshes every second
    )
    return fig


def _finite(values) -> list[float | None]:
    """None for missing or non-finite values, so a NaN loss leaves a gap instead of breaking the axis."""
    return [float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None for v in values]


# -- smoothing and thinning ------------------------------------------------------
def smooth(values, weight: float = 0.8) -> list[float | None]:
    """Exponential moving average with TensorBoard's debiasing, so the first points are not pulled to 0."""
    if not 0.0 <= weight < 1.0:
        raise ValueError("smoothing weight must be in [0, 1)")
    out, average, seen = [], 0.0, 0
    for value in _finite(values):
        if value is None:
            out.append(None)
            continue
        seen += 1
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**seen))
    return out


def append_thinned(buffer: list[dict], new_rows: list[dict], max_points: int = 2000) -> list[dict]:
    """Append new rows, then halve the buffer's resolution whenever it passes max_points.

    A live chart keeps a buffer per browser session; halving keeps it bounded
    however long the run, while the newest rows stay at full resolution.
    """
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    buffer = buffer + new_rows
    while len(buffer) > max_points:
        buffer = buffer[:-1:2] + buffer[-1:]
    return buffer


# -- the live training charts ------------------------------------------------------
def batch_loss_figure(rows: list[dict], weight: float = 0.8) -> go.Figure:
    """Loss per logged batch: the raw values faint, their smoothed curve on top."""
    steps = [r["step"] for r in rows]
    raw = _finite(r["loss"] for r in rows)
    fig = go.Figure()
    fig.add_scatter(x=steps, y=raw, mode="lines", name="raw", line=dict(color=TRAIN_COLOUR, width=1), opacity=0.25)
    fig.add_scatter(x=steps, y=smooth(raw, weight), mode="lines", name="smoothed", line=dict(color=TRAIN_COLOUR))
    return _layout(fig, "Batch loss", "step", "loss")


def _epoch_axis(fig: go.Figure, planned: int | None) -> None:
    """Show the whole planned run from the start, so curves grow into a fixed frame."""
    if planned:
        fig.update_xaxes(range=[0.5, planned + 0.5], dtick=1 if planned <= 20 else None)


def epoch_figure(epochs: list[dict], metric: str = "loss", planned: int | None = None) -> go.Figure:
    """Train and validation curves of one metric ('loss' or 'accuracy') per epoch."""
    if metric not in ("loss", "accuracy"):
        raise ValueError("metric must be 'loss' or 'accuracy'")
    x = [e["epoch"] for e in epochs]
    fig = go.Figure()
    fig.add_scatter(x=x, y=_finite(e.get(metric) for e in epochs), name="train", line=dict(color=TRAIN_COLOUR))
    val = _finite(e.get(f"val_{metric}") for e in epochs)
    if any(v is not None for v in val):
        fig.add_scatter(x=x, y=val, name="validation", line=dict(color=VAL_COLOUR))
    fig.update_traces(mode="lines+markers")
    _epoch_axis(fig, planned or len(x))
    if metric == "accuracy":
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(fig, f"Epoch {metric}", "epoch", metric)


def learning_rate_figure(epochs: list[dict], planned: int | None = None) -> go.Figure:
    x = [e["epoch"] for e in epochs]
    fig = go.Figure(go.Scatter(x=x, y=_finite(e.get("learning_rate") for e in epochs), mode="lines+markers"))
    _epoch_axis(fig, planned or len(x))
    fig.update_yaxes(type="log", exponentformat="e")  # schedules span decades
    return _layout(fig, "Learning rate", "epoch", "learning rate")


def throughput_figure(epochs: list[dict], live: float | None = None, planned: int | None = None) -> go.Figure:
    """Images per second per finished epoch, and the running epoch's current rate as one faint bar."""
    x = [e["epoch"] for e in epochs]
    y = _finite(e.get("images_per_second") for e in epochs)
    fig = go.Figure(go.Bar(x=x, y=y, name="finished epochs", marker_color=TRAIN_COLOUR))
    if live:
        fig.add_bar(x=[len(epochs) + 1], y=[live], name="this epoch", marker_color=TRAIN_COLOUR, opacity=0.4)
    _epoch_axis(fig, planned or len(x) + (1 if live else 0))
    return _layout(fig, "Images per second", "epoch", "images / s")


# -- comparing runs --------------------------------------------------------------
def overlay_figure(curves: dict[str, list[dict]], metric: str = "val_accuracy", title: str | None = None) -> go.Figure:
    """One line per run (label -> its epoch rows) for one epoch metric."""
    fig = go.Figure()
    palette = plotly.colors.qualitative.D3  # runs are categories: hues told apart at a glance, not two blues
    for i, (label, epochs) in enumerate(curves.items()):
        y = _finite(e.get(metric) for e in epochs)
        colour = palette[i % len(palette)]
        fig.add_scatter(x=[e["epoch"] for e in epochs], y=y, name=label, mode="lines+markers", line_color=colour)
    _epoch_axis(fig, max((len(e) for e in curves.values()), default=0))
    if metric.endswith("accuracy"):
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    title = title or metric.replace("_", " ").capitalize()
    return _layout(fig, title, "epoch", title.split()[-1])


# -- data ------------------------------------------------------------------------
def class_distribution_figure(class_names, train_counts, test_counts) -> go.Figure:
    names = [str(c) for c in class_names]
    fig = go.Figure()
    fig.add_bar(x=names, y=list(train_counts), name="train", marker_color=TRAIN_COLOUR)
    fig.add_bar(x=names, y=list(test_counts), name="test", marker_color=VAL_COLOUR)
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    return _layout(fig, "Images per class", "class", "images")


def sample_strip(images: np.ndarray, labels: np.ndarray, label: int, count: int = 8, seed: int = 0) -> np.ndarray:
    """`count` images of one class side by side (uint8, H x count*W x C), padded when the class is small."""
    rng = np.random.default_rng(seed)
    index = np.flatnonzero(labels == label)
    chosen = rng.choice(index, size=min(count, len(index)), replace=False) if len(index) else []
    h, w, c = images.shape[1:]
    strip = np.zeros((h, count * w, c), dtype=np.uint8)
    for slot, i in enumerate(chosen):
        strip[:, slot * w : (slot + 1) * w] = images[i]
    return strip
