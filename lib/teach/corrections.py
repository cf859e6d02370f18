"""Corrections: images a model got wrong, each with the label a person says is right.

A correction keeps both what the person gave (the original image, re-encoded
as PNG: never the uploaded bytes themselves) and the exact array the model saw,
so a fine-tune trains on precisely what was corrected, and the page can show
it again. They live in a folder beside the run (`runs/<id>/corrections/`), so a
built-in dataset's files are never touched.

One correction is a folder `<id>/` with `record.json`, `original.png` and
`input.npy`, written into a hidden staging folder and renamed into place: a
crash leaves the correction whole or absent.

`mix` makes the fine-tune's training set: the corrections, oversampled so a
few dozen images weigh as much as they should, plus a replay sample of the
original training data so the model does not forget what it knew
(rehearsal; Robins 1995, "Catastrophic forgetting, rehearsal and pseudorehearsal").
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

FOLDER = "corrections"
RECORD, ORIGINAL, INPUT = "record.json", "original.png", "input.npy"
MAX_PER_RUN = 1_000  # a page or script adding forever fills the disk; a person never corrects this many
ORIGINAL_MAX_SIDE = 1_024  # the original is kept for showing, not training: a phone photo is shrunk
REPLAY_MIN = 2_000  # replayed training images, at least (all of them when there are fewer)
REPLAY_PER_CORRECTION = 50
CORRECTION_SHARE = 0.25  # the corrections' share of the fine-tune mix, after oversampling


class CorrectionRefused(ValueError):
    """A correction that cannot be kept; str() is one line saying why."""


@dataclass(frozen=True)
class Correction:
    id: str
    run_id: str
    label: int  # the right class, as the person says
    label_name: str
    source: str  # the file name, "canvas" or "camera"
    created: str
    predicted: int | None = None  # what the model said then: the "before" of before -> after
    confidence: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class CorrectionBox:
    """The corrections of one run, in `folder` (normally `<run folder>/corrections`)."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    # -- reading ---------------------------------------------------------------------
    def records(self) -> list[Correction]:
        """Every whole correction, oldest first; a damaged one is left out, not fatal."""
        try:
            children = sorted(p for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return []
        out = []
        for child in children:
            try:
                out.append(Correction(**json.loads((child / RECORD).read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(out, key=lambda c: (c.created, c.id))

    def __len__(self) -> int:
        return len(self.records())

    def model_input(self, correction_id: str) -> np.ndarray:
        return np.load(self._path(correction_id) / INPUT, allow_pickle=False)

    def original(self, correction_id: str) -> Image.Image:
        with Image.open(self._path(correction_id) / ORIGINAL, formats=("PNG",)) as image:  # written by add()
            return image.copy()

    def arrays(self, input_shape=None) -> tuple[np.ndarray, np.ndarray]:
        """(float32 (N, H, W, C) model inputs, int64 labels); those of another shape are left out."""
        xs, ys = [], []
        for c in self.records():
            try:
                x = self.model_input(c.id)
            except (OSError, ValueError):
                continue
            if input_shape is None or tuple(x.shape) == tuple(input_shape):
                xs.append(x.astype(np.float32))
                ys.append(c.label)
        if not xs:
            shape = tuple(input_shape) if input_shape is not None else (0, 0, 0)
            return np.zeros((0, *shape), np.float32), np.zeros(0, np.int64)
        return np.stack(xs), np.array(ys, np.int64)

    # -- writing ---------------------------------------------------------------------
    def add(
        self,
        original: Image.Image,
        model_input: np.ndarray,
        label: int,
        class_names,
        run_id: str,
        source: str = "upload",
        predicted: int | None = None,
        confidence: float | None = None,
    ) -> Correction:
        label = _check_label(label, class_names)
        model_input = _check_input(model_input)
        if len(self.records()) >= MAX_PER_RUN:
            raise CorrectionRefused(f"this run already has {MAX_PER_RUN} corrections; fine-tune with them first")
        record = Correction(
            id=time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3), run_id=str(run_id), label=label,
            label_name=str(class_names[label]), source=str(source)[:120], created=time.strftime("%Y-%m-%d %H:%M:%S"),
            predicted=None if predicted is None else int(predicted),
            confidence=None if confidence is None else float(confidence),
        )  # fmt: skip
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f".staging-{record.id}"
        staging.mkdir()
        try:
            shown = original.convert("RGBA" if "A" in original.getbands() else "RGB")
            shown.thumbnail((ORIGINAL_MAX_SIDE, ORIGINAL_MAX_SIDE))
            shown.save(staging / ORIGINAL, format="PNG")
            np.save(staging / INPUT, model_input, allow_pickle=False)
            _write_synced(staging / RECORD, json.dumps(record.to_dict(), indent=1))
            os.rename(staging, self.folder / record.id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return record

    def relabel(self, correction_id: str, label: int, class_names) -> Correction:
        label = _check_label(label, class_names)
        path = self._path(correction_id)
        record = Correction(**{**json.loads((path / RECORD).read_text(encoding="utf-8")), "label": label,
                               "label_name": str(class_names[label])})  # fmt: skip
        temporary = path / f".{RECORD}.tmp"
        _write_synced(temporary, json.dumps(record.to_dict(), indent=1))
        os.replace(temporary, path / RECORD)
        return record

    def remove(self, correction_id: str) -> None:
        shutil.rmtree(self._path(correction_id))

    def _path(self, correction_id: str) -> Path:
        path = self.folder / str(correction_id)
        if "/" in str(correction_id) or str(correction_id).startswith(".") or not (path / RECORD).is_file():
            raise CorrectionRefused(f"no correction {correction_id!r} in this run")
        return path


def _check_label(label, class_names) -> int:
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or not 0 <= int(label) < len(class_names):
        raise CorrectionRefused(f"label {label!r} is not one of this model's {len(class_names)} classes")
    return int(label)


def _check_input(model_input) -> np.ndarray:
    x = np.asarray(model_input)
    if x.ndim != 3 or x.shape[-1] not in (1, 3) or not np.issubdtype(x.dtype, np.floating):
        raise CorrectionRefused("the model input must be a float HxWxC image (C = 1 or 3)")
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise CorrectionRefused("the model input must hold values in [0, 1]")
    return x.astype(np.float32)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def class_index(label: str | int, class_names) -> int:
    """A label given by name or number (the CLI's --label) -> its index; CorrectionRefused if it is neither."""
    names = [str(n) for n in class_names]
    if isinstance(label, str) and label in names:
        return names.index(label)
    try:
        index = int(label)
    except (TypeError, ValueError):
        raise CorrectionRefused(f"{label!r} is not a class of this model; choose one of {', '.join(names)}") from None
    return _check_label(index, names)


# -- the fine-tune's training set ------------------------------------------------------
def mix(
    correction_x: np.ndarray,
    correction_y: np.ndarray,
    train_x,
    train_y: np.ndarray,
    replay: int | None = None,
    oversample: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrections repeated `oversample` times plus `replay` original training images, shuffled.

    `train_x` may be an array or a custom dataset's ImageFiles (only the replayed
    sample is decoded). Defaults: replay max(2,000, 50 per correction) images
    (all of them when there are fewer), and oversampling that makes the
    corrections a quarter of the mix.
    """
    n = len(correction_x)
    if n == 0:
        raise CorrectionRefused("there are no corrections to fine-tune with")
    rng = np.random.default_rng(seed)
    replay = min(len(train_x), replay if replay is not None else max(REPLAY_MIN, REPLAY_PER_CORRECTION * n))
    if oversample is None:
        oversample = max(1, round(CORRECTION_SHARE / (1 - CORRECTION_SHARE) * replay / n))
    chosen = np.sort(rng.choice(len(train_x), size=replay, replace=False))
    replayed = train_x[chosen]
    replayed = replayed.to_array() if hasattr(replayed, "to_array") else np.asarray(replayed, np.float32)
    x = np.concatenate([np.repeat(np.asarray(correction_x, np.float32), oversample, axis=0), replayed])
    y = np.concatenate([np.repeat(np.asarray(correction_y, np.int64), oversample), np.asarray(train_y)[chosen]])
    order = rng.permutation(len(x))
    return x[order], y[order].astype(np.int64)
