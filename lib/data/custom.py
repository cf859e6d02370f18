"""Custom datasets: your own images, imported from a zip or a server folder, saved under the data root.

A saved dataset is a folder `<data root>/custom/<name>/` holding a manifest
(`manifest.json`: class names, image size, colour mode, counts, skipped files,
problems) and the images as small PNGs under `train/<class>/` and
`test/<class>/`. lib.data.datasets lists saved datasets beside the built-in ones, so
`--dataset NAME` and every page's dataset picker see them.

Training never loads a custom dataset into memory: `load_files` hands back
`ImageFiles`, a lazy stand-in for an image array that tf.data decodes while it
streams from disk.

Import order: check the name -> open the source (lib.data.sources: the zip
or folder safety checks) -> plan the layout -> write into a hidden staging
folder -> rename it into place. A refusal or crash removes the staging folder,
so a half-written dataset never appears.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib import atomic_files, settings
from lib.data import importer, sources
from lib.data.importer import COLORS, IMAGE_SIZES
from lib.data.info import BUILTIN, DatasetInfo
from lib.data.sources import DEFAULT_LIMITS, Limits

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MANIFEST = "manifest.json"
MIN_IMAGES_PER_CLASS = 10  # fewer and the class is barely learnt, and its test accuracy is noise
IMBALANCE_RATIO = 10  # the largest class this many times the smallest: the model learns to guess it
MAX_SKIPPED_KEPT = 500  # the manifest lists this many skipped files and counts the rest

__all__ = ["COLORS", "IMAGE_SIZES", "Limits", "Refused"]


class Refused(ValueError):
    """A dataset that cannot be added or removed; str() is one line saying why."""


# -- where -------------------------------------------------------------------------
def data_root() -> Path:
    return settings.data_root()


def custom_root() -> Path:
    return data_root() / "custom"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise Refused(
            f"dataset name {name!r} is not allowed: use 1 to 40 of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit"
        )
    if name in BUILTIN:
        raise Refused(f"{name!r} is a built-in dataset; choose another name")
    return name


def folder(name: str) -> Path:
    return custom_root() / check_name(name)


def server_folders() -> list[str]:
    """Folders directly under the data root a user may import from (the saved datasets' own excluded)."""
    try:
        children = sorted(data_root().iterdir())
    except OSError:
        return []
    return [p.name for p in children if p.is_dir() and p.name != "custom" and not p.name.startswith(".")]


# -- the registry ------------------------------------------------------------------
def saved_names() -> list[str]:
    """Names of the saved custom datasets, sorted; folders without a readable manifest are ignored."""
    try:
        children = sorted(custom_root().iterdir())
    except OSError:
        return []
    return [p.name for p in children if NAME_PATTERN.fullmatch(p.name) and (p / MANIFEST).is_file()]


def is_saved(name: str) -> bool:
    return isinstance(name, str) and name in saved_names()


def manifest(name: str) -> dict:
    path = folder(name) / MANIFEST
    try:
        return _read_manifest(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError):
        raise Refused(f"no saved dataset named {name!r}") from None


@functools.lru_cache(maxsize=64)
def _read_manifest(path: str, mtime_ns: int) -> dict:  # mtime in the key: a replaced dataset is re-read
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def info(name: str):
    """The DatasetInfo of a saved dataset, as lib.data.datasets.info gives for a built-in one."""
    m = manifest(name)
    channels = 1 if m["color"] == "grey" else 3
    total = sum(m["counts"]["train"]) + sum(m["counts"]["test"])
    description = (
        f"Your images: {total:,} {m['color']} {m['image_size']}x{m['image_size']} images in "
        f"{len(m['class_names'])} classes, from {m['source']}."
    )
    # folder is absolute and files is the manifest, so datasets.locate() finds it unchanged
    return DatasetInfo(
        name, m.get("title") or name, tuple(m["class_names"]), (m["image_size"], m["image_size"], channels),
        str(folder(name)), (MANIFEST,), description,
    )  # fmt: skip


def listing() -> list[dict]:
    """One small dict per saved dataset, for `dataset list` and the Data page."""
    out = []
    for name in saved_names():
        m = manifest(name)
        out.append({
            "name": name, "classes": len(m["class_names"]), "image_size": m["image_size"], "color": m["color"],
            "train": sum(m["counts"]["train"]), "test": sum(m["counts"]["test"]),
            "problems": len(m["problems"]), "source": m["source"], "created": m["created"], "owner": owner(name),
        })  # fmt: skip
    return out


def owner(name: str) -> str | None:
    """Who saved the dataset; None for one saved before owners were recorded."""
    found = manifest(name).get("owner")
    return found if isinstance(found, str) and found else None


def remove(name: str, allowed: Callable[[str | None], bool] | None = None) -> None:
    """Delete a saved dataset; `allowed(owner)` (lib.runs.access.may_act_on for the person asking) decides.

    The folder is first renamed out of sight, so a kill half-way through never leaves half a dataset listed.
    """
    target = folder(name)
    if not (target / MANIFEST).is_file() or target.is_symlink():
        raise Refused(f"no saved dataset named {name!r}")
    holder = owner(name)
    if allowed is not None and not allowed(holder):
        if holder:
            raise Refused(f"only {holder} or an administrator can remove dataset {name!r}")
        raise Refused(f"only an administrator can remove dataset {name!r} (it was saved before owners were recorded)")
    doomed = custom_root() / f".removing-{name}-{secrets.token_hex(4)}"
    os.rename(target, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


# -- adding ------------------------------------------------------------------------
def add(
    name: str,
    source,
    image_size: int | None = None,
    color: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress=None,
    owner: str | None = None,
) -> dict:
    """Import `source` (a zip path, an uploaded zip file object, or a folder under the data root).

    `owner` (the person saving it) is recorded: only they or an administrator may remove it.
    Returns the manifest. Raises Refused for anything that cannot become a dataset.
    """
    check_name(name)
    _check_choices(image_size, color)
    if (custom_root() / name).exists():
        raise Refused(f"a dataset named {name!r} already exists; remove it first or choose another name")
    with _entries(source, limits) as entries:
        plan = _plan(entries)
        suggested = importer.suggest(plan)
        size, mode = image_size or suggested[0], color or suggested[1]
        return _save(name, plan, size, mode, _describe(source), progress, owner)


def inspect(source, limits: Limits = DEFAULT_LIMITS) -> dict:
    """What `add` would make of `source`, without writing anything: for a preview before saving."""
    with _entries(source, limits) as entries:
        plan = _plan(entries)
        size, color = importer.suggest(plan)
    counts = {"train": plan.counts("train"), "test": plan.counts("test")}
    return {
        "class_names": plan.class_names, "counts": counts, "image_size": size, "color": color,
        "split_from_folders": plan.split_from_folders, "skipped": _skipped_list(plan.skipped),
        "problems": problems(plan.class_names, counts, plan.skipped),
    }  # fmt: skip


def _check_choices(image_size, color) -> None:
    if image_size is not None and image_size not in IMAGE_SIZES:
        raise Refused(f"image size {image_size} is not offered; choose one of {', '.join(map(str, IMAGE_SIZES))}")
    if color is not None and color not in COLORS:
        raise Refused(f"colour mode {color!r} is not offered; choose grey or rgb")


@contextlib.contextmanager
def _entries(source, limits: Limits):
    try:
        if isinstance(source, str | Path) and Path(source).is_dir():
            yield sources.folder_entries(source, data_root(), limits)
        elif isinstance(source, str | Path) and not Path(source).is_file():
            raise Refused(f"{source} is neither a zip file nor a folder")
        else:
            with sources.open_zip(source, limits) as entries:
                yield entries
    except sources.SourceRefused as exc:
        raise Refused(str(exc)) from None


def _plan(entries):
    try:
        return importer.plan(entries)
    except importer.LayoutRefused as exc:
        raise Refused(str(exc)) from None


def _describe(source) -> str:
    if isinstance(source, str | Path):
        return Path(source).name + ("/" if Path(source).is_dir() else "")
    return getattr(source, "name", None) or "an uploaded zip"


def _save(name: str, plan, size: int, color: str, source: str, progress, owner: str | None = None) -> dict:
    staging = custom_root() / f".staging-{name}-{secrets.token_hex(4)}"
    staging.mkdir(parents=True)
    try:
        try:
            counts = importer.write(plan, staging, size, color, progress)
        except importer.LayoutRefused as exc:  # past the import's pixel or time budget
            raise Refused(str(exc)) from None
        if sum(1 for n in counts["train"] if n) < 2:
            raise Refused("fewer than two classes have a readable training image; nothing was saved")
        m = {
            "format": 1, "name": name, "title": name, "source": source,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"), "image_size": size, "color": color,
            "class_names": plan.class_names, "counts": counts, "split_from_folders": plan.split_from_folders,
            "skipped": _skipped_list(plan.skipped), "skipped_count": len(plan.skipped),
            "problems": problems(plan.class_names, counts, plan.skipped), "owner": owner,
        }  # fmt: skip
        atomic_files.write_text(staging / MANIFEST, json.dumps(m, indent=1))  # fsynced before the rename
        try:
            os.rename(staging, custom_root() / name)  # atomic: the dataset appears whole or not at all
            atomic_files.fsync_folder(custom_root())  # and the rename survives a power cut
        except OSError:
            raise Refused(f"a dataset named {name!r} already exists; remove it first or choose another name") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return m


def _skipped_list(skipped) -> list[dict]:
    return [{"file": path, "reason": reason} for path, reason in skipped[:MAX_SKIPPED_KEPT]]


# -- problems ----------------------------------------------------------------------
def problems(class_names, counts: dict[str, list[int]], skipped) -> list[str]:
    """What a user should know before training on this data, one sentence each."""
    out = []
    if skipped:
        out.append(f"{len(skipped)} file(s) were skipped because they are not usable images (see the list).")
    train = counts["train"]
    few = [f"{c} ({n})" for c, n in zip(class_names, train, strict=True) if n < MIN_IMAGES_PER_CLASS]
    if few:
        out.append(f"Too few training images (under {MIN_IMAGES_PER_CLASS}) in: {', '.join(few)}.")
    if min(train) and max(train) >= IMBALANCE_RATIO * min(train):
        big, small = class_names[int(np.argmax(train))], class_names[int(np.argmin(train))]
        out.append(
            f"Very unbalanced classes: {big!r} has {max(train)} training images, {small!r} only {min(train)}; "
            "the model may learn to favour the big class."
        )
    empty_test = [c for c, n in zip(class_names, counts["test"], strict=True) if n == 0]
    if empty_test:
        out.append(f"No test images for: {', '.join(empty_test)}; their test accuracy cannot be measured.")
    return out


# -- reading for training and previews ---------------------------------------------
@dataclass(frozen=True)
class ImageFiles:
    """A lazy stand-in for a uint8 (N, H, W, C) image array: PNG files on disk.

    `x[i]` decodes one image (what a sample strip needs); `x[indices]` gives fewer
    files (what splitting needs); training maps `decode` over the paths in
    tf.data, so only the file names are ever held in memory.
    """

    paths: np.ndarray  # of str
    image_shape: tuple[int, int, int]

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.image_shape)

    def __getitem__(self, index):
        if isinstance(index, int | np.integer):
            from PIL import Image

            with Image.open(self.paths[index], formats=("PNG",)) as image:  # our own files, written by write()
                pixels = np.asarray(image, dtype=np.uint8)
            return pixels.reshape(self.image_shape)
        return ImageFiles(self.paths[index], self.image_shape)

    def to_array(self) -> np.ndarray:
        """All of these images, decoded, as float32 in [0, 1]: only for small slices (a live confusion matrix)."""
        pixels = np.zeros(self.shape, np.uint8)
        for i in range(len(self)):
            pixels[i] = self[i]
        return pixels.astype(np.float32) / 255.0

    def decode(self, path, label):
        """tf.data map function: a path -> float32 HxWxC in [0, 1], the input every model here expects."""
        import tensorflow as tf

        pixels = tf.io.decode_png(tf.io.read_file(path), channels=self.image_shape[-1])
        image = tf.ensure_shape(tf.cast(pixels, tf.float32) / 255.0, self.image_shape)
        return image, label


def load_files(name: str):
    """((x_train, y_train), (x_test, y_test)) like datasets.load_raw, with ImageFiles for x."""
    m = manifest(name)
    channels = 1 if m["color"] == "grey" else 3
    shape = (m["image_size"], m["image_size"], channels)
    return tuple(_split_files(folder(name) / split, len(m["class_names"]), shape) for split in ("train", "test"))


def _split_files(split_dir: Path, num_classes: int, shape):
    paths, labels = [], []
    for label in range(num_classes):
        class_dir = split_dir / importer.class_folder(label)
        names = sorted(os.listdir(class_dir)) if class_dir.is_dir() else []
        paths += [str(class_dir / n) for n in names if n.endswith(".png")]
        labels += [label] * (len(paths) - len(labels))
    return ImageFiles(np.array(paths, dtype=str), shape), np.array(labels, dtype=np.int64)
