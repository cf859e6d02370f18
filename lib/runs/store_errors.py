"""What can go wrong with the run store, as one-line messages a user can act on.

Every store call from the CLI, the pages, the worker and the scheduler ends in a
StoreError (or a subclass) instead of a raw sqlite3/psycopg/OS error: its text
names the store and says what to do. The CLI prints it as `error: ...`, a page
shows it with st.error; neither shows a traceback. Database URLs are always shown
without their password.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3


class StoreError(Exception):
    """A run store fault, already phrased for a user: str(exc) is the whole message."""


class StoreLocked(StoreError):
    """Another program held the store for longer than we were willing to wait."""


class StoreUnwritable(StoreError):
    """The runs folder or database file cannot be written (permissions, read-only mount)."""


class StoreFull(StoreError):
    """The disk holding the store is full."""


class StoreDamaged(StoreError):
    """The database file is not a ConvStudio store, or is damaged."""


class StoreTooNew(StoreError):
    """Written by a newer ConvStudio whose schema this one does not know."""


class StoreUnavailable(StoreError):
    """A database server that cannot be reached or refuses us."""


class WrongRunsFolder(StoreError):
    """This machine's runs folder is not the one the store's runs were written to."""


_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """A URL or message with any `scheme://user:password@` password replaced by ***."""
    return _PASSWORD.sub(lambda m: f"{m['head']}:***@", str(text))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0][:300]) if text else type(exc).__name__


def translate(exc: BaseException, where: str, waited: float | None = None) -> StoreError:
    """Turn a database or OS error met while using the store `where` into a StoreError."""
    if isinstance(exc, StoreError):
        return exc
    where = redact(where)
    detail = _first_line(exc)
    lowered = detail.lower()
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) or "full" in lowered:
        return StoreFull(f"the disk holding the run store {where} is full ({detail}): free some space and try again")
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in lowered:
        return StoreUnwritable(
            f"the run store {where} cannot be written ({detail}): check the folder's permissions"
            " or pick another with --runs-dir / CONVSTUDIO_RUNS_DIR"
        )
    if "locked" in lowered or "busy" in lowered:
        after = f" for {waited:.0f} s" if waited else ""
        return StoreLocked(
            f"the run store {where} is locked by another program{after}: try again when it has finished"
            " (python -m lib.cli store check shows whether the file is sound)"
        )
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered
    ):
        return StoreDamaged(damaged_message(where, detail))
    if "unable to open" in lowered:
        folder = _read_only_folder(where)
        if folder:
            return StoreUnwritable(
                f"the runs folder {folder} is read-only (or not writable by this user), so the run store {where}"
                " cannot be used: make it writable, or pick another folder with --runs-dir / CONVSTUDIO_RUNS_DIR"
            )
        return StoreUnwritable(
            f"the run store {where} cannot be opened ({detail}): check that the folder exists and is writable"
        )
    if type(exc).__module__.startswith("psycopg"):
        return StoreUnavailable(
            f"the run store {where} did not answer ({detail}): is the database server running and the URL right?"
        )
    return StoreError(f"the run store {where} failed: {detail}")


def _read_only_folder(where: str) -> str | None:
    """The folder holding a store file when that folder cannot be written, else None."""
    folder = os.path.dirname(where) if where.endswith(".db") else where
    try:
        read_only = os.statvfs(folder).f_flag & os.ST_RDONLY or not os.access(folder, os.W_OK)
    except OSError:
        return None
    return folder if read_only else None


def damaged_message(where: str, detail: str) -> str:
    return (
        f"the run store {redact(where)} is damaged or is not a ConvStudio store ({detail}):"
        " restore a backup with `python -m lib.cli store restore FILE`, or move the file away to start an empty store"
    )
