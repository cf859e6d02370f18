"""The projector's figure: one WebGL scatter trace per class, the model's mistakes ringed.

Data in, go.Figure out (no TensorFlow). WebGL (Scattergl) keeps 5,000 points
smooth in the browser. Every point carries its image's position in `customdata`,
so a click or a lasso selection (Streamlit's on_select) says which images were
picked. Lasso is the default drag mode: selecting is what the view is for.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)  # fmt: skip
MAX_LEGEND_CLASSES = 20  # past this, classes share colours and the legend is hidden


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
        height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
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
