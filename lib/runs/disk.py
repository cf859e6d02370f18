"""Free space before a save: fail a run with "disk full" rather than write half a file."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

MARGIN_BYTES = 20 * 2**20  # the store's own writes (metrics, the final status) need room too


class DiskFull(OSError):
    """Not enough free space for a save; an OSError with ENOSPC so every error path treats it as a full disk."""

    def __init__(self, folder: Path, free: int, needed: int):
        super().__init__(
            errno.ENOSPC,
            f"disk full: {free / 2**20:.0f} MB free in {folder}, the save needs about {needed / 2**20:.0f} MB"
            " (free some space, or move the runs folder to a larger disk)",
        )

    def __str__(self):
        return self.strerror


def ensure_free_space(folder: str | os.PathLike, needed_bytes: int, margin: int = MARGIN_BYTES) -> None:
    """Raise DiskFull unless `folder`'s filesystem has `needed_bytes` plus a margin free."""
    folder = Path(folder)
    free = shutil.disk_usage(folder).free
    if free < needed_bytes + margin:
        raise DiskFull(folder, free, needed_bytes + margin)


def estimate_model_bytes(previous: str | os.PathLike | None, parameters: int | None = None) -> int:
    """What the next save of a model will take: the size of its last save, else ~12 bytes a parameter
    (weights plus the optimizer's two moments, in float32)."""
    if previous is not None:
        try:
            return Path(previous).stat().st_size
        except OSError:
            pass
    return 12 * (parameters or 0)
