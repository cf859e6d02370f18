"""Atomic files: a kill or a full disk during any save leaves the previous good file.

Unit tests of lib/atomic_files.py (a writer that fails, one that writes nothing, a process
SIGKILLed while it rewrites a file in a loop), then the worker itself killed during each
kind of save (an epoch checkpoint, the final model) through CONVSTUDIO_FAULT points that
os._exit while the new file is half made, followed by resume and export; and a real full
disk (a small tmpfs, mounted when the tests run as root).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib import atomic_files, model_files
from lib.config import TrainConfig
from lib.runs import export
from lib.runs.store import Store
from tests.conftest import ROOT


# -- the module ----------------------------------------------------------------------
def test_write_bytes_replaces_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a.json"
    atomic_files.write_text(target, "old")
    atomic_files.write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["a.json"]


def test_a_writer_that_fails_or_writes_nothing_leaves_the_old_file(tmp_path):
    target = tmp_path / "m.keras"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError), atomic_files.replacing(target) as temp:
        assert temp.suffix == ".keras" and temp.parent == tmp_path  # Keras 3 wants the suffix
        temp.write_bytes(b"hal")
        raise RuntimeError("writer died")
    with pytest.raises(OSError, match="no data"), atomic_files.replacing(target) as temp:
        temp.write_bytes(b"")
    assert target.read_bytes() == b"good" and os.listdir(tmp_path) == ["m.keras"]


def test_new_files_are_private_and_keep_owner_keeps_the_replaced_files_owner(tmp_path):
    target = tmp_path / "secrets.toml"
    atomic_files.write_text(target, "a = 1\n")
    assert target.stat().st_mode & 0o777 == 0o600  # a secret is never readable by others, even briefly
    if os.getuid() != 0:
        pytest.skip("changing a file's owner needs root")
    os.chown(target, 65534, 65534)  # the account that runs the server, edited here by root
    atomic_files.write_text(target, "a = 2\n", keep_owner=True)
    assert (target.stat().st_uid, target.stat().st_gid) == (65534, 65534) and target.read_text() == "a = 2\n"
    atomic_files.write_text(target, "a = 3\n")
    assert target.stat().st_uid == 0


def test_a_folder_is_built_aside_then_renamed(tmp_path):
    out = tmp_path / "saved"

    def broken(tmp):
        Path(tmp, "x").write_text("1")
        raise RuntimeError("export died")

    with pytest.raises(RuntimeError):
        atomic_files.replace_folder(out, broken)
    assert not out.exists() and os.listdir(tmp_path) == []
    atomic_files.replace_folder(out, lambda tmp: Path(tmp, "x").write_text("1"))
    assert (out / "x").read_text() == "1"


LOOP = """
import sys
from lib import atomic_files
target, n = sys.argv[1], 0
while True:
    n += 1
    with atomic_files.replacing(target) as temp:
        with open(temp, "wb") as f:
            for _ in range(64):
                f.write(str(n).encode().ljust(65536, b"."))
"""


def test_a_process_sigkilled_while_rewriting_leaves_a_whole_file(tmp_path):
    target = tmp_path / "big.bin"
    proc = subprocess.Popen([sys.executable, "-c", LOOP, str(target)], cwd=ROOT)
    try:
        for delay in (0.3, 0.05, 0.11, 0.07):
            time.sleep(delay)
            proc.send_signal(signal.SIGSTOP)
            data = target.read_bytes() if target.exists() else None
            proc.send_signal(signal.SIGCONT)
            if data is not None:
                assert len(data) == 64 * 65536 and len({data[i * 65536 :][:8] for i in range(64)}) == 1
    finally:
        proc.kill()
        proc.wait()
    data = target.read_bytes()
    assert len(data) == 64 * 65536 and len({data[i * 65536 :][:8] for i in range(64)}) == 1


# -- the worker killed mid-save ----------------------------------------------------------
def tiny(data_dir, **changes):
    base = dict(dataset="mnist", architecture="simple_cnn", batch_size=32, epochs=2, data_dir=data_dir, dropout=0.0)
    return TrainConfig(**{**base, **changes})


def run_worker(runs_dir, run_id, fault):
    env = {**os.environ, "CONVSTUDIO_FAULT": fault}
    cmd = [sys.executable, "-m", "lib.train", run_id, "--runs-dir", str(runs_dir)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def train_in_process(store, run_id):
    from lib.train import fit

    assert store.claim_next(["cpu"]).id == run_id
    return fit.train_run(store, run_id)


@pytest.mark.slow
def test_killed_during_a_checkpoint_save_keeps_the_last_one_then_resumes_and_exports(
    store, runs_dir, tiny_data_dir, tmp_path
):
    run_id = store.create_run(tiny(tiny_data_dir))
    assert store.claim_next(["cpu"]).id == run_id
    done = run_worker(runs_dir, run_id, "kill-during-checkpoint-save")
    assert done.returncode == 137, done.stderr  # killed at epoch 2's save, its temp file half kept
    last = store.model_path(run_id, "last")
    assert model_files.loads(last, store.root)  # epoch 1's checkpoint, whole
    assert store.get(run_id).epochs_completed == 1
    store.finish(run_id, "interrupted", error="worker killed")
    assert store.requeue(run_id)
    assert [p.name for p in store.run_dir(run_id).glob(".tmp-last.keras-*")]  # what the kill left...
    assert train_in_process(store, run_id)["status"] == "completed"
    assert not list(store.run_dir(run_id).glob(".tmp-*"))  # ...the next save of that file removes
    out = export.export_model(store, run_id, "keras", tmp_path / "out.keras")
    assert model_files.loads(out, tmp_path)


@pytest.mark.slow
def test_resume_falls_back_to_the_newest_checkpoint_that_loads(trained_run, tmp_path):
    from lib.train import fit

    shutil.copytree(trained_run[0], tmp_path / "runs")
    store, run_id = Store(tmp_path / "runs"), trained_run[1]
    assert fit.resume_checkpoint(store, run_id) == store.model_path(run_id, "last")
    store.model_path(run_id, "last").write_bytes(b"PK\x03\x04 damaged")
    assert fit.resume_checkpoint(store, run_id) == store.model_path(run_id, "best")
    store.model_path(run_id, "best").write_bytes(b"")
    assert fit.resume_checkpoint(store, run_id) is None  # starts again from scratch


@pytest.mark.slow
def test_killed_during_the_final_model_save_keeps_the_previous_model_for_export(
    store, runs_dir, tiny_data_dir, tmp_path
):
    run_id = store.create_run(tiny(tiny_data_dir, epochs=1))
    train_in_process(store, run_id)
    model = store.model_path(run_id, "model")
    before = model.read_bytes()
    store.update_config(run_id, store.get(run_id).config.replace(epochs=2))  # continue one more epoch
    assert store.requeue(run_id)
    assert store.claim_next(["cpu"]).id == run_id
    done = run_worker(runs_dir, run_id, "kill-during-model-save")
    assert done.returncode == 137, done.stderr
    assert model.read_bytes() == before and model_files.loads(model, store.root)
    out = export.export_model(store, run_id, "keras", tmp_path / "out.keras")
    assert out.read_bytes() == before
    store.finish(run_id, "interrupted", error="worker killed")
    assert store.requeue(run_id)
    assert train_in_process(store, run_id)["status"] == "completed"
    assert model_files.loads(model, store.root) and model.read_bytes() != before


def test_an_empty_model_is_never_exported(store, tmp_path):
    from lib.config import TrainConfig as Config

    run_id = store.create_run(Config(dataset="mnist", architecture="simple_cnn"))
    store.model_path(run_id, "model").parent.mkdir(parents=True, exist_ok=True)
    store.model_path(run_id, "model").write_bytes(b"")
    with pytest.raises(model_files.ModelRefused, match="empty"):
        export.export_model(store, run_id, "keras", tmp_path / "out.keras")
    assert not (tmp_path / "out.keras").exists()


# -- a real full disk ----------------------------------------------------------------------
@pytest.fixture
def small_tmpfs(tmp_path):
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root (the CI runs as root)")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_keeps_the_previous_file_and_says_disk_full(small_tmpfs):
    target = small_tmpfs / "last.keras"
    atomic_files.write_bytes(target, b"good" * 1000)
    with pytest.raises(OSError) as caught, atomic_files.replacing(target) as temp:
        with open(temp, "wb") as f:
            f.write(b"x" * 4 * 2**20)  # more than the 3 MB disk holds
    assert caught.value.errno == 28 and target.read_bytes() == b"good" * 1000
    assert os.listdir(small_tmpfs) == ["last.keras"]


@pytest.mark.slow
def test_the_worker_fails_a_run_with_disk_full_before_writing_on_a_full_disk(small_tmpfs, tiny_data_dir):
    store = Store(small_tmpfs / "runs")
    run_id = store.create_run(tiny(tiny_data_dir, epochs=1))
    assert store.claim_next(["cpu"]).id == run_id
    done = run_worker(small_tmpfs / "runs", run_id, "")
    run = store.get(run_id)
    assert done.returncode == 1 and run.status == "failed" and "disk full" in run.error
    assert not [p for p in store.run_dir(run_id).iterdir() if p.suffix == ".keras"]
