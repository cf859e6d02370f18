"""Evaluate's Teach-it sections: the projector and the label suspects, with relabel / exclude.

The heavy parts (features, t-SNE, cross-validated suspects) are cached per run
and model file time; a rerun from a click or a lasso reuses them. Relabelling
and excluding write a new version of a custom dataset (lib.teach.collect.fix),
or an overlay of fixes beside a built-in one (lib.data.overlay): a built-in
dataset's files are never changed.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from lib.charts import projection as charts
from lib.data import custom, datasets, overlay
from lib.data.info import DatasetUnavailable
from lib.teach import collect, review, suspects
from ui import auth, state
from ui import evaluation_cache as parts

SELECTED_SHOWN = 24
PREVIEW_SHOWN = 4  # beside the map, large enough to read
PREVIEW_PX = 140
SUSPECTS_SHOWN = 24
METHODS = {"t-SNE (10 s for 5,000 on an idle 2-core CPU)": "tsne", "PCA (instant)": "pca"}


@st.cache_data(max_entries=6, show_spinner="Computing the projection (features, then 2-D)...")
def projection(_store, run_id: str, version: int, split: str, method: str) -> dict:
    p, _ = review.project_run(_store, run_id, split, method)
    return {k: getattr(p, k) for k in ("indices", "xy", "labels", "predicted", "confidence", "seconds")}


@st.cache_data(max_entries=4, show_spinner="Ranking the training labels (features, then 5-fold regression)...")
def suspect_rows(_store, run_id: str, version: int, top: int) -> list[dict]:
    return [r.to_dict() for r in review.find_suspects(_store, run_id, top=top)]


def split_image(run, split: str, index: int) -> np.ndarray:
    return split_images(run, split, [index])[0]


def split_images(run, split: str, indices) -> list[np.ndarray]:
    """uint8 images at `indices` of the run's test or training split (the dataset read once)."""
    (xtr, _), (xte, _) = datasets.load_raw(run.config.dataset, run.config.data_dir)
    x = xte if split == "test" else xtr
    return [np.asarray(x[int(i)]) for i in indices]


# -- the projector ---------------------------------------------------------------------------
def projector_section(store, run, version: int) -> None:
    names = [str(n) for n in datasets.info(run.config.dataset).class_names]
    left, mid, right = st.columns([1, 2, 1])
    split = left.radio("Images", ["test", "train"], horizontal=True, key=f"proj_split_{run.id}")
    method = METHODS[mid.radio("Projection", list(METHODS), horizontal=True, key=f"proj_method_{run.id}")]
    pictures = right.toggle(
        "Images on the map", key=f"proj_thumbs_{run.id}",
        help=f"Draws up to {charts.THUMBNAILS} images at their points, the mistakes first; zoom in to enlarge them.",
    )  # fmt: skip
    data = projection(store, run.id, version, split, method)
    st.caption(
        f"{len(data['indices']):,} {split} images (a sample of up to 5,000), each placed by the model's "
        f"penultimate-layer features; computed in {data['seconds']:.1f} s. Ringed points are the model's "
        "mistakes. Click a point to see its image beside the map; the lasso in the chart's toolbar selects a group "
        "to see and fix."
    )
    fig = charts.projection_figure(
        data["xy"], data["indices"], data["labels"], data["predicted"], data["confidence"], names
    )
    if pictures:
        rows = charts.thumbnail_rows(data["labels"], data["predicted"], seed=run.config.seed)
        charts.add_thumbnails(fig, data["xy"], rows, split_images(run, split, data["indices"][rows]))
    chart, beside = st.columns([3, 1])
    with chart:
        event = st.plotly_chart(
            fig, on_select="rerun", selection_mode=("points", "lasso", "box"),
            key=f"proj_chart_{run.id}_{split}_{method}",
        )  # fmt: skip
    drawn = set(np.asarray(data["indices"]).tolist())
    chosen = [i for i in charts.selected_indices(event) if i in drawn]  # a stale selection's points are gone
    with beside:
        preview(run, split, chosen, data, names)
    if not chosen:
        return
    if len(chosen) > PREVIEW_SHOWN:
        shown = chosen[PREVIEW_SHOWN : PREVIEW_SHOWN + SELECTED_SHOWN]
        st.markdown(f"##### The other {len(chosen) - PREVIEW_SHOWN} selected" + (
            f" (the first {len(shown)})" if len(chosen) - PREVIEW_SHOWN > len(shown) else ""))  # fmt: skip
        parts.image_grid(split_images(run, split, shown), [point_caption(i, data, names) for i in shown])
    if split == "train":
        fix_controls(run, chosen, names, key=f"proj_{run.id}")
    else:
        st.caption("Relabelling works on training images: switch to **train** to fix labels the model learns from.")


def point_caption(index: int, data: dict, names: list[str]) -> str:
    """#position, the given label, the model's answer and confidence, for the image of one point."""
    row = int(np.flatnonzero(np.asarray(data["indices"]) == index)[0])
    given, said = names[int(data["labels"][row])], names[int(data["predicted"][row])]
    return f"#{index} given {given} · model {said} {float(data['confidence'][row]):.0%}"


def preview(run, split: str, chosen: list[int], data: dict, names: list[str]) -> None:
    """Beside the map, what a hover cannot show: the images of the clicked or lassoed points, large."""
    if not chosen:
        st.caption("Click a point, or lasso some (toolbar), to see their images here.")
        return
    shown = chosen[:PREVIEW_SHOWN]
    st.markdown(f"**{len(chosen)} selected**" + (f" (the first {len(shown)})" if len(chosen) > len(shown) else ""))
    parts.image_grid(split_images(run, split, shown), [point_caption(i, data, names) for i in shown], width=PREVIEW_PX)


# -- the label suspects ------------------------------------------------------------------------
def suspects_section(store, run, version: int) -> None:
    names = [str(n) for n in datasets.info(run.config.dataset).class_names]
    st.caption(
        "Training images whose label is probably wrong, most suspect first: confident learning (cleanlab) on "
        "probabilities from a 5-fold cross-validated regression over this model's features, so no image is "
        "judged by a model that saw its label."
    )
    if not st.toggle("Find the suspects (a few seconds to a minute)", key=f"sus_on_{run.id}"):
        return
    try:
        rows = suspect_rows(store, run.id, version, SUSPECTS_SHOWN)
    except suspects.SuspectsRefused as exc:
        st.error(str(exc))
        return
    flagged = sum(r["flagged"] for r in rows)
    st.markdown(f"##### The {len(rows)} most suspect labels ({flagged} flagged as likely wrong)")
    columns = st.columns(6)
    picked = []
    for slot, r in enumerate(rows):
        with columns[slot % 6].container(border=True):
            parts.image_grid([split_image(run, "train", r["index"])], [f"#{r['index']}"], width=96)
            st.markdown(f"label **{r['given']}** · model **{r['predicted']}** {r['confidence']:.0%}")
            if st.checkbox("select", key=f"sus_pick_{run.id}_{r['index']}"):
                picked.append(r["index"])
    if picked:
        fix_controls(run, picked, names, key=f"sus_{run.id}")


def fix_controls(run, indices: list[int], names: list[str], key: str) -> None:
    """Relabel or exclude training images, then one click to retrain.

    A custom dataset is saved as a new version; a built-in one keeps its files and gets an overlay of
    fixes (lib.data.overlay) that every later training on it here uses, so only an administrator may.
    """
    builtin = not custom.is_saved(run.config.dataset)
    if builtin and not auth.may_act_on(None):
        st.info(
            f"Fixes to {datasets.title(run.config.dataset)} (a built-in dataset) apply to everyone training on it "
            "on this server, so only an administrator can make them. Its own files are never changed."
        )
        return
    left, mid, right = st.columns([2, 1, 1])
    label = left.selectbox(
        f"Relabel the {len(indices)} selected as", range(len(names)), format_func=names.__getitem__, key=f"{key}_to"
    )
    if mid.button("Relabel", key=f"{key}_relabel", type="primary"):
        (apply_builtin_fix if builtin else apply_fix)(run, indices, label, names)
    if right.button("Exclude", key=f"{key}_exclude"):
        (apply_builtin_fix if builtin else apply_fix)(run, indices, None, names)
    if builtin:
        builtin_fixes_line(run, key)


def apply_fix(run, indices: list[int], label: int | None, names: list[str]) -> None:
    (x, _), _ = datasets.load_raw(run.config.dataset, run.config.data_dir)
    try:
        changes = [(str(x.paths[int(i)]), label) for i in indices]
        collect.fix(run.config.dataset, changes, allowed=auth.may_act_on)  # a new version replaces the dataset
    except (collect.CollectRefused, custom.Refused) as exc:
        st.error(str(exc))
        return
    projection.clear()  # the dataset's files changed: its maps and suspects are stale (other caches are not)
    suspect_rows.clear()
    what = f"relabelled as {names[label]}" if label is not None else "excluded"
    st.success(f"{len(indices)} image(s) {what}: {datasets.title(run.config.dataset)} is saved as a new version.")
    retrain_button(run)


def apply_builtin_fix(run, indices: list[int], label: int | None, names: list[str]) -> None:
    try:
        done = review.fix_builtin(run, indices, label, who=auth.user())
    except (overlay.OverlayRefused, DatasetUnavailable) as exc:
        st.error(str(exc))
        return
    projection.clear()  # the labels the maps and suspects show have changed
    suspect_rows.clear()
    what = f"relabelled as {names[label]}" if label is not None else "excluded"
    st.success(
        f"{done} image(s) {what}, kept as a fix beside {datasets.title(run.config.dataset)} (its files are "
        "unchanged); the next training on it uses the fix."
    )
    retrain_button(run)


def builtin_fixes_line(run, key: str) -> None:
    """How many fixes this built-in has here, and Undo for the last one."""
    try:
        found = review.builtin_fixes(run)
    except DatasetUnavailable as exc:
        st.error(str(exc))
        return
    if not found["batches"]:
        return
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.caption(
        f"{datasets.title(run.config.dataset)} on this server: {found['relabelled']} training image(s) relabelled, "
        f"{found['excluded']} excluded (an overlay; the dataset's files are unchanged)."
    )
    if right.button("Undo the last fix", key=f"{key}_undo", icon=":material/undo:"):
        try:
            review.undo_builtin(run)
        except DatasetUnavailable as exc:
            st.error(str(exc))
            return
        projection.clear()
        suspect_rows.clear()
        st.rerun()


def retrain_button(run) -> None:
    st.button(
        "Retrain on it", key=f"fix_retrain_{run.id}", on_click=state.choose, kwargs={"dataset": run.config.dataset}
    )
