"""Corrections (lib.teach.corrections): kept whole, read back exactly, mixed into a fine-tune set."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib.teach import corrections
from lib.teach.corrections import CorrectionBox, CorrectionRefused

NAMES = [str(d) for d in range(10)]


def an_input(value: float = 0.5, shape=(28, 28, 1)) -> np.ndarray:
    return np.full(shape, value, np.float32)


def test_a_correction_keeps_the_original_and_the_exact_model_input(tmp_path):
    box = CorrectionBox(tmp_path / "corrections")
    photo = Image.new("RGB", (3000, 1500), "white")
    x = np.random.default_rng(0).random((28, 28, 1), dtype=np.float32)
    c = box.add(photo, x, 7, NAMES, "run1", source="seven.png", predicted=1, confidence=0.8)
    assert (c.label, c.label_name, c.run_id, c.predicted, c.source) == (7, "7", "run1", 1, "seven.png")
    assert [r.id for r in box.records()] == [c.id]
    assert np.array_equal(box.model_input(c.id), x)  # bit for bit what the model saw
    assert max(box.original(c.id).size) == corrections.ORIGINAL_MAX_SIDE  # a big photo is shrunk for showing
    xs, ys = box.arrays((28, 28, 1))
    assert xs.shape == (1, 28, 28, 1) and list(ys) == [7]


def test_an_empty_box_gives_empty_arrays_of_the_right_shape(tmp_path):
    xs, ys = CorrectionBox(tmp_path / "none").arrays((32, 32, 3))
    assert xs.shape == (0, 32, 32, 3) and ys.shape == (0,)
    assert len(CorrectionBox(tmp_path / "none")) == 0


def test_inputs_of_another_shape_are_left_out_of_the_arrays(tmp_path):
    box = CorrectionBox(tmp_path)
    box.add(Image.new("L", (28, 28)), an_input(), 1, NAMES, "r")
    box.add(Image.new("RGB", (32, 32)), an_input(shape=(32, 32, 3)), 2, NAMES, "r")
    xs, ys = box.arrays((28, 28, 1))
    assert list(ys) == [1]


@pytest.mark.parametrize("label", [-1, 10, "3", 2.0, True, None])
def test_a_label_outside_the_classes_is_refused(tmp_path, label):
    with pytest.raises(CorrectionRefused, match="not one of this model's 10 classes"):
        CorrectionBox(tmp_path).add(Image.new("L", (28, 28)), an_input(), label, NAMES, "r")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "bad", [np.full((28, 28), 0.5, np.float32), np.full((28, 28, 1), 2.0, np.float32),
            np.full((28, 28, 1), np.nan, np.float32), np.zeros((28, 28, 1), np.uint8)],
)  # fmt: skip
def test_a_model_input_that_is_not_an_image_in_0_1_is_refused(tmp_path, bad):
    with pytest.raises(CorrectionRefused, match="model input"):
        CorrectionBox(tmp_path).add(Image.new("L", (28, 28)), bad, 1, NAMES, "r")


def test_a_failed_write_leaves_no_half_correction(tmp_path, monkeypatch):
    box = CorrectionBox(tmp_path)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(corrections.np, "save", fail)
    with pytest.raises(OSError):
        box.add(Image.new("L", (28, 28)), an_input(), 1, NAMES, "r")
    assert list(tmp_path.iterdir()) == []
    assert box.records() == []


def test_a_damaged_record_is_skipped_not_fatal(tmp_path):
    box = CorrectionBox(tmp_path)
    good = box.add(Image.new("L", (28, 28)), an_input(), 4, NAMES, "r")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / corrections.RECORD).write_text("{not json")
    assert [c.id for c in box.records()] == [good.id]


def test_relabel_and_remove(tmp_path):
    box = CorrectionBox(tmp_path)
    c = box.add(Image.new("L", (28, 28)), an_input(), 4, NAMES, "r")
    assert box.relabel(c.id, 9, NAMES).label_name == "9"
    assert box.records()[0].label == 9
    box.remove(c.id)
    assert box.records() == []
    with pytest.raises(CorrectionRefused, match="no correction"):
        box.remove(c.id)
    with pytest.raises(CorrectionRefused, match="no correction"):
        box.remove("../../etc")


def test_the_count_per_run_is_limited(tmp_path, monkeypatch):
    monkeypatch.setattr(corrections, "MAX_PER_RUN", 2)
    box = CorrectionBox(tmp_path)
    for _ in range(2):
        box.add(Image.new("L", (28, 28)), an_input(), 1, NAMES, "r")
    with pytest.raises(CorrectionRefused, match="already has 2 corrections"):
        box.add(Image.new("L", (28, 28)), an_input(), 1, NAMES, "r")


@pytest.mark.parametrize(("given", "index"), [("7", 7), (3, 3), ("3", 3)])
def test_class_index_takes_a_name_or_a_number(given, index):
    assert corrections.class_index(given, NAMES) == index


def test_class_index_refuses_an_unknown_name():
    with pytest.raises(CorrectionRefused, match="choose one of cat, dog"):
        corrections.class_index("cow", ["cat", "dog"])


# -- the mix ---------------------------------------------------------------------------
def test_mix_oversamples_corrections_to_a_quarter_and_replays_training_images():
    cx, cy = np.ones((20, 4, 4, 1), np.float32), np.full(20, 9)
    tx, ty = np.zeros((10_000, 4, 4, 1), np.float32), np.arange(10_000) % 9
    x, y = corrections.mix(cx, cy, tx, ty, seed=0)
    from_corrections = int((x.reshape(len(x), -1)[:, 0] == 1).sum())
    assert len(x) - from_corrections == corrections.REPLAY_MIN  # max(2,000, 50 x 20)
    assert from_corrections / len(x) == pytest.approx(corrections.CORRECTION_SHARE, abs=0.02)
    assert (y[x.reshape(len(x), -1)[:, 0] == 1] == 9).all()
    assert y.dtype == np.int64 and x.dtype == np.float32
    assert not (y[:50] == 9).all()  # shuffled, not corrections first


def test_mix_replays_all_of_a_small_training_set_and_decodes_lazy_images():
    class Lazy:  # stands in for a custom dataset's ImageFiles: indexing gives fewer files, to_array decodes
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, index):
            return Lazy(len(index))

        def to_array(self):
            return np.full((self.n, 4, 4, 3), 0.25, np.float32)

    x, y = corrections.mix(np.ones((2, 4, 4, 3), np.float32), np.array([0, 1]), Lazy(30), np.zeros(30, int))
    assert (x == 0.25).all(axis=(1, 2, 3)).sum() == 30


def test_mix_without_corrections_is_refused():
    with pytest.raises(CorrectionRefused, match="no corrections"):
        corrections.mix(np.zeros((0, 4, 4, 1)), np.zeros(0), np.zeros((5, 4, 4, 1)), np.zeros(5))
