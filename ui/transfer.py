"""Train page: open the top layers of a finished pretrained run's backbone, as a fine-tune (issue 16).

A pretrained architecture trains with its ImageNet backbone frozen, only a new
head learning (lib.teach.pretrained). Once the head has learnt, the Keras
transfer-learning recipe opens the backbone's top layers at a much lower rate:
a random head's large gradients would have wrecked the ImageNet features had
they been open from the start. `train --finetune RUN --unfreeze-top N --lr F`
does it from the CLI; this panel does it from the page, under the same rule
(lib.teach.finetune.check_unfreeze).
"""

from __future__ import annotations

import streamlit as st

from lib.config import LIMITS, ConfigError
from lib.runs.store import UnknownRun
from lib.teach import corrections, finetune, pretrained
from ui import auth, state

MAX_LAYERS = 1_000  # more than either backbone has; past its count every weighted layer opens


def note(settings: dict) -> None:
    """Beside the summary of the settings: what a pretrained choice trains, and what comes after."""
    backbone = pretrained.BACKBONES.get(settings.get("architecture"))
    if backbone is None:
        return
    st.caption(
        f"{backbone.title}: the backbone trains frozen and only a new head learns. When the run has finished, "
        "**Fine-tune the backbone's top layers** below it opens the top of the backbone at a lower rate."
    )


def panel(store, run_id: str) -> None:
    """Under a finished run of a pretrained architecture: N layers, rate, epochs, and the button."""
    try:
        run = store.get(run_id)
    except UnknownRun:
        return
    if run.config.architecture not in pretrained.BACKBONES or run.status != "completed":
        return
    low, high = LIMITS["learning_rate"]
    with st.container(border=True):
        st.markdown("**Fine-tune the backbone's top layers**")
        st.caption(
            "A new run from this one's weights in which the backbone's top layers learn too (BatchNorm stays "
            "frozen), at a tenth of the rate: what the Keras transfer-learning guide does after the head has learnt."
        )
        count_col, lr_col, epochs_col, go_col = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
        count = count_col.number_input(
            "Layers to unfreeze (from the top)", min_value=1, max_value=MAX_LAYERS, step=1,
            value=finetune.UNFREEZE_DEFAULT, key=f"unfreeze_n_{run.id}",
        )  # fmt: skip
        rate = lr_col.number_input(
            "Learning rate", min_value=low, max_value=high, format="%.2e", key=f"unfreeze_lr_{run.id}",
            value=min(high, max(low, run.config.learning_rate * finetune.UNFREEZE_LR_FACTOR)),
        )  # fmt: skip
        epochs = epochs_col.number_input(
            "Epochs", min_value=1, max_value=int(LIMITS["epochs"][1]), step=1, key=f"unfreeze_epochs_{run.id}",
            value=min(run.config.epochs, 10),
        )  # fmt: skip
        if go_col.button("Fine-tune the top layers", key=f"unfreeze_go_{run.id}", icon=":material/lock_open:"):
            queue(store, run.id, count, rate, epochs)


def queue(store, run_id: str, count, rate, epochs) -> None:
    try:
        new_id = finetune.queue_unfreeze(
            store, run_id, count, owner=auth.user(), policy=auth.policy(),
            learning_rate=float(rate), epochs=int(epochs), lr_schedule="constant",
        )  # fmt: skip
    except corrections.CorrectionRefused as exc:
        st.error(f"Cannot fine-tune: {exc}", icon=":material/error:")
        return
    except ConfigError as exc:  # the server's limits (epochs, queue) and the config's own checks
        st.error(f"Cannot fine-tune: {exc.field.replace('_', ' ')} {exc.message}", icon=":material/error:")
        return
    state.remember_run(new_id)
    st.rerun()  # the page draws the new run live, as after Start training
