"""Writing files atomically: a reader sees the old file or the new one, never half of either.

Every write goes to a temporary file in the target's own folder (so the rename stays on
one filesystem), is flushed and fsynced, then renamed over the target with os.replace;
the folder is fsynced too, so the rename itself survives a power cut. A kill at any
moment leaves the previous file as it was, plus at most a stray temporary file whose
name starts with ".tmp-".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make a rename inside `folder` durable (not every filesystem lets a folder be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(target: Path, suffix: str = "") -> Path:
    fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{target.name}-", suffix=suffix, dir=target.parent)
    os.close(fd)
    return Path(name)


def _discard(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(target: str | os.PathLike) -> int:
    """Remove what killed writers of `target` left behind; only for a target with one writer at a time
    (a run's model files: one worker per run). Returns how many were removed."""
    target = Path(target)
    stale = list(target.parent.glob(f"{TEMP_PREFIX}{target.name}-*"))
    for path in stale:
        _discard(path)
    return len(stale)


def _keep_owner(temp: Path, target: Path) -> None:
    """Give `temp` the owner of the `target` it replaces: root editing a server's file (accounts,
    secrets) must leave it readable by the account that runs the server."""
    with contextlib.suppress(FileNotFoundError):
        old = target.stat()
        if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(PermissionError):
                os.chown(temp, old.st_uid, old.st_gid)


def write_bytes(target: str | os.PathLike, data: bytes, keep_owner: bool = False) -> Path:
    """Write `data` to `target` atomically; returns the target.

    The file is created 0600 (mkstemp), so secrets are never readable by others, even briefly.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(target)
    try:
        if keep_owner:
            _keep_owner(temp, target)
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        _discard(temp)
        raise
    fsync_folder(target.parent)
    return target


def write_text(target: str | os.PathLike, text: str, encoding: str = "utf-8", keep_owner: bool = False) -> Path:
    """Write `text` to `target` atomically; returns the target."""
    return write_bytes(target, text.encode(encoding), keep_owner=keep_owner)


@contextlib.contextmanager
def replacing(target: str | os.PathLike, mode: int | None = None):
    """A temporary path beside `target` for writers that need a path (Keras's model.save, np.savez).

    The temp name keeps the target's suffix (Keras 3 insists on ".keras"). Only when the
    block ends without an error and the writer left a non-empty file is it fsynced and
    renamed over the target; otherwise it is removed and the target is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(target, "".join(target.suffixes[-1:]))
    temp.unlink()  # some writers refuse to overwrite; they get a free name in the right folder
    try:
        yield temp
        if not temp.is_file() or temp.stat().st_size == 0:
            raise OSError(f"the writer left no data in {temp.name}; {target.name} kept as it was")
        if mode is not None:
            os.chmod(temp, mode)
        _fsync_file(temp)
        os.replace(temp, target)
    except BaseException:
        _discard(temp)
        raise
    fsync_folder(target.parent)


def replace_folder(target: str | os.PathLike, write) -> Path:
    """Build a folder with `write(temp_folder)` beside `target`, then rename it to `target`.

    `target` must not exist (or be an empty folder): a folder cannot be swapped atomically
    over a non-empty one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{target.name}-", dir=target.parent))
    try:
        write(temp)
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        os.rename(temp, target)
    except BaseException:
        _discard(temp)
        raise
    fsync_folder(target.parent)
    return target
