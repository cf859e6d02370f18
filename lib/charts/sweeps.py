"""Plotly figures for sweeps and the learning-rate finder: plain data in, go.Figure out.

A trial row is a dict with the sweep's varying settings under their field names,
plus "number", "state" and "value" (the best validation accuracy, or None).
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from lib.charts import curves
from lib.sweeps.space import SearchSpace

HEIGHT = 380
SCORE = "value"
SCORE_LABEL = "best val. accuracy"
COLOURS = "Viridis"
TRIAL_COLOURS = {"complete": "#1f6feb", "pruned": "#adb5bd", "running": "#e8590c", "fail": "#c92a2a"}


def _margins(fig: go.Figure, title: str, height: int = HEIGHT, top: int = 60) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=60, r=40, t=top, b=30), uirevision="keep")
    return fig


def _scored(rows: list[dict]) -> list[dict]:
    return [r for r in rows if isinstance(r.get(SCORE), int | float) and math.isfinite(r[SCORE])]


# -- settings against the result ---------------------------------------------------
def parallel_coordinates(space: SearchSpace, rows: list[dict]) -> go.Figure:
    """One line per scored trial through every varying setting to its score; colour = score.

    Log ranges are drawn on a log10 axis labelled in rates; lists of values get one tick per value.
    """
    scored = _scored(rows)
    dimensions = [_axis(dim, [r.get(dim.name) for r in scored]) for dim in space.dimensions]
    values = [r[SCORE] for r in scored]
    low, high = _score_range(values)
    dimensions.append(dict(label=SCORE_LABEL, values=values, range=[low, high]))
    fig = go.Figure(
        go.Parcoords(
            line=dict(
                color=values, cmin=low, cmax=high, colorscale=COLOURS, showscale=True, colorbar=dict(title="val. acc.")
            ),
            dimensions=dimensions,
            labelangle=0,
        )
    )
    title = "Settings against the result" if scored else "Settings against the result (no finished trial yet)"
    return _margins(fig, title, top=100)  # the axis labels sit above the plot, under the title


def _axis(dim, values: list) -> dict:
    if not dim.is_range:
        choices = list(dim.values)
        index = [choices.index(v) if v in choices else None for v in values]
        return dict(
            label=dim.name,
            values=index,
            tickvals=list(range(len(choices))),
            ticktext=[_label(v) for v in choices],
            range=[-0.25, len(choices) - 0.75] if len(choices) > 1 else [-1, 1],
        )
    if dim.log:
        low, high = math.log10(dim.low), math.log10(dim.high)
        ticks = list(range(math.ceil(low), math.floor(high) + 1)) or [low, high]
        return dict(
            label=f"{dim.name} (log)",
            values=[math.log10(v) for v in values],
            range=[low, high],
            tickvals=ticks,
            ticktext=[f"{10**t:.0e}" for t in ticks],
        )
    return dict(label=dim.name, values=values, range=[dim.low, dim.high])


def _score_range(values: list[float]) -> list[float]:
    if not values:
        return [0.0, 1.0]
    low, high = min(values), max(values)
    pad = max(0.005, (high - low) * 0.05)
    return [max(0.0, low - pad), min(1.0, high + pad)]


def _label(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- the search over time, and what mattered ----------------------------------------
def history(rows: list[dict]) -> go.Figure:
    """Each trial's score in trial order, coloured by state, and the best so far."""
    fig = go.Figure()
    scored = sorted(_scored(rows), key=lambda r: r["number"])
    for state, colour in TRIAL_COLOURS.items():
        mine = [r for r in scored if r.get("state") == state]
        if mine:
            fig.add_scatter(
                x=[r["number"] for r in mine],
                y=[r[SCORE] for r in mine],
                mode="markers",
                name=state,
                marker=dict(color=colour, size=9),
            )
    best, line = -math.inf, []
    for r in scored:
        if r.get("state") == "complete":
            best = max(best, r[SCORE])
        line.append(best if best > -math.inf else None)
    if scored:
        fig.add_scatter(
            x=[r["number"] for r in scored], y=line, mode="lines", name="best so far", line=dict(shape="hv")
        )
    fig.update_layout(xaxis_title="trial", yaxis_title=SCORE_LABEL)
    return _margins(fig, "Trials", height=300)


def importance(importances: dict[str, float]) -> go.Figure:
    """How much of the score's variation each setting explains (Optuna's fANOVA), largest on top."""
    ordered = sorted(importances.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in ordered],
            y=[k for k, _ in ordered],
            orientation="h",
            marker_color="#1f6feb",
            text=[f"{v:.0%}" for _, v in ordered],
        )
    )
    fig.update_layout(xaxis=dict(title="share of the variation in the score", tickformat=".0%", range=[0, 1]))
    return _margins(fig, "What mattered", height=max(200, 60 + 40 * len(ordered)))


# -- the learning-rate finder ----------------------------------------------------------
def lr_finder(rates, losses, smoothed=None, suggested: float | None = None, min_loss_rate: float | None = None):
    """Loss against the learning rate (log axis): raw losses, the smoothed curve, and the suggestion."""
    fig = go.Figure()
    finite = [(r, v) for r, v in zip(rates, losses, strict=False) if isinstance(v, int | float) and math.isfinite(v)]
    fig.add_scatter(
        x=[r for r, _ in finite], y=[v for _, v in finite], mode="lines", name="loss per batch",
        line=dict(color="#adb5bd", width=1),
    )  # fmt: skip
    if smoothed:
        fig.add_scatter(
            x=list(rates[: len(smoothed)]), y=list(smoothed), mode="lines", name="smoothed",
            line=dict(color="#1f6feb", width=3),
        )  # fmt: skip
    if min_loss_rate:
        fig.add_vline(x=min_loss_rate, line=dict(color="#adb5bd", dash="dot"))
    if suggested:
        fig.add_vline(
            x=suggested,
            line=dict(color="#e8590c", dash="dash"),
            annotation_text=f"suggested {suggested:.1e}",
            annotation_position="top left",
        )
    top = _y_ceiling([v for _, v in finite], smoothed)
    fig.update_layout(
        xaxis=dict(type="log", title="learning rate"),
        yaxis=dict(title="training loss", range=[0, top] if top else None),
        legend=curves.TOP_LEGEND,
    )
    return _margins(fig, "Loss against learning rate", height=340, top=curves.TOP_MARGIN_WITH_LEGEND)


def _y_ceiling(losses: list[float], smoothed) -> float | None:
    """Clip the blow-up: a loss of 1e6 would flatten the interesting part to a line at the bottom."""
    reference = list(smoothed or []) or losses
    if not reference:
        return None
    return 1.5 * max(reference[: max(1, len(reference) // 10)] + [min(reference)])
