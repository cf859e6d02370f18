"""Plotly's toolbar shows at a chart's top right on hover; a legend placed above the plot must leave it room.

With a 40 px top margin the legends of the training curves sat exactly where the toolbar appears,
and hovering a chart covered its legend (issue 14, rough edges).
"""

from __future__ import annotations

import pytest

from lib.charts import curves, diagnostics, sweeps

TOOLBAR_PX, LEGEND_ROW_PX = 30, 22

EPOCHS = [
    {"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "accuracy": 1 - 0.5 / e, "val_accuracy": 1 - 0.6 / e,
     "learning_rate": 1e-3, "images_per_second": 900.0 + e, "seconds": 3.0}
    for e in range(1, 6)
]  # fmt: skip
BATCHES = [{"step": i, "epoch": 1, "batch": i + 1, "loss": 1 / (i + 1), "accuracy": 0.5} for i in range(40)]
PER_CLASS = [{"class": c, "precision": 0.9, "recall": 0.8, "f1": 0.85} for c in "abc"]

FIGURES = {
    "loss per epoch": lambda: curves.epoch_figure(EPOCHS, "loss", planned=10),
    "accuracy per epoch": lambda: curves.epoch_figure(EPOCHS, "accuracy", planned=10),
    "batch loss": lambda: curves.batch_loss_figure(BATCHES),
    "comparison": lambda: curves.overlay_figure({"run a": EPOCHS, "run b": EPOCHS}),
    "class counts": lambda: curves.class_distribution_figure(["a", "b"], [5, 6], [1, 2]),
    "per-class metrics": lambda: diagnostics.per_class_figure(PER_CLASS),
    "lr finder": lambda: sweeps.lr_finder(
        [1e-5, 1e-4, 1e-3, 1e-2], [2.3, 2.0, 1.0, 5.0], smoothed=[2.3, 2.1, 1.2, 4.0], suggested=1e-3
    ),
}


@pytest.mark.parametrize("name", FIGURES)
def test_a_legend_above_the_plot_leaves_the_toolbar_room(name):
    fig = FIGURES[name]()
    layout = fig.layout
    legend_on_top = layout.legend.y is not None and layout.legend.y >= 1.0 and layout.showlegend is not False
    if not legend_on_top or len(fig.data) < 2:
        pytest.skip(f"{name}: no legend above the plot")
    assert layout.margin.t >= TOOLBAR_PX + LEGEND_ROW_PX + 8, f"{name}: top margin {layout.margin.t} px"
