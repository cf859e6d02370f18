"""Train: the training knobs, Start (into the shared queue), and the live view of the run."""

import streamlit as st

from lib import models, presets
from lib.config import OPTIMIZERS, ConfigError
from lib.data import datasets
from lib.runs import submit
from ui import auth, cached, dataset_fixes, frame, live, lr_finder_view, state, transfer, widgets
from ui.resources import get_store

frame.ensure()  # a deep link right after a server restart must still get app.py's frame
st.title("Train")
store = get_store()
widgets.begin()
settings = state.values()
has_gpu = cached.device()["has_gpu"]


def _summary_line() -> None:
    data = datasets.info(settings["dataset"]).title if settings["dataset"] in datasets.names() else "?"
    arch = models.REGISTRY.get(settings["architecture"])
    bn = "BatchNorm" if settings["batchnorm"] else "no BatchNorm"
    limit = f"{settings['train_limit']:,} training images" if settings["train_limit"] else "all training images"
    st.markdown(
        f"**{arch.title if arch else '?'}** on **{data}** · dropout {settings['dropout']:g}, {bn}, "
        f"width {settings['width']:g} · {limit}"
    )
    links = st.columns([1, 1, 4])
    links[0].page_link("pages/data.py", label="Change data", icon=":material/dataset:")
    links[1].page_link("pages/model.py", label="Change model", icon=":material/account_tree:")
    _recipe()


def _use_recipe(recipe) -> None:
    current = state.config()
    state.replace_config(recipe.config(data_dir=current.data_dir, train_limit=current.train_limit))


def _recipe() -> None:
    """The dataset's recommended recipe, one click away, with what it was measured to reach."""
    recipe = presets.get(settings["dataset"])
    if recipe is None:
        return
    left, right = st.columns([1, 3], vertical_alignment="center")
    left.button(
        "Use the recommended recipe", icon=":material/auto_awesome:", on_click=_use_recipe, args=(recipe,), key="preset"
    )
    right.caption(recipe.summary)


def _settings() -> None:
    optimise, regularise, check = st.columns(3)
    with optimise:
        st.markdown("**Optimisation**")
        widgets.number("epochs", "Epochs", step=1)
        widgets.number("batch_size", "Batch size", step=16)
        widgets.number("learning_rate", "Learning rate", step=1e-4, fmt="%.2e")
        widgets.select("optimizer", "Optimizer", list(OPTIMIZERS), help="SGD uses Nesterov momentum 0.9.")
    with regularise:
        st.markdown("**Augmentation**")
        widgets.slider("augment_shift", "Shift (share of the image)", step=0.005)
        widgets.slider("augment_rotation", "Rotation (degrees)", step=0.5)
        widgets.slider("augment_zoom", "Zoom", step=0.005)
        widgets.toggle("augment_flip", "Horizontal flip", help="Wrong for digits: a flipped 2 is not a 2.")
    with check:
        st.markdown("**Validation and reproducibility**")
        widgets.number(
            "train_limit", "Training images to use (0 = all)", step=1000, help="The same limit as on the Data page."
        )
        widgets.slider("validation_split", "Validation split", step=0.01)
        widgets.number("early_stopping_patience", "Early stopping patience (0 = off)", step=1)
        widgets.number("seed", "Seed", step=1)
        if has_gpu:
            widgets.toggle("mixed_precision", "Mixed precision (float16)")
        elif settings.get("mixed_precision"):
            state.update(mixed_precision=False)  # e.g. a GPU run trained again here
            st.caption("Mixed precision is off: this server has no GPU.")


def _cross_checks() -> dict[str, str]:
    """What TrainConfig cannot know alone: this server's data and GPU, and settings that clash."""
    found = {}
    if settings["dataset"] in datasets.names() and not datasets.is_available(settings["dataset"], settings["data_dir"]):
        found["dataset"] = "is not on this server; see the Data page for where to put its files"
    limit, split = settings["train_limit"], settings["validation_split"]
    if isinstance(limit, int) and limit and isinstance(settings["batch_size"], int):
        train_images = int(limit * (1 - split)) if isinstance(split, float) else limit
        if settings["batch_size"] > train_images:
            found["batch_size"] = f"is larger than the {train_images:,} training images left after validation"
    if settings["early_stopping_patience"] and not split:
        found["early_stopping_patience"] = "needs a validation split above 0 to watch"
    most = auth.policy().max_epochs
    if most and isinstance(settings["epochs"], int) and settings["epochs"] > most:
        found["epochs"] = f"this server allows at most {most} epochs per run"
    return found


def _start() -> None:
    """Queue the settings as drawn in this run: values typed just before the click count."""
    owner = auth.user()
    try:
        config = state.config()
        run_id = submit.submit(store, config, owner, auth.policy())  # within the administrator's limits
    except ConfigError as exc:  # validation is repeated by the store; show it, never a traceback
        st.error(f"{exc.field}: {exc.message}", icon=":material/error:")
        return
    state.remember_run(run_id)
    st.rerun()  # draw the page again around the new run (settings folded, live view)


run_id = state.current_run_id(store)
# while a run is shown, its charts and result matter more than the knobs: fold them away (and keep
# them folded when it finishes, so the result does not move below the fold)
with st.expander("Settings for the next run", expanded=not run_id, icon=":material/tune:"):
    _summary_line()
    transfer.note(settings)  # a pretrained backbone trains frozen; its top layers open later
    dataset_fixes.note(settings["dataset"])  # a built-in read with fixes made on Evaluate
    _settings()
    lr_finder_view.panel(store)  # Search these settings; Find a learning rate
    errors = state.errors(_cross_checks())
    for message in widgets.show_errors(errors):
        st.error(message, icon=":material/error:")
    start, why = st.columns([1, 3], vertical_alignment="center")
    if start.button("Start training", type="primary", icon=":material/play_arrow:", disabled=bool(errors), key="start"):
        _start()
    if errors:  # in plain text beside the disabled button, not only in red boxes further up
        why.markdown(
            "Start is off until these are fixed: "
            + "; ".join(f"**{field.replace('_', ' ')}** {message}" for field, message in errors.items())
        )

if run_id:
    state.show_run_in_url(run_id)  # also after a page change cleared the URL
    live.show(store, run_id)
    transfer.panel(store, run_id)  # a finished pretrained run: fine-tune its backbone's top layers
else:
    live.no_run_watched(store)  # the server's current runs, with links to watch them
state.keep_in_url()  # last: a reload finds the settings as the widgets just left them
