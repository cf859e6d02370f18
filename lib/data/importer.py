"""Turning checked entries (lib.data.sources) into a saved dataset folder.

Three steps, each a function: `plan` reads the layout (classes from folder
names, optional train/ and test/ folders, an optional single top folder),
`suggest` picks an image size and colour mode from a sample of the images, and
`write` decodes every image safely, resizes it, and writes it as a PNG under
`<split>/<class number>/<n>.png`. Every image is stored at its final size and
mode, so training reads small PNGs and never meets a hostile file again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from lib.data.sources import Entry
from lib.inference import preprocess

IMAGE_SIZES = (28, 32, 64, 96, 128)
COLORS = ("grey", "rgb")
TEST_FRACTION = 0.15  # held out per class when the data brings no test/ folder
SPLIT_FOLDERS = {"train": "train", "test": "test", "val": "train", "valid": "train", "validation": "train"}
SAMPLE_FOR_DEFAULTS = 48
MAX_CLASS_NAME = 60


class LayoutRefused(ValueError):
    """The files do not make a dataset (no classes, one class...); str() is one line."""


@dataclass
class Plan:
    class_names: list[str]
    items: list[tuple[Entry, str, int]]  # (entry, "train" | "test", class index)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    split_from_folders: bool = False

    def counts(self, split: str) -> list[int]:
        c = Counter(label for _, s, label in self.items if s == split)
        return [c[i] for i in range(len(self.class_names))]


# -- layout ------------------------------------------------------------------------
def plan(entries: list[Entry], seed: int = 0) -> Plan:
    """Classes, splits and the files to skip, from the paths alone (nothing is decoded)."""
    skipped = [(e.path, e.problem) for e in entries if e.problem]
    skipped += [(e.path, "not an image (" + (Path(e.path).suffix or "no extension") + ")")
                for e in entries if not e.problem and not e.is_image]  # fmt: skip
    images = [e for e in entries if not e.problem and e.is_image]
    if not images:
        raise LayoutRefused("no images found (PNG, JPEG, BMP, GIF or WebP in one folder per class)")
    layout = _strip_common_top([e.parts for e in images])  # paths as the layout sees them
    split_from_folders = any(parts[0].lower() == "train" for parts in layout)
    placed = []  # (entry, split or None, class folder name)
    for e, parts in zip(images, layout, strict=True):
        split, rest = (SPLIT_FOLDERS.get(parts[0].lower()), parts[1:]) if split_from_folders else (None, parts)
        if split_from_folders and split is None:
            skipped.append((e.path, "outside the train/ and test/ folders"))
        elif len(rest) < 2:
            skipped.append((e.path, "not inside a class folder"))
        else:
            placed.append((e, split, rest[0]))
    class_folders = sorted({c for _, s, c in placed if s in (None, "train")}, key=str.lower)
    if len(class_folders) < 2:
        raise LayoutRefused(
            f"found {len(class_folders)} class folder(s); a dataset needs at least two (one folder per class)"
        )
    index = {c: i for i, c in enumerate(class_folders)}
    items = []
    for e, split, c in placed:
        if c not in index:
            skipped.append((e.path, f"class {c!r} is in test/ but not in train/"))
        else:
            items.append((e, split, index[c]))
    if not split_from_folders:
        items = _hold_out(items, seed)
    names = [c[:MAX_CLASS_NAME] for c in class_folders]
    return Plan(names, items, skipped, split_from_folders)


def _strip_common_top(paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """`mydata/cats/x.png` -> `cats/x.png` when every image sits under the same single top folder."""
    if len({p[0] for p in paths}) == 1 and all(len(p) >= 3 for p in paths):
        return [p[1:] for p in paths]
    return paths


def _hold_out(items, seed: int):
    """Give each class's share of images to the test split (stratified, reproducible)."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list] = {}
    for e, _, label in items:
        by_class.setdefault(label, []).append(e)
    out = []
    for label, entries in by_class.items():
        n_test = max(1, round(len(entries) * TEST_FRACTION)) if len(entries) >= 2 else 0
        order = rng.permutation(len(entries))
        out += [(entries[i], "test" if k < n_test else "train", label) for k, i in enumerate(order)]
    return out


# -- defaults ----------------------------------------------------------------------
def suggest(p: Plan) -> tuple[int, str]:
    """(image size, colour mode) that suit a sample of the images: the size at or below their median
    shorter side, grey when every sampled image is grey."""
    rng = np.random.default_rng(0)
    chosen = rng.permutation(len(p.items))[:SAMPLE_FOR_DEFAULTS]
    sides, all_grey = [], True
    for i in chosen:
        try:
            image = preprocess.decode(p.items[i][0].read())
        except (preprocess.PreprocessError, OSError, ValueError):
            continue  # the real pass skips and lists it; a suggestion needs no complaint
        sides.append(min(image.size))
        all_grey = all_grey and _is_grey(image)
    median = float(np.median(sides)) if sides else IMAGE_SIZES[0]
    size = max([s for s in IMAGE_SIZES if s <= median], default=IMAGE_SIZES[0])
    return size, "grey" if all_grey else "rgb"


def _is_grey(image: Image.Image) -> bool:
    small = np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.int16)
    return int(np.abs(small - small[..., :1]).max()) <= 8  # JPEG noise leaves grey a little coloured


# -- writing -----------------------------------------------------------------------
def convert(data: bytes, size: int, color: str) -> Image.Image:
    """Decode (refusing decompression bombs), flatten, crop the centre to a square and resize.

    The same steps as the Predict page's colour path (lib.preprocess.colour), so a
    photo is seen the same way in training and in prediction.
    """
    image = preprocess.flatten_alpha(preprocess.decode(data))
    mode = "L" if color == "grey" else "RGB"
    return ImageOps.fit(image.convert(mode), (size, size), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def class_folder(label: int) -> str:
    return f"{label:03d}"  # numbers, not the class names, so a name never becomes a path


def write(p: Plan, target: Path, size: int, color: str, progress=None) -> dict[str, list[int]]:
    """Write every image of the plan under `target`; unreadable ones join p.skipped. Returns counts."""
    counts = {s: [0] * len(p.class_names) for s in ("train", "test")}
    for label in range(len(p.class_names)):
        for split in counts:
            (target / split / class_folder(label)).mkdir(parents=True, exist_ok=True)
    for done, (entry, split, label) in enumerate(p.items):
        try:
            image = convert(entry.read(), size, color)
        except preprocess.PreprocessError as exc:
            p.skipped.append((entry.path, str(exc)))
        except OSError as exc:
            p.skipped.append((entry.path, f"cannot be read ({exc.strerror or exc})"))
        else:
            n = counts[split][label]
            image.save(target / split / class_folder(label) / f"{n:06d}.png", format="PNG")
            counts[split][label] = n + 1
        if progress is not None:
            progress(done + 1, len(p.items))
    return counts
