"""Model files only from the runs folder: links and zip bombs are refused by every reader.

A link in place of model.keras (to a good model elsewhere, or to /etc/passwd), a linked run
folder, and a .keras archive that unpacks past the limit: predict, evaluate and export (library
and CLI) and the Runs page's download all refuse with a clear message and write nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from lib import model_files
from lib.inference import evaluation, prediction
from lib.model_files import ModelRefused
from lib.runs import export
from lib.runs.store import Store
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def copied_run(trained_run, tmp_path):
    runs_dir, run_id = trained_run
    shutil.copytree(runs_dir, tmp_path / "runs")
    return Store(tmp_path / "runs"), run_id


def cli(store, *args):
    cmd = [sys.executable, "-m", "lib.cli", "--runs-dir", str(store.root), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)


def digit(tmp_path):
    from PIL import Image

    image = Image.new("L", (28, 28))
    image.paste(255, (10, 4, 18, 24))
    image.save(tmp_path / "digit.png")
    return str(tmp_path / "digit.png")


@pytest.mark.parametrize("target", ["good model elsewhere", "/etc/passwd"])
def test_a_linked_model_is_refused_by_predict_evaluate_and_export(copied_run, tmp_path, target):
    store, run_id = copied_run
    path = store.model_path(run_id)
    if target == "/etc/passwd":
        pointee = "/etc/passwd"
    else:
        pointee = tmp_path / "elsewhere.keras"
        shutil.copyfile(path, pointee)
    path.unlink()
    path.symlink_to(pointee)
    with pytest.raises(ModelRefused, match="link"):
        prediction.load_run_model(store, run_id)
    with pytest.raises(ModelRefused, match="link"):
        prediction.load_model(path)
    with pytest.raises(ModelRefused, match="link"):
        evaluation.evaluate_run(store, run_id)
    for fmt in export.FORMATS:
        with pytest.raises(ModelRefused, match="link"):
            export.export_model(store, run_id, fmt, tmp_path / f"out-{fmt}")
        assert not (tmp_path / f"out-{fmt}").exists()
    with pytest.raises(ModelRefused, match="link"):
        model_files.read_model_bytes(path, store.root)  # what the Runs page's download reads
    image = digit(tmp_path)
    for command in (
        ["predict", "--run", run_id, image],
        ["evaluate", "--run", run_id],
        ["export", "--run", run_id, "--format", "keras", "--out", str(tmp_path / "cli.keras")],
    ):
        done = cli(store, *command)
        assert done.returncode != 0 and "error:" in done.stderr and "link" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "cli.keras").exists()


def test_a_linked_run_folder_is_refused(copied_run, tmp_path):
    store, run_id = copied_run
    moved = tmp_path / "moved"
    store.run_dir(run_id).rename(moved)
    store.run_dir(run_id).symlink_to(moved, target_is_directory=True)
    with pytest.raises(ModelRefused, match="link"):
        prediction.load_run_model(store, run_id)
    with pytest.raises(ModelRefused, match="link"):
        export.export_model(store, run_id, "keras", tmp_path / "out.keras")


def zip_bomb(path, megabytes=4):
    """A .keras-looking archive whose config is megabytes of padding that compress ~1000x."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", "{}")
        with archive.open("config.json", "w") as member:
            for _ in range(megabytes):
                member.write(b" " * 2**20)


def test_a_zip_bomb_model_is_refused_before_loading(copied_run, tmp_path, monkeypatch):
    store, run_id = copied_run
    zip_bomb(store.model_path(run_id))
    with pytest.raises(ModelRefused, match="zip bomb"):
        model_files.load_model(store.model_path(run_id))
    with pytest.raises(ModelRefused, match="zip bomb"):
        export.export_model(store, run_id, "keras", tmp_path / "out.keras")
    done = cli(store, "predict", "--run", run_id, digit(tmp_path))
    assert done.returncode != 0 and "zip bomb" in done.stderr and "Traceback" not in done.stderr
    # past the size limit, however well or badly it compresses
    monkeypatch.setattr(model_files, "MAX_UNPACKED_BYTES", 2**20)
    monkeypatch.setattr(model_files, "MAX_RATIO", 10**9)
    with pytest.raises(ModelRefused, match="would unpack to 4 MB"):
        model_files.check_model_file(store.model_path(run_id))


def test_a_real_model_passes_the_checks(copied_run):
    store, run_id = copied_run
    path = model_files.check_model_file(store.model_path(run_id), store.root)
    assert model_files.read_model_bytes(path, store.root) == path.read_bytes()


def test_the_runs_page_offers_no_download_of_a_linked_model(copied_run, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    store, run_id = copied_run
    path = store.model_path(run_id)
    path.unlink()
    path.symlink_to("/etc/passwd")
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(store.root))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/runs.py").run()
    at.session_state["cs_runs_selected"] = [run_id]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be offered for download" in e.value and "link" in e.value for e in at.error)
    assert at.get("download_button")[0].proto.disabled  # the .keras download is off


@pytest.mark.parametrize("page", ["pages/predict.py", "pages/evaluate.py"])
def test_the_predict_and_evaluate_pages_refuse_a_linked_model(copied_run, tmp_path, monkeypatch, page):
    from streamlit.testing.v1 import AppTest

    store, run_id = copied_run
    path = store.model_path(run_id)
    shutil.copyfile(path, tmp_path / "elsewhere.keras")
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.keras")  # a good model, but not one the store wrote here
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(store.root))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("link" in e.value for e in at.error), [e.value for e in at.error]
