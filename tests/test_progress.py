"""lib.runs.progress: the one record the worker writes and the sidebar, live view and CLI read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lib.runs.progress import VERSION, BatchRow, Progress


def test_round_trip_and_one_meaning_per_field():
    p = Progress("training", epoch=2, epochs=5, batch=40, steps=94, eta_seconds=31.0, loss=0.5)
    assert Progress.from_json(p.to_json()) == p
    assert json.loads(p.to_json())["version"] == VERSION
    assert p.describe() == "epoch 2/5 · batch 40/94 · 0:31 left"
    assert p.fraction_done == pytest.approx((1 + 40 / 94) / 5)


def test_a_reader_keeps_what_it_knows_from_a_newer_or_damaged_record():
    newer = {"version": VERSION + 1, "phase": "training", "epoch": 1, "epochs": 2, "steps": 10, "batch": 3, "gpu": 7}
    assert Progress.from_dict(newer).batch == 3  # the unknown "gpu" field is ignored
    assert Progress.from_json("not json") == Progress()
    assert Progress.from_json('["a list"]') == Progress()
    assert Progress.from_dict({"epoch": "two", "phase": "training"}) == Progress("training")


def test_batch_never_passes_the_epoch_length():
    assert Progress("training", epoch=1, epochs=3, batch=72, steps=71).describe().startswith("epoch 1/3 · batch 71/71")
    assert Progress("training", epochs=3).describe() == "starting 3 epoch(s)"
    assert Progress("evaluating").describe() == "evaluating"


class _Recorder:
    """The two store calls the callback makes, kept in memory."""

    def __init__(self, tmp_path):
        self.progress, self.rows, self.tmp_path = [], [], tmp_path

    def stop_file(self, run_id):
        return self.tmp_path / "stop"

    def model_path(self, run_id, which):
        return self.tmp_path / f"{which}.keras"

    def update_progress(self, run_id, progress, batch_rows=(), epochs_completed=None):
        self.progress.append(progress)
        self.rows += list(batch_rows)

    def add_epoch(self, run_id, row):
        pass


def test_the_callback_writes_typed_records_that_never_overshoot(tmp_path):
    """71 batches an epoch, 4 per compiled call: Keras reports the last call's batches in full ("batch 72/71")."""
    keras = pytest.importorskip("keras")
    from lib.train.callback import StoreCallback

    x = np.random.default_rng(0).random((71, 4)).astype("float32")
    y = (x.sum(axis=1) > 2).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=4)
    store = _Recorder(tmp_path)
    callback = StoreCallback(store, "run", epochs=2, steps_per_epoch=71, batch_size=1, train_size=71, interval=0.0)
    model.fit(x, y, batch_size=1, epochs=2, callbacks=[callback], verbose=0)
    assert store.progress and all(isinstance(p, Progress) for p in store.progress)
    assert all(p.batch <= p.steps == 71 and 1 <= p.epoch <= 2 for p in store.progress)
    assert all(isinstance(r, BatchRow) and 1 <= r.batch <= 71 for r in store.rows)
    assert store.progress[-1].epoch == 2 and store.progress[-1].batch == 71
