"""Collect a dataset one image at a time (camera, canvas, uploads), then save it as an ordinary custom dataset.

The collected originals are kept in a folder-per-class layout beside the saved
datasets, `<data root>/custom/.collect/<name>/{train,test}/<class>/<n>.png`,
which is exactly what the importer reads. Saving runs the ordinary import
(lib.data.custom: the same decoding, size, colour and problem checks as a zip)
on that folder, so a collected dataset is no different from an imported one,
and nothing collected is lost if a save fails: the originals stay, and saving
again rebuilds the dataset.

Every 7th image of a class goes to test/ as it arrives (about 15%, as the
importer holds out), so adding images never reshuffles which ones were
tested. Adding to a dataset that was imported from a zip first copies its
stored images (and their splits) into the collection.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from PIL import Image

from lib.data import custom, importer
from lib.inference import preprocess

COLLECT = ".collect"  # hidden: not offered as a server folder, never a dataset name
SPLITS = ("train", "test")
TEST_EVERY = 7
MAX_CLASS_NAME = importer.MAX_CLASS_NAME
ORIGINAL_MAX_SIDE = 1_024  # originals are re-encoded PNGs, shrunk: a 12 MP photo becomes a few hundred KB
_FILE_NAME = re.compile(r"\d{6}\.png")


class CollectRefused(ValueError):
    """A class name, image or request the collection refuses; str() is one line saying why."""


def folder(name: str) -> Path:
    try:
        return custom.custom_root() / COLLECT / custom.check_name(name)
    except custom.Refused as exc:
        raise CollectRefused(str(exc)) from None


def check_class(class_name: str) -> str:
    text = class_name.strip() if isinstance(class_name, str) else ""
    bad = (
        not text or len(text) > MAX_CLASS_NAME or text.startswith(".") or any(c in text for c in "/\\\0")
        or text.lower() in importer.SPLIT_FOLDERS or text in ("__MACOSX",)
    )  # fmt: skip
    if bad:
        raise CollectRefused(
            f"class name {class_name!r} is not allowed: 1 to {MAX_CLASS_NAME} characters, no '/' or '\\', "
            "not starting with '.', and not train, test, val or validation"
        )
    return text


# -- reading ---------------------------------------------------------------------------
def classes(name: str) -> dict[str, dict[str, list[Path]]]:
    """class -> split -> image paths, classes sorted as the importer sorts them (case-insensitively)."""
    base = folder(name)
    found: dict[str, dict[str, list[Path]]] = {}
    for split in SPLITS:
        try:
            class_dirs = [p for p in (base / split).iterdir() if p.is_dir() and not p.name.startswith(".")]
        except OSError:
            continue
        for class_dir in class_dirs:
            images = sorted(p for p in class_dir.iterdir() if _FILE_NAME.fullmatch(p.name))
            found.setdefault(class_dir.name, {s: [] for s in SPLITS})[split] = images
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def counts(name: str) -> dict[str, int]:
    return {c: len(s["train"]) + len(s["test"]) for c, s in classes(name).items()}


def exists(name: str) -> bool:
    return folder(name).is_dir()


# -- changing ----------------------------------------------------------------------------
def add_image(name: str, class_name: str, data: bytes) -> Path:
    """Decode `data` safely (lib.inference.preprocess refuses bombs and non-images) and keep it as a PNG."""
    class_name = check_class(class_name)
    try:
        image = preprocess.flatten_alpha(preprocess.decode(data))
    except preprocess.PreprocessError as exc:
        raise CollectRefused(str(exc)) from None
    image.thumbnail((ORIGINAL_MAX_SIDE, ORIGINAL_MAX_SIDE), Image.Resampling.LANCZOS)
    seed_from_dataset(name)
    existing = classes(name).get(class_name, {s: [] for s in SPLITS})
    count = len(existing["train"]) + len(existing["test"])
    split = "test" if count % TEST_EVERY == TEST_EVERY - 1 else "train"
    target_dir = folder(name) / split / class_name
    target_dir.mkdir(parents=True, exist_ok=True)
    number = 1 + max((int(p.stem) for s in SPLITS for p in existing[s]), default=-1)
    target = target_dir / f"{number:06d}.png"
    temporary = target_dir / f".{number:06d}.png.tmp"
    image.save(temporary, format="PNG")
    os.replace(temporary, target)  # whole or absent
    return target


def _next_number(name: str, class_name: str) -> int:
    """File numbers run on across both splits, so a moved image never overwrites another."""
    found = classes(name).get(class_name, {})
    return 1 + max((int(p.stem) for s in SPLITS for p in found.get(s, [])), default=-1)


def remove_image(name: str, class_name: str, file_name: str) -> None:
    class_name = check_class(class_name)
    if not _FILE_NAME.fullmatch(str(file_name)):
        raise CollectRefused(f"no image {file_name!r} in class {class_name!r}")
    for split in SPLITS:
        path = folder(name) / split / class_name / file_name
        if path.is_file():
            path.unlink()
            return
    raise CollectRefused(f"no image {file_name!r} in class {class_name!r}")


def rename_class(name: str, old: str, new: str) -> None:
    old, new = check_class(old), check_class(new)
    known = classes(name)
    if old not in known:
        raise CollectRefused(f"no class {old!r} in {name!r}")
    if new.lower() in {c.lower() for c in known if c != old}:
        raise CollectRefused(f"{name!r} already has a class {new!r}")
    for split in SPLITS:
        source = folder(name) / split / old
        if source.is_dir():
            os.rename(source, folder(name) / split / new)


def remove_class(name: str, class_name: str) -> None:
    class_name = check_class(class_name)
    if class_name not in classes(name):
        raise CollectRefused(f"no class {class_name!r} in {name!r}")
    for split in SPLITS:
        shutil.rmtree(folder(name) / split / class_name, ignore_errors=True)


def discard(name: str) -> None:
    """Forget the collection (the saved dataset, if any, stays)."""
    shutil.rmtree(folder(name), ignore_errors=True)


def seed_from_dataset(name: str) -> None:
    """Copy a saved dataset's images into a new collection, keeping classes and splits (once)."""
    base = folder(name)
    if base.exists() or not custom.is_saved(name):
        return
    m = custom.manifest(name)
    staging = base.with_name(f".seeding-{name}")
    shutil.rmtree(staging, ignore_errors=True)
    for split in SPLITS:
        for label, class_name in enumerate(m["class_names"]):
            source = custom.folder(name) / split / importer.class_folder(label)
            target = staging / split / class_name
            target.mkdir(parents=True, exist_ok=True)
            for n, path in enumerate(sorted(source.glob("*.png")) if source.is_dir() else []):
                shutil.copyfile(path, target / f"{n:06d}.png")
    os.rename(staging, base)


# -- saving ----------------------------------------------------------------------------
def save(
    name: str, image_size: int | None = None, color: str | None = None, progress=None, owner=None, allowed=None
) -> dict:
    """(Re)build the custom dataset `name` from the collection through the ordinary import; its manifest.

    Replacing a saved dataset removes it first, so `allowed(owner)` (lib.runs.access.may_act_on for the
    person saving) must allow that, as for any removal; the dataset keeps its owner.
    """
    base = folder(name)
    if not ready(name):
        raise CollectRefused("a dataset needs at least two classes with images; add more before saving")
    if custom.is_saved(name):
        previous = custom.manifest(name)
        image_size, color = image_size or previous["image_size"], color or previous["color"]
        owner = custom.owner(name) or owner
    try:
        custom.inspect(base)  # every refusal the import would make, before the old version is removed
        if custom.is_saved(name):
            custom.remove(name, allowed=allowed)
        return custom.add(name, base, image_size, color, progress=progress, owner=owner)
    except custom.Refused as exc:
        raise CollectRefused(f"{exc} (the collected images are kept; fix and save again)") from None


def ready(name: str) -> bool:
    """Whether the collection can be saved: two classes or more with images."""
    return len([c for c, n in counts(name).items() if n]) >= 2


def add_files(
    name: str, class_name: str, files, image_size=None, color=None, owner=None, allowed=None
) -> tuple[dict | None, list[dict]]:
    """Add (file name, bytes) pairs to class `class_name` of dataset `name` and save it when it can be.

    Returns (the manifest, or None while the collection has fewer than two classes; skipped files with
    the reason). Creates the dataset when new; `owner` and `allowed` as for save().
    """
    check_class(class_name)
    skipped = []
    for file_name, data in files:
        try:
            add_image(name, class_name, data)
        except CollectRefused as exc:
            skipped.append({"file": str(file_name), "reason": str(exc)})
    return (save(name, image_size, color, owner=owner, allowed=allowed) if ready(name) else None), skipped


# -- fixes from the label suspects and the projector ----------------------------------------
def fix(name: str, changes: list[tuple[str, int | None]], progress=None, allowed=None) -> dict:
    """Relabel (a class index) or exclude (None) saved images of dataset `name`, as a new version of it.

    The new version replaces the saved one, so `allowed(owner)` must allow removing it (see save()).

    `changes` name the saved dataset's own image files (ImageFiles.paths). The
    collection behind the dataset holds the same images in the same order per
    class and split (seeding copies them in order; saving writes them in
    order), so the k-th file of a class folder is the k-th collected one.
    """
    m = custom.manifest(name)
    holder = custom.owner(name)
    if allowed is not None and not allowed(holder):  # asked before anything is moved
        who = f"{holder} or an administrator" if holder else "an administrator"
        raise CollectRefused(f"only {who} can change dataset {name!r}")
    seed_from_dataset(name)
    known = classes(name)
    moves = []
    for path, label in changes:
        parts = Path(path).parts
        try:
            split, class_name, k = parts[-3], m["class_names"][int(parts[-2])], int(Path(path).stem)
            source = known[class_name][split][k]
        except (IndexError, ValueError, KeyError):
            raise CollectRefused(f"{path} is not an image of dataset {name!r} (it may have changed)") from None
        if label is not None and not 0 <= int(label) < len(m["class_names"]):
            raise CollectRefused(f"label {label!r} is not one of {name!r}'s classes")
        moves.append((source, split, None if label is None else m["class_names"][int(label)]))
    for source, split, class_name in moves:
        if class_name is None:
            source.unlink(missing_ok=True)
            continue
        target_dir = folder(name) / split / class_name
        target_dir.mkdir(parents=True, exist_ok=True)
        os.rename(source, target_dir / f"{_next_number(name, class_name):06d}.png")
    return save(name, progress=progress, allowed=allowed)
