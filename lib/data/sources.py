"""Where a custom dataset's files come from: a zip (hostile until checked) or a folder on the server.

Both give the importer the same thing: a list of `Entry` (a relative path split
into parts, its size, and a way to read its bytes with a hard cap). Nothing here
writes to disk, and the importer writes only PNG files under names it makes up
itself, so a name inside a zip never becomes a path on this machine.

What is refused outright (SourceRefused): a zip member whose path escapes
(`../`, an absolute path, a drive letter), a link inside a zip, more files or
more uncompressed bytes than the limits, a member that is bigger than its
header says, a folder outside the data root. What is skipped (and listed by the
importer): single files that are too big, encrypted, or links that leave the
data root.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# Files that operating systems leave in every folder and zip; ignored without a word.
JUNK_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}


class SourceRefused(ValueError):
    """The whole zip or folder is refused; str() is one line for the user."""


@dataclass(frozen=True)
class Limits:
    # A zip of 200,000 photos or 4 GiB of pixels is already a big dataset; a
    # zip bomb (a few KB that claims terabytes or millions of files) is not.
    max_files: int = 200_000
    max_total_bytes: int = 4 * 2**30
    max_file_bytes: int = 30 * 2**20  # one image; the same cap as the Predict page


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Entry:
    parts: tuple[str, ...]  # the path inside the zip or folder, already checked
    size: int
    read: Callable[[], bytes] = field(repr=False, compare=False)
    problem: str = ""  # set when this one file must be skipped (too big, encrypted, link)

    @property
    def path(self) -> str:
        return "/".join(self.parts)

    @property
    def is_image(self) -> bool:
        return self.path.lower().endswith(IMAGE_SUFFIXES)


def is_junk(parts: tuple[str, ...]) -> bool:
    return any(p in JUNK_NAMES or p.startswith(".") for p in parts)


# -- zips --------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_parts(name: str) -> tuple[str, ...]:
    """A member name -> its path parts, or SourceRefused if it could point outside the target."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise SourceRefused(f"the zip holds an absolute path ({name!r}); refused")
    parts = tuple(p for p in re.split(r"[/\\]", name) if p not in ("", "."))
    if ".." in parts:
        raise SourceRefused(f"the zip holds a path that climbs out of its folder ({name!r}); refused")
    return parts


def is_link(info: zipfile.ZipInfo) -> bool:
    # Unix zip tools keep the file mode in the high 16 bits of external_attr.
    return stat.S_ISLNK(info.external_attr >> 16)


@contextlib.contextmanager
def open_zip(file, limits: Limits = DEFAULT_LIMITS) -> Iterator[list[Entry]]:
    """Entries of a zip (a path or a binary file object), checked before a byte is decompressed."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise SourceRefused("this is not a readable zip file") from None
    with archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        if len(members) > limits.max_files:
            raise SourceRefused(f"the zip holds {len(members):,} files; the limit is {limits.max_files:,}")
        total = sum(i.file_size for i in members)
        if total > limits.max_total_bytes:
            raise SourceRefused(
                f"the zip unpacks to {total / 2**30:.1f} GiB; the limit is {limits.max_total_bytes / 2**30:.1f} GiB"
            )
        entries = []
        for info in members:
            parts = safe_parts(info.filename)
            if is_link(info):
                raise SourceRefused(f"the zip holds a link ({info.filename!r}); links are refused")
            if parts and not is_junk(parts):
                read = _zip_reader(archive, info, limits)
                entries.append(Entry(parts, info.file_size, read, _zip_problem(info, limits)))
        yield entries


def _zip_problem(info: zipfile.ZipInfo, limits: Limits) -> str:
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.file_size > limits.max_file_bytes:
        return f"{info.file_size / 2**20:.0f} MB; the limit for one image is {limits.max_file_bytes // 2**20} MB"
    return ""


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> Callable[[], bytes]:
    def read() -> bytes:
        # Never trust the declared size: read at most one byte more than it and
        # refuse if that byte exists. zipfile also checks the CRC at the end, so
        # a header that claims fewer bytes than the data holds fails there.
        cap = min(info.file_size, limits.max_file_bytes)
        try:
            with archive.open(info) as member:
                data = member.read(cap + 1)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise SourceRefused(f"the zip is damaged or lies about its contents at {info.filename!r} ({exc})") from None
        if len(data) > cap:
            raise SourceRefused(f"{info.filename!r} holds more bytes than the zip declares; refused")
        return data

    return read


# -- server folders ----------------------------------------------------------------
def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_folder(folder: str | Path, root: str | Path) -> Path:
    """The folder, resolved; SourceRefused unless it is an existing folder under the data root."""
    root = Path(root).resolve()
    resolved = Path(folder).expanduser().resolve()  # follows links, so a link cannot lead outside
    if not inside(resolved, root):
        raise SourceRefused(f"{folder} is not under the data root {root}; put the dataset there first")
    if not resolved.is_dir():
        raise SourceRefused(f"{folder} is not a folder")
    return resolved


def folder_entries(folder: str | Path, root: str | Path, limits: Limits = DEFAULT_LIMITS) -> list[Entry]:
    """Entries of a server folder under the data root; links leading outside the root are skipped."""
    base = check_folder(folder, root)
    root = Path(root).resolve()
    entries = []
    for dirpath, dirnames, filenames in os.walk(base):  # does not descend into linked folders
        dirnames[:] = sorted(d for d in dirnames if not is_junk((d,)))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            parts = path.relative_to(base).parts
            if is_junk(parts):
                continue
            entries.append(_folder_entry(path, parts, root, limits))
            if len(entries) > limits.max_files:
                raise SourceRefused(f"{folder} holds more than {limits.max_files:,} files; the limit")
    return entries


def _folder_entry(path: Path, parts: tuple[str, ...], root: Path, limits: Limits) -> Entry:
    real = path.resolve()
    if not inside(real, root):
        return Entry(parts, 0, _refuse_read, "a link that leads outside the data root")
    try:
        size = real.stat().st_size if real.is_file() else -1
    except OSError:
        size = -1
    if size < 0:
        return Entry(parts, 0, _refuse_read, "not a regular file")
    problem = ""
    if size > limits.max_file_bytes:
        problem = f"{size / 2**20:.0f} MB; the limit for one image is {limits.max_file_bytes // 2**20} MB"

    def read() -> bytes:
        with open(real, "rb") as f:
            return f.read(limits.max_file_bytes + 1)

    return Entry(parts, size, read, problem)


def _refuse_read() -> bytes:
    raise OSError("skipped")
