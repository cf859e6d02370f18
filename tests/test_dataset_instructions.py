"""Issue 14, defect 7: the 'dataset not here' instructions name every file the loader reads, say what
became of a download (never 'could not be downloaded' when none was tried), and keep long paths whole."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from lib.data import datasets
from tests.test_app_pages import env, open_page  # noqa: F401 - env is a fixture used below

CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No dataset in the Keras cache or Debian's folder; the returned data folder is empty."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(datasets, "DEBIAN_ROOT", tmp_path / "debian")
    datasets.load_builtin.cache_clear()
    yield str(tmp_path / "data")
    datasets.load_builtin.cache_clear()


def _message(name, data_dir, **kwargs) -> str:
    with pytest.raises(datasets.DatasetUnavailable) as err:
        datasets.load_raw(name, data_dir, **kwargs)
    return str(err.value)


def test_cifar10_instructions_name_every_file_the_loader_reads_and_the_folder(nowhere):
    message = _message("cifar10", nowhere)
    for file in CIFAR_FILES:
        assert file in message, file
    assert f"{nowhere}/cifar-10-batches-py" in message  # the exact folder to create
    assert "cifar-10-python.tar.gz" in message  # where the files come from
    assert datasets.info("cifar10").files == tuple(CIFAR_FILES)


def test_cifar10_with_only_two_batches_is_not_taken_as_present(nowhere):
    """The old list (data_batch_1, data_batch_5, test_batch) let a half-copied folder pass as the dataset."""
    folder = datasets.Path(nowhere) / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for file in ("data_batch_1", "data_batch_5", "test_batch"):
        (folder / file).write_bytes(pickle.dumps(batch))
    assert not datasets.is_available("cifar10", nowhere)
    for file in CIFAR_FILES:
        (folder / file).write_bytes(pickle.dumps(batch))
    (xtr, ytr), (xte, _) = datasets.load_raw("cifar10", nowhere)
    assert xtr.shape == (10, 32, 32, 3) and len(ytr) == 10 and len(xte) == 2


def test_offline_says_no_download_was_tried_and_why(nowhere, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_OFFLINE", "1")
    message = _message("cifar10", nowhere)
    assert "could not be downloaded" not in message and "download failed" not in message
    assert "not tried, because offline mode is on" in message
    assert "Looked for its files in" in message and str(datasets.keras_cache_dir()) in message


def test_a_local_only_read_says_no_download_was_tried(nowhere, monkeypatch):
    monkeypatch.delenv("CONVSTUDIO_OFFLINE", raising=False)
    message = _message("cifar10", nowhere, allow_download=False)
    assert "could not be downloaded" not in message
    assert "not tried (this step reads local files only)" in message


def test_a_failed_download_says_it_was_tried_and_why(nowhere, monkeypatch):
    import keras

    def refuse():
        raise OSError("no route to host")

    monkeypatch.delenv("CONVSTUDIO_OFFLINE", raising=False)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", refuse)
    with pytest.raises(datasets.DatasetUnavailable) as err:
        datasets.load_raw("cifar10", nowhere)
    assert err.value.download_error == "no route to host"
    assert "tried, download failed: no route to host" in str(err.value)


def test_data_page_before_any_download_does_not_say_it_failed(env, nowhere, monkeypatch):  # noqa: F811
    monkeypatch.delenv("CONVSTUDIO_OFFLINE", raising=False)
    at = open_page("pages/data.py")
    at.selectbox(key="w_dataset").set_value("cifar10").run()
    box = at.code[0]
    assert "Download: not tried yet." in box.value and "failed" not in box.value
    assert all(file in box.value for file in CIFAR_FILES)
    assert box.proto.wrap_lines  # the long path wraps instead of being cut off in its box
    assert at.button(key="download").label == "Try downloading it through Keras"


def test_data_page_after_a_failed_download_says_what_was_tried(env, nowhere, monkeypatch):  # noqa: F811
    def refuse(name, data_dir=None, allow_download=True):
        raise datasets.DatasetUnavailable("whatever", download_error="HTTP Error 403: Forbidden")

    monkeypatch.delenv("CONVSTUDIO_OFFLINE", raising=False)
    at = open_page("pages/data.py")
    at.selectbox(key="w_dataset").set_value("cifar10").run()
    monkeypatch.setattr(datasets, "load_raw", refuse)
    at.button(key="download").click().run()
    assert not at.exception
    assert any("HTTP Error 403: Forbidden" in e.value for e in at.error)
    assert "tried, download failed: HTTP Error 403: Forbidden" in at.code[0].value
    assert at.button(key="download").label == "Try the download again"


def test_data_page_offline_offers_no_download_and_says_so(env, nowhere):  # noqa: F811
    at = open_page("pages/data.py")  # the tests run with CONVSTUDIO_OFFLINE=1
    at.selectbox(key="w_dataset").set_value("cifar10").run()
    assert "not tried, because offline mode is on" in at.code[0].value
    assert "download" not in [b.key for b in at.button]
