"""Plotly figures for evaluating a model: confusion matrix, per-class bars, filters and feature maps.

Plain data in (numpy arrays, lists of dicts), go.Figure out; no TensorFlow and
no Streamlit, like lib/charts.py. Also the small table helpers the Evaluate and
Runs pages show beside the figures (a cell picked on the confusion matrix, the
settings that differ between runs).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from lib.charts import curves
from lib.inference.metrics import row_normalised

HEIGHT = 320
PRECISION_COLOUR, RECALL_COLOUR, F1_COLOUR = "#1f6feb", "#e8590c", "#2f9e44"


def _compact(fig: go.Figure, title: str, height: int = HEIGHT, top: int = 40) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=top, b=10))
    return fig


# -- the confusion matrix ------------------------------------------------------------
def confusion_figure(counts, class_names, normalised: bool = False, title: str = "Confusion matrix") -> go.Figure:
    """Rows: true class, columns: predicted class; counts or each row's share (recall on the diagonal).

    Plotly heat maps report no clicked cell to Streamlit (streamlit#8760), so an
    invisible square marker sits on every cell: clicking a cell selects its
    marker at (predicted, true). See cell_from_selection.
    """
    counts = np.asarray(counts)
    n = len(class_names)
    if counts.shape != (n, n):
        raise ValueError(f"a confusion matrix for {n} classes must be {n} x {n}, got {counts.shape}")
    shares = row_normalised(counts)
    z = shares if normalised else counts
    names = [str(c) for c in class_names]
    text = [[f"{v:.0%}" if normalised else f"{v:,}" for v in row] for row in z.tolist()] if n <= 20 else None
    heat = go.Heatmap(
        z=z,
        x=list(range(n)),
        y=list(range(n)),
        text=text,
        texttemplate="%{text}" if text else None,
        colorscale="Blues",
        zmin=0,
        zmax=1 if normalised else max(1, int(counts.max(initial=0))),
        colorbar=dict(title="share" if normalised else "images", thickness=12),
        hoverinfo="skip",  # the markers below carry the hover text
    )
    true_idx, pred_idx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    cells = go.Scatter(
        x=pred_idx.ravel(),
        y=true_idx.ravel(),
        mode="markers",
        marker=dict(symbol="square", size=max(6, min(40, 360 // max(n, 1))), opacity=0, color="#000"),
        customdata=np.stack([true_idx.ravel(), pred_idx.ravel(), counts.ravel()], axis=1),
        hovertext=[
            f"true {names[t]} · predicted {names[p]}<br>{counts[t, p]:,} images ({shares[t, p]:.1%} of {names[t]})"
            for t, p in zip(true_idx.ravel(), pred_idx.ravel(), strict=True)
        ],
        hoverinfo="text",
        showlegend=False,
        name="cells",
    )
    fig = go.Figure([heat, cells])
    ticks = dict(tickmode="array", tickvals=list(range(n)), ticktext=names, showgrid=False, zeroline=False)
    fig.update_xaxes(title="predicted class", range=[-0.5, n - 0.5], **ticks)
    fig.update_yaxes(title="true class", range=[n - 0.5, -0.5], **ticks)  # class 0 at the top, as in a table
    fig.update_layout(clickmode="event+select", dragmode=False, uirevision="keep")
    return _compact(fig, title, height=max(HEIGHT, min(700, 60 + 36 * n)))


def cell_from_selection(selection) -> tuple[int, int] | None:
    """(true, predicted) of the cell clicked on confusion_figure, from st.plotly_chart's selection; else None.

    A point's x is the predicted class and y the true class (the axes count classes
    from 0). With several points (a box drag), the last one wins: one cell at a time.
    """
    points = (selection or {}).get("points") or []
    for point in reversed(points):
        x, y = point.get("x"), point.get("y")
        if isinstance(x, int | float) and isinstance(y, int | float):
            return int(round(y)), int(round(x))
    return None


def cell_indices(y_true, y_pred, true_class: int, predicted_class: int) -> np.ndarray:
    """Test-set positions of the images of `true_class` that the model called `predicted_class`."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return np.flatnonzero((y_true == true_class) & (y_pred == predicted_class))


# -- per-class metrics ---------------------------------------------------------------------
def per_class_figure(per_class: list[dict]) -> go.Figure:
    """Precision, recall and F1 side by side for every class (rows from metrics.per_class_metrics)."""
    names = [row["class"] for row in per_class]
    fig = go.Figure()
    for metric, colour in (("precision", PRECISION_COLOUR), ("recall", RECALL_COLOUR), ("f1", F1_COLOUR)):
        fig.add_bar(x=names, y=[row[metric] for row in per_class], name=metric.replace("f1", "F1"), marker_color=colour)
    fig.update_layout(barmode="group", legend=curves.TOP_LEGEND)
    fig.update_xaxes(type="category", title="class")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return _compact(fig, "Per-class precision, recall and F1", top=curves.TOP_MARGIN_WITH_LEGEND)


def per_class_accuracy_figure(class_names, accuracies, title: str = "Per-class accuracy") -> go.Figure:
    """One bar per class: the share of its validation images classified right."""
    values = [float(a) if a is not None and math.isfinite(a) else None for a in accuracies]
    fig = go.Figure(
        go.Bar(
            x=[str(c) for c in class_names],
            y=values,
            marker_color=PRECISION_COLOUR,
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title="class")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title="accuracy")
    fig.update_layout(uirevision="keep")
    return _compact(fig, title)


# -- pictures: test images, filters, feature maps ---------------------------------------------
def enlarge(image, scale: int) -> np.ndarray:
    """A uint8 image (H x W or H x W x C) blown up `scale` times, pixels kept sharp; grey gets no channel axis."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    scale = max(1, int(scale))
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def mosaic(tiles, columns: int, gap: int = 1) -> np.ndarray:
    """Tiles (N x h x w or N x h x w x C) in a grid `columns` wide, NaN in the gaps (drawn see-through)."""
    tiles = np.asarray(tiles, dtype=np.float32)
    if tiles.ndim not in (3, 4) or not len(tiles):
        raise ValueError("mosaic needs a non-empty stack of 2-D or 3-D tiles")
    n, h, w = tiles.shape[:3]
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, *tiles.shape[3:]), np.nan, np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tile
    return grid


def _picture(fig: go.Figure, grid: np.ndarray, colorscale: str, hover: str) -> go.Figure:
    if grid.ndim == 3:  # RGB in [0, 1]
        rgb = np.nan_to_num(grid, nan=1.0)
        fig.add_trace(go.Image(z=(np.clip(rgb, 0, 1) * 255).astype(np.uint8), hoverinfo="skip"))
    else:
        fig.add_trace(go.Heatmap(z=grid, colorscale=colorscale, showscale=False, hovertemplate=hover))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def filters_figure(filters: np.ndarray, columns: int = 8, title: str = "First-layer filters") -> go.Figure:
    """explain.first_layer_filters output (filters x kh x kw x in_channels, in [0, 1]) as small images.

    One input channel: grey tiles; three: colour tiles; otherwise the channels' mean.
    """
    filters = np.asarray(filters, dtype=np.float32)
    if filters.ndim != 4:
        raise ValueError("filters must be (filters, height, width, channels)")
    tiles = filters if filters.shape[-1] == 3 else filters.mean(axis=-1)
    grid = mosaic(tiles, columns)
    fig = _picture(go.Figure(), grid, "Greys_r", "weight %{z:.2f}<extra></extra>")
    rows = -(-len(filters) // max(1, min(columns, len(filters))))
    kh, kw = filters.shape[1:3]
    return _compact(fig, f"{title}: {len(filters)} kernels of {kh} x {kw}", height=min(700, 90 + 70 * rows))


def feature_maps_figure(maps: np.ndarray, layer: str, columns: int = 8, max_channels: int = 32) -> go.Figure:
    """One layer's activations (H x W x channels) for one image: up to `max_channels` channels, each scaled alone."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError("feature maps must be (height, width, channels)")
    channels = np.moveaxis(maps[..., :max_channels], -1, 0)
    low = channels.min(axis=(1, 2), keepdims=True)
    span = channels.max(axis=(1, 2), keepdims=True) - low
    scaled = (channels - low) / np.where(span > 0, span, 1)  # a dead (all-zero) channel stays black
    grid = mosaic(scaled, columns)
    fig = _picture(go.Figure(), grid, "Viridis", "activation %{z:.2f} of the channel's max<extra></extra>")
    rows = -(-len(scaled) // max(1, min(columns, len(scaled))))
    shown = f"{len(scaled)} of {maps.shape[-1]}" if maps.shape[-1] > len(scaled) else f"all {maps.shape[-1]}"
    title = f"{layer}: {shown} channels, {maps.shape[0]} x {maps.shape[1]}"
    return _compact(fig, title, height=min(900, 90 + 90 * rows))


# -- comparing runs -------------------------------------------------------------------------
def differing_settings(configs: dict[str, dict]) -> list[dict]:
    """One row per setting whose value is not the same in every run: {'setting', label: value, ...}."""
    if not configs:
        return []
    fields = sorted({k for c in configs.values() for k in c if k not in ("extra",)})
    rows = []
    for name in fields:
        values = [c.get(name) for c in configs.values()]
        if any(v != values[0] for v in values[1:]):
            rows.append({"setting": name, **{label: _cell(c.get(name)) for label, c in configs.items()}})
    return rows


def _cell(value) -> str:
    """Table cells as text: a column holding 0.001, True and 'adam' must not be coerced to one type."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
