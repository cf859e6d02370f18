"""The projector's figure: one WebGL scatter trace per class, the model's mistakes ringed.

Data in, go.Figure out (no TensorFlow). WebGL (Scattergl) keeps 5,000 points
smooth in the browser. Every point carries its image's position in `customdata`,
so a click or a lasso selection (Streamlit's on_select) says which images were
picked. The drag mode is pan, not lasso: Streamlit turns click-to-select off
while the lasso or box is the drag mode (a click then selects nothing), and a
click on one point is the commonest question ("what is this one?"); the lasso
and box are one click away in the chart's toolbar.

Plotly's hover box holds text only (no <img>), so images come two other ways:
the page shows the clicked or lassoed points' images beside the chart
(`selected_indices` reads the selection), and `add_thumbnails` draws a few
hundred images on the map itself as layout images in data coordinates (as
TensorBoard's projector draws its sprites), the mistakes first; they grow as
the map is zoomed.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)  # fmt: skip
MAX_LEGEND_CLASSES = 20  # past this, classes share colours and the legend is hidden
THUMBNAILS = 300  # images drawn on the map: more makes a heavy page and a map of overlapping pictures
THUMBNAIL_SHARE = 0.035  # a picture's side, as a share of the map's larger extent
THUMBNAIL_MAX_PX = 48  # 300 photos of 128 px would be megabytes of figure; a thumbnail needs few pixels


def projection_figure(xy, indices, labels, predicted, confidence, class_names, height: int = 560) -> go.Figure:
    xy = np.asarray(xy, np.float32).reshape(-1, 2)
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    names = [str(n) for n in class_names]
    fig = go.Figure()
    for c, name in enumerate(names):
        rows = np.flatnonzero(labels == c)
        if not len(rows):
            continue
        fig.add_trace(_points(xy, rows, indices, labels, predicted, confidence, names, name, PALETTE[c % len(PALETTE)]))
    wrong = np.flatnonzero(labels != predicted)
    if len(wrong):
        ring = _points(xy, wrong, indices, labels, predicted, confidence, names, f"mistakes ({len(wrong)})", "#000")
        ring.marker = dict(symbol="circle-open", size=11, color="#111", line=dict(width=1.5))
        fig.add_trace(ring)
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="pan",
        showlegend=len(names) <= MAX_LEGEND_CLASSES, legend=dict(itemsizing="constant"),
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
    )  # fmt: skip
    return fig


def _points(xy, rows, indices, labels, predicted, confidence, names, trace_name, colour) -> go.Scattergl:
    text = [
        f"#{int(indices[r])} given: {names[labels[r]]}<br>model: {names[predicted[r]]} ({float(confidence[r]):.0%})"
        for r in rows
    ]
    return go.Scattergl(
        x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=trace_name,
        marker=dict(size=6, color=colour, opacity=0.8), customdata=np.asarray(indices)[rows], text=text,
        hovertemplate="%{text}<extra></extra>",
    )  # fmt: skip


# -- images ------------------------------------------------------------------------------
def selected_indices(event) -> list[int]:
    """The image positions (customdata) of the points a click, box or lasso selected; [] when none."""
    try:
        points = event["selection"]["points"]
    except (TypeError, KeyError, IndexError):
        return []
    chosen = set()
    for point in points or []:
        value = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(value, list | tuple):  # a point whose customdata is a row
            value = value[0] if value else None
        try:
            chosen.add(int(value))
        except (TypeError, ValueError):
            continue
    return sorted(chosen)


def thumbnail_rows(labels, predicted, limit: int = THUMBNAILS, seed: int = 0) -> np.ndarray:
    """Which points get a picture: the model's mistakes first (what the map is for), then a random sample."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    rng = np.random.default_rng(seed)
    wrong = rng.permutation(np.flatnonzero(labels != predicted))
    right = rng.permutation(np.flatnonzero(labels == predicted))
    return np.concatenate([wrong, right])[: max(0, int(limit))].astype(np.int64)


def png_data_uri(image, max_side: int | None = None) -> str:
    """A uint8 HxW or HxWxC image (C = 1 or 3) as a data: URI Plotly can draw, shrunk to `max_side` px."""
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0.0, 1.0) * 255).round().astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    picture = Image.fromarray(pixels)
    if max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def add_thumbnails(fig: go.Figure, xy, rows, images) -> go.Figure:
    """Draw `images` (one per row of `rows`) on the map, each centred on its point."""
    xy = np.asarray(xy, np.float32).reshape(-1, 2)
    if not len(rows):
        return fig
    extent = float(max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1]))) if len(xy) > 1 else 0.0
    side = (extent or 1.0) * THUMBNAIL_SHARE
    fig.update_layout(
        images=[
            dict(
                source=png_data_uri(image, THUMBNAIL_MAX_PX), xref="x", yref="y", x=float(xy[r, 0]), y=float(xy[r, 1]),
                sizex=side, sizey=side, xanchor="center", yanchor="middle", sizing="contain", layer="above",
                opacity=0.95,
            )
            for r, image in zip(rows, images, strict=True)
        ]
    )  # fmt: skip
    return fig
