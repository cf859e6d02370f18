"""Turning checked entries (lib.data.sources) into a saved dataset folder.

Three steps, each a function: `plan` reads the layout (classes from folder
names, optional train/ and test/ folders, an optional single top folder),
`suggest` picks an image size and colour mode from a sample of the images, and
`write` decodes every image safely, resizes it, and writes it as a PNG under
`<split>/<class number>/<n>.png`. Every image is stored at its final size and
mode, so training reads small PNGs and never meets a hostile file again.

An import has a budget (`Budget`): each image's size is read from its header before
anything is decoded (a 30 KB PNG can claim 39 megapixels: 120 MB once decoded), an
image over the per-image limit is skipped and listed, and the import as a whole stops
with a clear message past a total pixel budget or a time budget. Class folder names
follow rules: control characters and names made only of dots are skipped (listed),
and names that become the same after normalisation (Unicode NFKC, trimmed, cut to
MAX_CLASS_NAME, case ignored) refuse the import, naming them.
"""

from __future__ import annotations

import io
import time
import unicodedata
import warnings
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


class BudgetExceeded(LayoutRefused):
    """The import would decode more pixels, or take longer, than its budget allows."""


@dataclass(frozen=True)
class Budget:
    # A 12-megapixel phone photo fits; a 39-megapixel PNG of 15 KB (a pixel bomb) does not.
    max_image_pixels: int = 16_000_000
    # Decoding runs at ~50-100 megapixels a second here: 2 gigapixels is a long but finite import.
    max_total_pixels: int = 2_000_000_000
    max_seconds: float = 30 * 60


DEFAULT_BUDGET = Budget()


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
    placed = _apply_name_rules(placed, skipped)
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
    names = [normalised_class_name(c) for c in class_folders]
    return Plan(names, items, skipped, split_from_folders)


# -- class names -------------------------------------------------------------------
def normalised_class_name(folder: str) -> str:
    """The class name shown and stored for a folder: Unicode NFKC, trimmed, at most MAX_CLASS_NAME."""
    return unicodedata.normalize("NFKC", folder).strip()[:MAX_CLASS_NAME]


def class_name_problem(folder: str) -> str:
    """Why a folder cannot name a class ('' when it can)."""
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in folder):
        return f"class folder {folder!r} has control characters in its name"
    if not normalised_class_name(folder).strip(". "):
        return f"class folder {folder!r} is only dots (like '..'); skipped"
    return ""


def _apply_name_rules(placed, skipped):
    """Drop the files of badly named class folders (listed in `skipped`); refuse names that collide."""
    kept = []
    for e, split, c in placed:
        problem = class_name_problem(c)
        if problem:
            skipped.append((e.path, problem))
        else:
            kept.append((e, split, c))
    by_key: dict[str, set[str]] = {}
    for _, _, c in kept:
        by_key.setdefault(normalised_class_name(c).casefold(), set()).add(c)
    clashes = [sorted(group) for group in by_key.values() if len(group) > 1]
    if clashes:
        shown = "; ".join(" and ".join(repr(c) for c in group) for group in clashes[:3])
        raise LayoutRefused(
            f"class folders that would get the same class name (case, Unicode form or length "
            f"past {MAX_CLASS_NAME} characters): {shown}; rename them"
        )
    return kept


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
            data = p.items[i][0].read()
            check_pixels(data, DEFAULT_BUDGET)
            image = preprocess.decode(data)
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


# -- the budget --------------------------------------------------------------------
def header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image's header, without decoding it ((0, 0) if Pillow cannot tell)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=preprocess.FORMATS) as image:
                return image.size
    except Image.DecompressionBombError:
        raise preprocess.PreprocessError("the image claims an absurd number of pixels; refused") from None
    except Exception:  # noqa: BLE001 - not an image: the real decode says why, with its own message
        return 0, 0


def check_pixels(data: bytes, budget: Budget) -> int:
    """The image's pixel count from its header; PreprocessError if over the per-image limit."""
    width, height = header_size(data)
    if width * height > budget.max_image_pixels:
        raise preprocess.PreprocessError(
            f"the image is {width} x {height} pixels; the limit for one imported image is "
            f"{budget.max_image_pixels / 1e6:g} megapixels"
        )
    return width * height


class _Spending:
    """Pixels decoded and seconds spent so far by one import, against its budget."""

    def __init__(self, budget: Budget):
        self.budget, self.pixels, self.start = budget, 0, time.monotonic()

    def charge(self, pixels: int) -> None:
        self.pixels += pixels
        if self.pixels > self.budget.max_total_pixels:
            raise BudgetExceeded(
                f"the images add up to more than {self.budget.max_total_pixels / 1e9:g} gigapixels, this "
                "server's budget for one import; import fewer or smaller images"
            )
        if time.monotonic() - self.start > self.budget.max_seconds:
            raise BudgetExceeded(
                f"the import took longer than {self.budget.max_seconds:g} s, this server's budget for one "
                "import; import fewer or smaller images"
            )


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


def write(
    p: Plan, target: Path, size: int, color: str, progress=None, budget: Budget | None = None
) -> dict[str, list[int]]:
    """Write every image of the plan under `target`; unreadable ones join p.skipped. Returns counts.

    BudgetExceeded past the import's pixel or time budget (the caller discards `target`).
    """
    spending = _Spending(budget or DEFAULT_BUDGET)
    counts = {s: [0] * len(p.class_names) for s in ("train", "test")}
    for label in range(len(p.class_names)):
        for split in counts:
            (target / split / class_folder(label)).mkdir(parents=True, exist_ok=True)
    for done, (entry, split, label) in enumerate(p.items):
        try:
            data = entry.read()
            spending.charge(check_pixels(data, spending.budget))
            image = convert(data, size, color)
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
