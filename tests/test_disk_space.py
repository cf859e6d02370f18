"""The worker's free-space check: a save that would not fit fails as "disk full" before writing anything."""

import errno
import shutil

import pytest

from lib.runs.disk import DiskFull, ensure_free_space, estimate_model_bytes


def test_enough_space_passes_and_too_little_is_disk_full(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    ensure_free_space(tmp_path, needed_bytes=1024)
    with pytest.raises(DiskFull) as caught:
        ensure_free_space(tmp_path, needed_bytes=free * 2)
    assert caught.value.errno == errno.ENOSPC  # every OSError path reads it as a full disk
    assert str(caught.value).startswith("disk full:") and str(tmp_path) in str(caught.value)


def test_the_next_save_is_estimated_from_the_last_one_or_the_parameter_count(tmp_path):
    previous = tmp_path / "last.keras"
    previous.write_bytes(b"x" * 5000)
    assert estimate_model_bytes(previous) == 5000
    assert estimate_model_bytes(tmp_path / "missing.keras", parameters=1000) == 12_000
