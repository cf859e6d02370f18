"""Fixes for a built-in dataset's training labels, kept beside it: the built-in files are never changed.

A built-in's images come from files ConvStudio does not own (IDX files, CIFAR
batches, the Keras cache, Debian's /usr/share/datasets). A relabel or an
exclusion of one of its training images (from the label suspects or the
projector) is kept instead in `<data root>/.overlays/<dataset>.json` and
applied to the training split when the dataset is prepared for training
(lib.data.datasets.prepare); evaluation and test splits are never touched.

Fixes name an image by its position in the training split, so they are tied to
the exact split they were made on by a fingerprint (its size, a SHA-256 of its
labels and of its first images): another copy of MNIST (the 10,000-digit sample
against the full 60,000) keeps its own fixes and never gets another's.

Each click is one batch of changes; the effective fix of an image is the last
batch that names it, so `undo` (dropping the last batch) restores exactly what
was there before. The file is read, changed and written under a lock and
written atomically (lib.atomic_files): a crash leaves the old fixes or the new.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from lib import atomic_files, settings
from lib.data.info import BUILTIN, DatasetUnavailable

FOLDER = ".overlays"  # hidden: never offered as a server folder to import
VERSION = 1
FINGERPRINT_IMAGES = 64  # the first images hashed with every label: cheap, and tells two copies apart
MAX_BATCHES = 10_000  # a script clicking forever must not grow the file without end


class OverlayRefused(ValueError):
    """A fix that cannot be kept; str() is one line saying why."""


def path(name: str) -> Path:
    if name not in BUILTIN:
        raise OverlayRefused(f"{name!r} is not a built-in dataset; a custom dataset is fixed as a new version")
    return settings.data_root() / FOLDER / f"{name}.json"


def fingerprint(x, y) -> str:
    """What identifies one copy of a training split: its size, its labels and its first images."""
    digest = hashlib.sha256()
    labels = np.ascontiguousarray(np.asarray(y, np.int64))
    digest.update(f"{len(labels)}:{tuple(np.shape(x))}".encode())
    digest.update(labels.tobytes())
    digest.update(np.ascontiguousarray(np.asarray(x[:FINGERPRINT_IMAGES])).tobytes())
    return digest.hexdigest()[:24]


# -- reading -------------------------------------------------------------------------------
def _read(name: str) -> dict:
    """The whole overlay file ({} when there is none); DatasetUnavailable when it is damaged."""
    file = path(name)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": VERSION, "splits": {}}
    except (OSError, ValueError) as exc:
        raise DatasetUnavailable(
            f"the fixes for {name} in {file} cannot be read ({type(exc).__name__}); move that file away to "
            "train without them (the dataset's own files are unchanged)"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("splits"), dict):
        raise DatasetUnavailable(f"{file} is not a ConvStudio overlay; move it away to train without it")
    return data


def batches(name: str, split_id: str) -> list[dict]:
    """The batches of fixes made on the split `split_id` (a fingerprint), oldest first."""
    found = _read(name)["splits"].get(split_id, {})
    return list(found.get("batches", [])) if isinstance(found, dict) else []


def fixes(name: str, split_id: str) -> dict[int, int | None]:
    """Position -> new label (None: excluded), the last batch naming a position winning."""
    out: dict[int, int | None] = {}
    for batch in batches(name, split_id):
        for index, label in batch.get("changes", []):
            out[int(index)] = None if label is None else int(label)
    return out


def effective_labels(name: str, x, y) -> tuple[np.ndarray, np.ndarray]:
    """(labels with the fixes applied, a mask of the positions kept), positions unchanged."""
    labels = np.array(y, dtype=np.int64, copy=True)  # a cached split is shared: never change it in place
    keep = np.ones(len(labels), dtype=bool)
    for index, label in fixes(name, fingerprint(x, y)).items():
        if 0 <= index < len(labels):
            if label is None:
                keep[index] = False
            else:
                labels[index] = label
    return labels, keep


def apply(name: str, x, y):
    """(x, y) of a built-in's training split with its fixes: relabelled, excluded images left out."""
    if name not in BUILTIN or not path(name).exists():
        return x, y
    labels, keep = effective_labels(name, x, y)
    if keep.all():
        return x, labels
    return x[keep], labels[keep]


# -- changing ------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(name: str):
    """One writer at a time (two people fixing at once must not lose each other's changes)."""
    file = path(name)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(name: str, data: dict) -> None:
    atomic_files.write_text(path(name), json.dumps(data, indent=1))


def fix(name: str, x, y, indices, label: int | None, num_classes: int, who: str | None = None) -> int:
    """Relabel (`label`) or exclude (None) the training images at `indices`, as one batch; how many changed."""
    count = len(y)
    try:
        positions = sorted({int(i) for i in indices})
    except (TypeError, ValueError):
        raise OverlayRefused("the images to fix must be given by their positions in the training split") from None
    if not positions:
        raise OverlayRefused("no images chosen")
    if positions[0] < 0 or positions[-1] >= count:
        raise OverlayRefused(f"position {positions[-1]} is not one of {name}'s {count:,} training images")
    if label is not None and (isinstance(label, bool) or not 0 <= int(label) < num_classes):
        raise OverlayRefused(f"label {label!r} is not one of {name}'s {num_classes} classes")
    split_id = fingerprint(x, y)
    with _locked(name):
        data = _read(name)
        split = data["splits"].setdefault(split_id, {"count": count, "batches": []})
        if len(split["batches"]) >= MAX_BATCHES:
            raise OverlayRefused(f"{name} already has {MAX_BATCHES:,} batches of fixes; undo some first")
        split["batches"].append({
            "changes": [[i, None if label is None else int(label)] for i in positions],
            "time": time.strftime("%Y-%m-%d %H:%M:%S"), "by": who,
        })  # fmt: skip
        _write(name, data)
    return len(positions)


def undo(name: str, x, y) -> dict | None:
    """Drop the last batch of fixes made on this split; the batch dropped, or None when there was none."""
    split_id = fingerprint(x, y)
    if not path(name).exists():
        return None
    with _locked(name):
        data = _read(name)
        split = data["splits"].get(split_id)
        if not split or not split.get("batches"):
            return None
        dropped = split["batches"].pop()
        if not split["batches"]:
            del data["splits"][split_id]
        _write(name, data)
    return dropped


def kept(name: str) -> int:
    """How many batches of fixes are kept for built-in `name` on this server, over every copy of it.

    Cheap (no dataset is read), for a page to say that fixes will apply; 0 when unreadable too, since
    training then stops with the reason.
    """
    if name not in BUILTIN:
        return 0
    try:
        splits = _read(name)["splits"].values()
    except DatasetUnavailable:
        return 0
    return sum(len(s.get("batches", [])) for s in splits if isinstance(s, dict))


def summary(name: str, x, y) -> dict:
    """{"relabelled": n, "excluded": n, "batches": n} for this split's fixes (for the pages and the CLI)."""
    if name not in BUILTIN or not path(name).exists():
        return {"relabelled": 0, "excluded": 0, "batches": 0}
    split_id = fingerprint(x, y)
    found = fixes(name, split_id)
    excluded = sum(label is None for label in found.values())
    return {"relabelled": len(found) - excluded, "excluded": excluded, "batches": len(batches(name, split_id))}
