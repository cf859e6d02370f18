"""Model files: only files the store wrote, from inside the runs folder, never code hidden in them.

The one place that decides whether a model file may be read (predict, evaluate, export, the
Runs page downloads, resume). A model file is refused when:
- it, or any folder between the runs root and it, is a link (wherever it points): it is
  opened with O_NOFOLLOW and its resolved path must be exactly root/<run>/<name>;
- it is not a regular file, or it is empty (a save that a kill or a full disk cut short);
- it is a .keras archive (a zip) whose members would unpack past MAX_UNPACKED_BYTES, or
  compress suspiciously well (a zip bomb), checked from the zip's directory before loading;
- Keras's safe mode finds Python code in it (a Lambda layer), which ConvStudio never writes.
"""

from __future__ import annotations

import contextlib
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MAX_UNPACKED_BYTES = 512 * 2**20  # the largest built-in model (resnet_small) unpacks to ~10 MB
MAX_RATIO = 200  # weights barely compress; a config that shrinks 200x is padding, not a model


class ModelRefused(ValueError):
    """A model file ConvStudio will not load: not one the store wrote, damaged, or carrying code."""


def _default_root(path: Path) -> Path:
    """Model files live at <runs root>/<run id>/<name>.keras."""
    return path.parent.parent


def _check_inside(path: Path, root: Path | None) -> None:
    root = Path(root) if root is not None else _default_root(path)
    try:
        relative = path.absolute().relative_to(root.absolute())
    except ValueError:
        raise ModelRefused(f"{path} is not inside the runs folder {root}: refused") from None
    if os.path.islink(path):
        raise ModelRefused(f"{path} is a link or not a file: ConvStudio only loads model files it wrote itself")
    if os.path.realpath(path) != os.path.join(os.path.realpath(root), relative):
        raise ModelRefused(f"{path} goes through a linked folder: ConvStudio only loads model files it wrote itself")


def _open_checked(path: Path) -> int:
    """An fd on the model file itself (never a link's target), after the regular-file and size checks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ModelRefused(f"{path} does not exist") from None
    except OSError as exc:
        if os.path.islink(path):
            raise ModelRefused(
                f"{path} is a link: ConvStudio only loads model files it wrote itself, wherever a link points"
            ) from None
        raise ModelRefused(f"{path} cannot be opened ({exc.strerror or exc})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ModelRefused(f"{path} is not a regular file: refused")
    if info.st_size == 0:
        os.close(fd)
        raise ModelRefused(f"{path} is empty (a save that was cut short): refused")
    return fd


def _check_archive(handle, path: Path) -> None:
    """Refuse a .keras zip that unpacks past the limit, judged by its directory (nothing unpacked)."""
    try:
        with zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise ModelRefused(f"{path} is damaged or not a Keras model (not a zip; a save cut short?)") from None
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ModelRefused(
            f"{path} would unpack to {unpacked / 2**20:.0f} MB (limit {MAX_UNPACKED_BYTES / 2**20:.0f} MB): refused"
        )
    if unpacked > 2**20 and unpacked > MAX_RATIO * max(packed, 1):
        raise ModelRefused(f"{path} unpacks {unpacked // max(packed, 1)}x its size (a zip bomb?): refused")


@contextlib.contextmanager
def _checked_handle(path: Path, root) -> Iterator[BinaryIO]:
    """The model file opened once and checked (place, link, type, size, archive), rewound to its start."""
    _check_inside(path, root)
    with os.fdopen(_open_checked(path), "rb") as handle:
        if path.suffix == ".keras":
            _check_archive(handle, path)
            handle.seek(0)
        yield handle


def check_model_file(path, root=None) -> Path:
    """`path` if it is a model file ConvStudio may read (see the module docstring), else ModelRefused."""
    path = Path(path)
    with _checked_handle(path, root):
        return path


def read_model_bytes(path, root=None) -> bytes:
    """The checked model file's bytes, read through the same descriptor the checks used (downloads, export)."""
    path = Path(path)
    with _checked_handle(path, root) as handle:
        return handle.read()


def load_model(path, root=None):
    """Load a model file the store wrote, or say clearly why not (ModelRefused)."""
    path = check_model_file(path, root)
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except MemoryError:
        raise
    except Exception as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ModelRefused(
                f"{path} contains Python code (a Lambda layer), which ConvStudio never writes: refused, not run"
            ) from exc
        raise ModelRefused(f"{path} cannot be read ({type(exc).__name__}): it is damaged or not a Keras model") from exc


def loads(path, root=None) -> bool:
    """Whether the model file passes the checks and loads (resume uses it to pick a checkpoint)."""
    try:
        load_model(path, root)
    except ModelRefused:
        return False
    return True
