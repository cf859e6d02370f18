"""A store that survives its faults: locked, unwritable, full, damaged, old, new or odd stores.

Each fault ends in one clear line (CLI: `error: ...` and a non-zero exit; no traceback)
and loses nothing that was saved. The SQLite store is the one these faults hit; the
PostgreSQL server guards its own files.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lib.config import TrainConfig
from lib.runs import schema
from lib.runs.store import Store
from lib.runs.store_errors import StoreDamaged, StoreError, StoreFull, StoreTooNew
from tests.conftest import ROOT


def cli(runs_dir, *args, env=None, timeout=120):
    env = {**os.environ, "CONVSTUDIO_RUNS_DIR": str(runs_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_clear_line(result, *words):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def make(store, **changes):
    return store.create_run(TrainConfig(**changes))


# -- damaged files ---------------------------------------------------------------------
def test_a_database_of_random_bytes_is_refused_at_open_and_a_backup_restores_it(runs_dir):
    store = Store(runs_dir)
    kept = make(store)
    backup = subprocess.run(
        [sys.executable, "-m", "lib.cli", "store", "backup", "--out", str(runs_dir.parent / "good.db")],
        cwd=ROOT, env={**os.environ, "CONVSTUDIO_RUNS_DIR": str(runs_dir)}, capture_output=True, text=True,
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    store.close()
    store.db_path.write_bytes(os.urandom(64 * 1024))
    for suffix in ("-wal", "-shm"):
        Path(f"{store.db_path}{suffix}").unlink(missing_ok=True)

    with pytest.raises(StoreDamaged, match="store restore"):
        Store(runs_dir)
    assert_one_clear_line(cli(runs_dir, "runs"), "damaged", "store restore")
    check = cli(runs_dir, "store", "check")
    assert check.returncode == 1 and "Traceback" not in check.stderr and "damaged" in check.stdout

    restored = cli(runs_dir, "store", "restore", str(runs_dir.parent / "good.db"))
    assert restored.returncode == 0, restored.stderr
    assert "moved to" in restored.stdout  # the damaged file is kept aside, not deleted
    assert [r.id for r in Store(runs_dir).list_runs()] == [kept]


def test_a_damaged_page_inside_a_real_database_is_found_by_the_check(runs_dir):
    store = Store(runs_dir)
    for _ in range(200):
        make(store)
    store.close()
    with sqlite3.connect(store.db_path) as db:  # fold the WAL into the file, then damage an index page
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs_status'").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    with open(store.db_path, "r+b") as f:
        f.seek((page - 1) * size + 8)
        f.write(os.urandom(size - 8))
    with pytest.raises(StoreDamaged):
        Store(runs_dir)
    assert_one_clear_line(cli(runs_dir, "runs"), "damaged")


# -- what an older or newer ConvStudio left -------------------------------------------
def make_v1_store(runs_dir: Path) -> str:
    """A store exactly as ConvStudio wrote it before schema versions existed, with one finished run."""
    runs_dir.mkdir(parents=True)
    db = sqlite3.connect(runs_dir / "convstudio.db")
    db.executescript(schema.V1.format(seq="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL", bigint="INTEGER"))
    db.execute(
        "INSERT INTO runs (id, created, status, config, dataset, architecture, test_accuracy, epochs_completed)"
        " VALUES ('20250101-000000-abcdef', 1.0, 'completed', ?, 'mnist', 'simple_cnn', 0.9, 3)",
        (TrainConfig().to_json(),),
    )
    db.commit()
    db.close()
    return "20250101-000000-abcdef"


def test_an_older_store_is_backed_up_then_migrated_in_place(runs_dir):
    run_id = make_v1_store(runs_dir)
    store = Store(runs_dir)
    assert store.migrated_from == 1
    backups = list(runs_dir.glob("convstudio.db.v1-*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as old:  # the backup is the store as it was
        assert old.execute("PRAGMA user_version").fetchone()[0] == 0
        assert old.execute("SELECT test_accuracy FROM runs").fetchone()[0] == 0.9
    run = store.get(run_id)
    assert (run.status, run.test_accuracy, run.attempt, run.heartbeat) == ("completed", 0.9, 0, None)
    assert Store(runs_dir).migrated_from is None  # once only
    assert store.backend.run(lambda db: db.execute("PRAGMA user_version").fetchone())["user_version"] == schema.VERSION


def test_a_store_from_a_newer_convstudio_is_refused_and_left_alone(runs_dir):
    store = Store(runs_dir)
    make(store)
    store.backend.run(lambda db: db.execute("PRAGMA user_version = 99"))
    store.close()
    before = store.db_path.read_bytes()
    with pytest.raises(StoreTooNew, match="newer ConvStudio"):
        Store(runs_dir)
    assert_one_clear_line(cli(runs_dir, "runs"), "newer ConvStudio", "schema 99")
    assert store.db_path.read_bytes() == before


def test_an_extra_column_and_an_unknown_config_key_are_ignored(runs_dir):
    store = Store(runs_dir)
    run_id = make(store)
    store._write(lambda db: db.execute("ALTER TABLE runs ADD COLUMN colour TEXT DEFAULT 'blue'"))
    store._write(
        lambda db: db.execute("UPDATE runs SET config = json_set(config, '$.future_knob', 3) WHERE id = ?", (run_id,))
    )
    runs = Store(runs_dir).list_runs()
    assert [r.id for r in runs] == [run_id] and runs[0].ignored_keys == ("future_knob",)
    listing = cli(runs_dir, "runs", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [r["run_id"] for r in json.loads(listing.stdout)] == [run_id]


def test_one_unreadable_row_is_reported_and_the_others_are_listed(runs_dir):
    store = Store(runs_dir)
    good, bad = make(store), make(store)
    store._write(lambda db: db.execute("UPDATE runs SET config = '{not json' WHERE id = ?", (bad,)))
    assert [r.id for r in store.list_runs()] == [good]
    assert [b.run_id for b in store.bad_rows] == [bad]
    with pytest.raises(StoreError, match=bad):
        store.get(bad)
    listing = cli(runs_dir, "runs")
    assert listing.returncode == 0 and good in listing.stdout
    assert f"warning: run {bad} cannot be read" in listing.stderr and "Traceback" not in listing.stderr


# -- a store held by another program ---------------------------------------------------
@pytest.mark.slow
def test_a_store_locked_for_a_minute_is_a_clear_error_and_a_late_result_is_still_recorded(runs_dir):
    store = Store(runs_dir)
    run_id = make(store)
    store.claim_next(["cpu"])
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.late_finisher", str(runs_dir), run_id],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert worker.stdout.readline().strip() == "ready"
    locker = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.store_locker", str(store.db_path), "60"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert locker.stdout.readline().strip() == "locked"
    locked_at = time.time()
    worker.stdin.write("go\n")
    worker.stdin.flush()  # the worker's final write now waits on the lock

    listing = cli(runs_dir, "runs")
    assert listing.returncode == 0 and run_id in listing.stdout  # readers are not held up (WAL)
    started = time.time()
    stop = cli(runs_dir, "stop", run_id, env={"CONVSTUDIO_STORE_WAIT_S": "5"})
    assert_one_clear_line(stop, "locked by another program")
    assert time.time() - started < 30  # bounded: the user is not left staring at a hung command

    assert worker.communicate(timeout=200)[0].strip() == "recorded"
    assert time.time() >= locked_at + 59  # it waited the lock out instead of giving up
    assert locker.wait(timeout=10) == 0
    run = Store(runs_dir).get(run_id)
    assert run.status == "failed" and "recorded late" in run.error


def test_a_ctrl_c_while_waiting_for_the_lock_leaves_no_transaction_holding_it(runs_dir):
    """`cli train`'s first Ctrl-C often lands while a store call waits for the write lock: the signal
    is raised just after BEGIN IMMEDIATE returns, before the code that would roll it back. The
    connection then held the lock: the stop request failed ("cannot start a transaction within a
    transaction") and the worker could write nothing until the command exited (CI saw it hang)."""
    store = Store(runs_dir)
    run_id = make(store)
    store.claim_next(["cpu"])
    other = sqlite3.connect(store.db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process writing, for one second
    threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT)).start()  # Ctrl-C while waiting for it
    threading.Timer(1.0, other.execute, ("ROLLBACK",)).start()
    with pytest.raises(KeyboardInterrupt):
        store.request_stop(run_id)
    assert store.request_stop(run_id)  # the same connection works again
    probe = sqlite3.connect(store.db_path, timeout=1, isolation_level=None)
    probe.execute("BEGIN IMMEDIATE")  # and holds no lock: the worker can write
    probe.execute("ROLLBACK")


# -- the disk under the store -----------------------------------------------------------
def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB filesystem of its own (a tmpfs: needs root; skipped otherwise)."""
    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, "2m"):
        pytest.skip("needs root to mount a small tmpfs (the full-disk and read-only cases)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_a_clear_error_and_loses_nothing_saved(small_disk, tiny_data_dir):
    runs_dir = small_disk / "runs"
    store = Store(runs_dir)
    kept = make(store)
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # fill the disk to the last block
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    with pytest.raises(StoreFull, match="is full"):
        for _ in range(200):  # a new run needs a folder and a row: one of them hits the full disk
            make(store)
    assert_one_clear_line(cli(runs_dir, "train", "--detach", "--data-dir", tiny_data_dir), "full")
    filler.unlink()
    listed = [r.id for r in Store(runs_dir).list_runs()]
    assert kept in listed


def test_a_read_only_runs_folder_is_a_clear_error(small_disk, tiny_data_dir):
    runs_dir = small_disk / "runs"
    store = Store(runs_dir)
    make(store)
    store.close()
    assert subprocess.run(["mount", "-o", "remount,ro", str(small_disk)]).returncode == 0
    with pytest.raises(StoreError, match="cannot be"):
        Store(runs_dir)
    assert_one_clear_line(cli(runs_dir, "runs"), str(runs_dir))
    assert_one_clear_line(cli(runs_dir, "train", "--detach", "--data-dir", tiny_data_dir), str(runs_dir))
