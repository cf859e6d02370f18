"""A finished run's data through its own model: label suspects, the projector, corrections and their results.

The glue between the run store, the datasets and lib.teach's array functions,
shared by the pages and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lib.data import datasets, overlay
from lib.data.info import BUILTIN
from lib.inference import prediction, preprocess
from lib.teach import corrections, finetune, projector, suspects

MAX_SUSPECT_IMAGES = 10_000  # a built-in's 60,000 would take minutes; a sample ranks the same way


@dataclass(frozen=True)
class SuspectRow:
    """One suspect, ready for a table or JSON: where the image is, what it says, what the model says."""

    index: int  # position in the dataset's training split
    file: str | None  # a custom dataset's image file; None for a built-in
    given: str
    predicted: str
    confidence: float
    quality: float
    flagged: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def training_images(run, limit: int = MAX_SUSPECT_IMAGES):
    """(positions, x, y) of the run dataset's training split (a reproducible sample past `limit`).

    A built-in's fixes count (lib.data.overlay): labels as fixed, excluded images left out; the
    positions stay those of the dataset's own files, which is how fixes name images.
    """
    (x, y), _ = datasets.load_raw(run.config.dataset, run.config.data_dir)
    y, kept = fixed_labels(run.config.dataset, x, y)
    chosen = kept[projector.sample(len(kept), limit, seed=run.config.seed)]
    x = x[chosen]
    return chosen, (x if hasattr(x, "to_array") else datasets.normalise(np.asarray(x))), y[chosen]


def fixed_labels(name: str, x, y) -> tuple[np.ndarray, np.ndarray]:
    """(labels, positions kept): a built-in's overlay applied; a custom dataset's own labels, all kept."""
    if name not in BUILTIN:
        return np.asarray(y), np.arange(len(y))
    labels, keep = overlay.effective_labels(name, x, y)
    return labels, np.flatnonzero(keep)


def find_suspects(store, run_id: str, top: int | None = 50) -> list[SuspectRow]:
    run, info, model = prediction.load_run_model(store, run_id)
    positions, x, y = training_images(run)
    ranked = suspects.for_model(model, x, y, info.num_classes, top=top, seed=run.config.seed)
    paths = getattr(x, "paths", None)
    names = [str(n) for n in info.class_names]
    return [
        SuspectRow(
            int(positions[s.index]), None if paths is None else str(paths[s.index]), names[s.given],
            names[s.predicted], s.confidence, s.quality, s.flagged,
        )
        for s in ranked
    ]  # fmt: skip


def image_at(run, index: int) -> np.ndarray:
    """One training image of the run's dataset as float32 HxWxC in [0, 1] (for showing a suspect)."""
    (x, _), _ = datasets.load_raw(run.config.dataset, run.config.data_dir)
    pixels = np.asarray(x[int(index)])
    return pixels.astype(np.float32).reshape(datasets.info(run.config.dataset).input_shape) / 255.0


def project_run(store, run_id: str, split: str = "test", method: str = "tsne", limit: int = projector.MAX_POINTS):
    """(Projection, x the projected images came from) for the run's test or training split.

    The training split shows a built-in's fixes (see training_images); indices are positions in `x`.
    """
    run, info, model = prediction.load_run_model(store, run_id)
    (xtr, ytr), (xte, yte) = datasets.load_raw(run.config.dataset, run.config.data_dir)
    if split == "test":
        x, y, kept = xte, np.asarray(yte), None
    else:
        x = xtr
        y, kept = fixed_labels(run.config.dataset, xtr, ytr)
        kept = None if len(kept) == len(y) else kept
    x = x if hasattr(x, "to_array") else datasets.normalise(np.asarray(x))
    if kept is None:
        return projector.project(model, x, y, method=method, limit=limit, seed=run.config.seed), x
    p = projector.project(model, x[kept], y[kept], method=method, limit=limit, seed=run.config.seed)
    return replace(p, indices=kept[p.indices]), x


# -- fixes for a built-in dataset (a custom one is fixed as a new version: lib.teach.collect.fix) ----------
def fix_builtin(run, indices, label: int | None, who: str | None = None) -> int:
    """Relabel (`label`) or exclude (None) training images of the run's built-in dataset, as an overlay."""
    (x, y), _ = datasets.load_raw(run.config.dataset, run.config.data_dir)
    return overlay.fix(run.config.dataset, x, y, indices, label, datasets.info(run.config.dataset).num_classes, who)


def undo_builtin(run) -> dict | None:
    """Drop the last batch of fixes made on the run's built-in dataset; the batch, or None."""
    (x, y), _ = datasets.load_raw(run.config.dataset, run.config.data_dir)
    return overlay.undo(run.config.dataset, x, y)


def builtin_fixes(run) -> dict:
    """{"relabelled", "excluded", "batches"} kept for the run's built-in dataset (this copy of it)."""
    (x, y), _ = datasets.load_raw(run.config.dataset, run.config.data_dir)
    return overlay.summary(run.config.dataset, x, y)


# -- corrections -----------------------------------------------------------------------
def correct_bytes(store, run_id: str, data: bytes, label, source: str) -> corrections.Correction:
    """Decode an image file as Predict would, note what the model says, and keep it as a correction."""
    run, info, model = prediction.load_run_model(store, run_id)
    prepared = preprocess.prepare_bytes(data, info.input_shape, run.config.dataset)
    return correct_prepared(store, run_id, prepared, label, source, model, info)


def correct_prepared(store, run_id, prepared, label, source, model, info) -> corrections.Correction:
    index = corrections.class_index(label, info.class_names)
    before = prediction.predict(model, prepared.model_input, info.class_names)[0]
    return finetune.box(store, run_id).add(
        prepared.original, prepared.model_input, index, info.class_names, run_id, source,
        predicted=before.class_index, confidence=before.confidence,
    )  # fmt: skip


def before_after(store, parent_id: str, child_id: str) -> list[dict]:
    """Each of the parent's corrections: label, the parent's answer then, the fine-tuned run's answer now."""
    box = finetune.box(store, parent_id)
    records = box.records()
    if not records:
        return []
    _, info, model = prediction.load_run_model(store, child_id)
    names = [str(n) for n in info.class_names]
    out = []
    for c in records:
        try:
            x = box.model_input(c.id)
        except (OSError, ValueError):
            continue
        after = prediction.predict(model, x, names)[0]
        out.append({
            "id": c.id, "label": c.label_name,
            "before": names[c.predicted] if c.predicted is not None else None, "before_confidence": c.confidence,
            "after": after.label, "after_confidence": after.confidence, "fixed": after.class_index == c.label,
        })  # fmt: skip
    return out
