"""The custom dataset page through Streamlit's AppTest: upload a zip, see the preview, save, refuse a hostile zip."""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from lib.data import custom, datasets
from tests.conftest import ROOT
from tests.test_custom_datasets import class_members, make_zip, png

PAGE = str(ROOT / "pages" / "custom_data.py")


@pytest.fixture
def root(tmp_path, monkeypatch, runs_dir):
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(path))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    return path


def upload(tmp_path, members: dict) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    data = make_zip(tmp_path / "upload.zip", members).read_bytes()
    at.file_uploader(key="cd_upload").set_value(("shapes.zip", data, "application/zip")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_uploaded_zip_is_previewed_then_saved(root, tmp_path):
    at = upload(tmp_path, {**class_members(), "shapes/notes.txt": b"hello"})
    assert [m.value for m in at.metric] == ["3", "30", "6"]  # classes, then 15% of each class held out
    assert any("1 file(s) were skipped" in w.value for w in at.warning)
    assert at.selectbox[0].value == 32  # the size suggested from the 40 px images

    at.text_input[0].input("shapes")
    at.button[0].click().run()  # the form's Save button
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved **shapes**" in s.value for s in at.success)
    assert "shapes" in datasets.names()
    assert datasets.info("shapes").input_shape == (32, 32, 3)
    assert any("shapes: 3 classes" in e.label for e in at.expander)  # listed under Saved datasets


def test_hostile_zip_is_refused_on_the_page(root, tmp_path):
    at = upload(tmp_path, {**class_members(), "../../evil.png": png()})
    assert any("climbs out of its folder" in e.value for e in at.error)
    assert not at.text_input  # no way to save it
    assert custom.saved_names() == []
    assert not (tmp_path / "evil.png").exists()


def test_server_folder_is_imported_from_the_data_root(root, tmp_path):
    for name, data in class_members(top="").items():
        (root / "photos" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "photos" / name).write_bytes(data)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="cd_kind").set_value("A folder on this server").run()
    assert at.selectbox(key="cd_folder").options == ["photos"]
    at.selectbox(key="cd_folder").set_value("photos").run()
    at.text_input[0].input("photos")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert custom.saved_names() == ["photos"]


def test_saved_dataset_is_shown_on_the_data_page_like_a_builtin(root, tmp_path):
    custom.add("shapes", make_zip(tmp_path / "s.zip", class_members()))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    picker = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Dataset"))
    assert "shapes" in picker.options and "MNIST handwritten digits" in picker.options[0]
    picker.set_value("shapes").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Training images"] == "30" and shown["Image shape"] == "32 x 32 x 3"


def test_an_upload_over_the_administrators_limit_is_refused_before_it_is_opened(root, tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[convstudio]\nmax_upload_mb = 1\n")
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    padding = {f"shapes/noise/{i}.bin": os.urandom(256 * 1024) for i in range(6)}  # 1.5 MB that will not compress
    at = upload(tmp_path, {**class_members(), **padding})
    assert any("this server accepts uploads up to 1 MB" in e.value for e in at.error)
    assert not at.metric and not at.button  # no preview, nothing to save
    assert custom.saved_names() == []
