"""Dataset resolution offline, the IDX reader, stratified limits and splits."""

import gzip

import numpy as np
import pytest

from lib.data import datasets


def test_data_dir_is_searched_first_and_normalised(tiny_data_dir):
    assert datasets.locate("mnist", tiny_data_dir).parent.as_posix() == tiny_data_dir
    data = datasets.prepare("mnist", tiny_data_dir, validation_split=0.1, seed=1)
    assert data.x_train.shape[1:] == (28, 28, 1) and data.x_train.dtype == np.float32
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert len(data.x_train) + len(data.x_val) == 600 and len(data.x_val) == 60
    assert len(data.x_test) == 200


def test_train_limit_is_stratified(tiny_data_dir):
    data = datasets.prepare("mnist", tiny_data_dir, train_limit=100, validation_split=0.0)
    assert len(data.y_train) == 100
    assert np.bincount(data.y_train).tolist() == [10] * 10


def test_stratified_indices_keep_class_shares_and_are_unique():
    labels = np.array([0] * 90 + [1] * 10)
    picked = datasets.stratified_indices(labels, 20, seed=3)
    assert len(set(picked)) == 20
    assert np.bincount(labels[picked]).tolist() == [18, 2]


def test_missing_dataset_says_where_to_put_files_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(datasets, "DEBIAN_ROOT", tmp_path / "debian")
    datasets.load_builtin.cache_clear()
    with pytest.raises(datasets.DatasetUnavailable) as err:
        datasets.load_raw("cifar10", str(tmp_path), allow_download=False)
    message = str(err.value)
    assert "cifar-10-batches-py" in message and "data_batch_1" in message and "--data-dir" in message


def test_failed_download_is_a_clear_error_not_a_hang(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(datasets, "DEBIAN_ROOT", tmp_path / "debian")
    monkeypatch.delenv("CONVSTUDIO_OFFLINE", raising=False)
    datasets.load_builtin.cache_clear()
    start = time.time()
    with pytest.raises(datasets.DatasetUnavailable) as err:
        datasets.load_raw("mnist", str(tmp_path))
    assert time.time() - start < 35
    assert "download failed" in str(err.value)


def test_corrupt_idx_files_are_refused(tmp_path):
    bad = tmp_path / "x.gz"
    with gzip.open(bad, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 10)
    with pytest.raises(datasets.DatasetUnavailable, match="truncated"):
        datasets.read_idx(bad)
    (tmp_path / "y.gz").write_bytes(b"not gzip at all")
    with pytest.raises(datasets.DatasetUnavailable):
        datasets.read_idx(tmp_path / "y.gz")


def test_registry_describes_every_builtin():
    for name in datasets.names():
        meta = datasets.info(name)
        assert meta.num_classes == len(meta.class_names) >= 10
        assert meta.input_shape in ((28, 28, 1), (32, 32, 3))
