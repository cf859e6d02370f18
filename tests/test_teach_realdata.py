"""Teach it on real digits: 20 corrections of a pen style LeNet-5 misreads, and a fine-tune through the engine.

Issue 16's target: with 20 corrections, accuracy on 200 held-out digits of that
style rises by at least 30 points, while accuracy on the ordinary test split
drops by at most 1 point. The style is MNIST's own digits drawn with a much
thicker pen (a 5x5 maximum filter), made here from ../shared/data/mnist.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from lib.config import TrainConfig
from lib.data import datasets
from lib.model_files import load_model
from lib.teach import finetune
from lib.train import fit

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
NAMES = [str(d) for d in range(10)]


def thick_pen(digits: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28[, 1]) -> float32 (N, 28, 28, 1) in [0, 1], every stroke about 4 px wider."""
    out = [np.asarray(Image.fromarray(d.reshape(28, 28)).filter(ImageFilter.MaxFilter(5))) for d in digits]
    return (np.stack(out).astype(np.float32) / 255.0)[..., None]


def accuracy(model, x, y) -> float:
    return float((model.predict(x, verbose=0).argmax(axis=1) == y).mean())


def train(store, config=None, run_id=None) -> str:
    run_id = run_id or store.create_run(config)
    store.claim_next(["test"])
    assert fit.train_run(store, run_id)["status"] == "completed"
    return run_id


def test_twenty_corrections_teach_a_thick_pen_without_forgetting(store, shared_data_dir):
    base = train(store, TrainConfig(dataset="mnist", architecture="lenet5", epochs=4, data_dir=shared_data_dir, seed=1))
    (x_train, y_train), (x_test, y_test) = datasets.load_raw("mnist", shared_data_dir)
    rng = np.random.default_rng(0)
    picked = np.concatenate([rng.choice(np.flatnonzero(y_train == d), 2, replace=False) for d in range(10)])
    held_out = rng.choice(len(y_test), 200, replace=False)
    style_x, style_y = thick_pen(x_test[held_out]), y_test[held_out]
    plain_x = datasets.normalise(x_test)

    box = finetune.box(store, base)
    for i, x in zip(picked, thick_pen(x_train[picked]), strict=True):  # as Predict keeps them: the exact input
        box.add(Image.fromarray((x[..., 0] * 255).astype(np.uint8)), x, int(y_train[i]), NAMES, base, "test")
    assert len(box) == 20

    child = train(store, run_id=finetune.queue(store, base))
    before, after = (load_model(store.model_path(r, "model")) for r in (base, child))
    style_gain = accuracy(after, style_x, style_y) - accuracy(before, style_x, style_y)
    plain_drop = accuracy(before, plain_x, y_test) - accuracy(after, plain_x, y_test)
    print(f"thick pen: {accuracy(before, style_x, style_y):.1%} -> {accuracy(after, style_x, style_y):.1%}; "
          f"test split: {accuracy(before, plain_x, y_test):.2%} -> {accuracy(after, plain_x, y_test):.2%}")  # fmt: skip
    assert style_gain >= 0.30
    assert plain_drop <= 0.01
    assert store.get(child).config.extra["corrections_from"] == base
