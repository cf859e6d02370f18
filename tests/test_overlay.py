"""Fixes for a built-in dataset as an overlay: applied when it is loaded for training, its files never changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from lib.data import datasets, overlay
from lib.data.info import DatasetUnavailable
from tests.helpers.blob_data import write_blob_mnist


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """CONVSTUDIO_DATA_DIR (where the overlay is kept), apart from the dataset's own folder."""
    root = tmp_path / "root"
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(root))
    return root


def relabel_and_exclude_then_undo(data_dir: str) -> None:
    folder = Path(data_dir) / "mnist"
    before_files = file_hashes(folder)
    (x, y), _ = datasets.load_raw("mnist", data_dir)
    original = datasets.prepare("mnist", data_dir, validation_split=0.0)
    n, counts = len(original.y_train), np.bincount(original.y_train, minlength=10)
    relabelled, excluded = [int(np.flatnonzero(y == 1)[0]), int(np.flatnonzero(y == 2)[0])], [5, 6]
    gone = np.bincount(y[excluded], minlength=10)

    assert overlay.fix("mnist", x, y, relabelled, 9, 10) == 2
    assert overlay.fix("mnist", x, y, excluded, None, 10) == 2
    fixed = datasets.prepare("mnist", data_dir, validation_split=0.0)  # the next load for training
    assert len(fixed.y_train) == n - 2
    expected = counts - gone
    expected[[1, 2]] -= 1
    expected[9] += 2
    assert np.bincount(fixed.y_train, minlength=10).tolist() == expected.tolist()
    labels, keep = overlay.effective_labels("mnist", x, y)
    assert labels[relabelled].tolist() == [9, 9] and not keep[excluded].any() and keep.sum() == n - 2
    assert y[relabelled].tolist() == [1, 2]  # the cached split itself is untouched
    assert file_hashes(folder) == before_files  # the built-in files are never changed
    assert overlay.summary("mnist", x, y) == {"relabelled": 2, "excluded": 2, "batches": 2}

    assert overlay.undo("mnist", x, y)["changes"] == [[5, None], [6, None]]
    assert len(datasets.prepare("mnist", data_dir, validation_split=0.0).y_train) == n
    assert overlay.undo("mnist", x, y) is not None
    back = datasets.prepare("mnist", data_dir, validation_split=0.0)
    assert np.bincount(back.y_train, minlength=10).tolist() == counts.tolist()
    assert overlay.undo("mnist", x, y) is None  # nothing left to undo
    assert file_hashes(folder) == before_files


def test_fixes_to_a_tiny_idx_mnist_apply_on_the_next_load_and_undo(data_root, tmp_path):
    relabel_and_exclude_then_undo(write_blob_mnist(tmp_path / "idx"))


@pytest.mark.realdata
def test_fixes_to_the_real_mnist_sample_apply_and_undo(data_root, shared_data_dir):
    relabel_and_exclude_then_undo(shared_data_dir)


def test_a_later_fix_wins_and_undo_restores_the_one_before(data_root, tmp_path):
    (x, y), _ = datasets.load_raw("mnist", write_blob_mnist(tmp_path / "idx"))
    overlay.fix("mnist", x, y, [0], 3, 10)
    overlay.fix("mnist", x, y, [0], None, 10)
    assert overlay.effective_labels("mnist", x, y)[1][0] == np.False_
    overlay.undo("mnist", x, y)
    labels, keep = overlay.effective_labels("mnist", x, y)
    assert keep[0] and labels[0] == 3


def test_fixes_belong_to_the_copy_of_the_split_they_were_made_on(data_root, tmp_path):
    big = write_blob_mnist(tmp_path / "big")
    small = write_blob_mnist(tmp_path / "small", train=300)
    (x, y), _ = datasets.load_raw("mnist", big)
    overlay.fix("mnist", x, y, [1, 2], None, 10)
    assert len(datasets.prepare("mnist", big, validation_split=0.0).y_train) == 598
    assert len(datasets.prepare("mnist", small, validation_split=0.0).y_train) == 300  # another MNIST: not its fixes


def test_hostile_fixes_are_refused_with_a_reason(data_root, tmp_path):
    (x, y), _ = datasets.load_raw("mnist", write_blob_mnist(tmp_path / "idx"))
    with pytest.raises(overlay.OverlayRefused, match="not one of mnist's 600 training images"):
        overlay.fix("mnist", x, y, [600], 1, 10)
    with pytest.raises(overlay.OverlayRefused, match="not one of mnist's 600"):
        overlay.fix("mnist", x, y, [-1], 1, 10)
    with pytest.raises(overlay.OverlayRefused, match="label 10 is not one of mnist's 10 classes"):
        overlay.fix("mnist", x, y, [1], 10, 10)
    with pytest.raises(overlay.OverlayRefused, match="positions"):
        overlay.fix("mnist", x, y, ["a"], 1, 10)
    with pytest.raises(overlay.OverlayRefused, match="no images chosen"):
        overlay.fix("mnist", x, y, [], 1, 10)
    with pytest.raises(overlay.OverlayRefused, match="not a built-in dataset"):
        overlay.fix("../etc", x, y, [1], 1, 10)
    assert not overlay.path("mnist").exists()  # nothing was written


def test_a_damaged_overlay_stops_training_with_a_message_and_is_not_overwritten(data_root, tmp_path):
    data_dir = write_blob_mnist(tmp_path / "idx")
    (x, y), _ = datasets.load_raw("mnist", data_dir)
    overlay.path("mnist").parent.mkdir(parents=True)
    overlay.path("mnist").write_text("{half a file", encoding="utf-8")
    with pytest.raises(DatasetUnavailable, match="move that file away"):
        datasets.prepare("mnist", data_dir)
    with pytest.raises(DatasetUnavailable):
        overlay.fix("mnist", x, y, [1], 2, 10)
    assert overlay.path("mnist").read_text(encoding="utf-8") == "{half a file"  # what was there is kept


def test_without_fixes_the_split_is_the_cached_one(data_root, tmp_path):
    (x, y), _ = datasets.load_raw("mnist", write_blob_mnist(tmp_path / "idx"))
    same_x, same_y = overlay.apply("mnist", x, y)
    assert same_x is x and same_y is y


def test_suspects_and_the_projector_see_a_built_ins_fixes_by_the_files_positions(data_root, trained_run):
    from lib.runs.store import Store
    from lib.teach import review

    runs_dir, run_id = trained_run
    store = Store(runs_dir)
    run = store.get(run_id)
    (x, y), _ = datasets.load_raw("mnist", run.config.data_dir)
    review.fix_builtin(run, [0, 1], None)
    review.fix_builtin(run, [2], (int(y[2]) + 1) % 10)
    positions, images, labels = review.training_images(run)
    assert 0 not in positions and 1 not in positions and len(positions) == len(y) - 2
    assert labels[list(positions).index(2)] == (y[2] + 1) % 10 and len(images) == len(positions)
    p, _ = review.project_run(store, run_id, split="train", method="pca")
    assert {0, 1}.isdisjoint(p.indices.tolist()) and len(p.indices) == len(y) - 2
    assert p.labels[p.indices.tolist().index(2)] == (y[2] + 1) % 10
    assert review.builtin_fixes(run) == {"relabelled": 1, "excluded": 2, "batches": 2}
    review.undo_builtin(run)
    review.undo_builtin(run)
    assert len(review.training_images(run)[0]) == len(y)


def test_the_train_page_says_when_a_built_in_will_be_read_with_fixes(data_root, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parent.parent
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    monkeypatch.syspath_prepend(str(root))

    def captions() -> list[str]:
        at = AppTest.from_file(str(root / "app.py"), default_timeout=120)
        at.switch_page("pages/train.py")
        at.run()
        assert not at.exception, at.exception
        return [c.value for c in at.caption]

    assert not any("fix(es) to its training labels" in c for c in captions())
    (x, y), _ = datasets.load_raw("mnist", write_blob_mnist(tmp_path / "idx"))
    overlay.fix("mnist", x, y, [4], None, 10)
    assert any(c.startswith("mnist has 1 fix(es) to its training labels") for c in captions())
    assert overlay.kept("cifar10") == 0 and overlay.kept("../x") == 0
