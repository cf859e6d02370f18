"""Real MNIST digits redrawn on a 280x280 canvas are predicted as well as the 28x28 originals.

A LeNet-5 is trained in-process on the 8,000 training digits of ../shared/data;
then a few hundred test digits are placed small, large and off-centre on a
canvas, white on black and black on white, and pushed through the same
preprocessing as the Predict page. Each placement must come within 3 accuracy
points of the digits given to the model directly.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from lib.cli.main import main as cli_main
from lib.config import TrainConfig
from lib.data import datasets
from lib.inference import prediction, preprocess
from lib.runs.store import Store
from lib.train import fit

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

EVAL_DIGITS = 400
CANVAS = 280
PLACEMENTS = {  # (side of the digit's 28x28 frame on the canvas, top, left)
    "small": (70, 100, 110),
    "large": (280, 0, 0),
    "off-centre": (120, 150, 10),
}


@pytest.fixture(scope="module")
def lenet(tmp_path_factory, shared_data_dir):
    runs = tmp_path_factory.mktemp("realdata-predict") / "runs"
    store = Store(runs)
    config = TrainConfig(dataset="mnist", architecture="lenet5", epochs=4, data_dir=shared_data_dir)
    run_id = store.create_run(config)
    store.claim_next(["cpu"])
    fit.train_run(store, run_id)
    run, info, model = prediction.load_run_model(store, run_id)
    _, (x_test, y_test) = datasets.load_raw("mnist", shared_data_dir)
    return store, run_id, model, x_test[:EVAL_DIGITS, ..., 0], y_test[:EVAL_DIGITS]


def on_canvas(digit: np.ndarray, side: int, top: int, left: int, dark_ink: bool) -> np.ndarray:
    """The digit scaled up smoothly (like a brush stroke, not blocky pixels) and pasted on a black canvas."""
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    canvas[top : top + side, left : left + side] = np.asarray(
        Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    )
    return 255 - canvas if dark_ink else canvas


def accuracy(model, inputs, labels) -> float:
    return float((prediction.probabilities(model, np.asarray(inputs)).argmax(axis=1) == labels).mean())


@pytest.mark.parametrize("dark_ink", [False, True], ids=["white-on-black", "black-on-white"])
@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_canvas_digits_are_predicted_as_well_as_the_originals(lenet, placement, dark_ink):
    _, _, model, digits, labels = lenet
    direct = accuracy(model, digits[..., None].astype(np.float32) / 255.0, labels)
    assert direct >= 0.95  # the model itself is good, so the comparison means something
    side, top, left = PLACEMENTS[placement]
    inputs = [
        preprocess.prepare_array(on_canvas(d, side, top, left, dark_ink), (28, 28, 1), "mnist").model_input
        for d in digits
    ]
    drawn = accuracy(model, inputs, labels)
    assert drawn >= direct - 0.03, f"{placement}: {drawn:.3f} on the canvas vs {direct:.3f} direct"


def test_without_mnist_framing_the_same_canvas_digits_fail(lenet):
    """The control: a plain resize of the small, off-centre canvas to 28x28 (no crop, no centring) is far worse."""
    _, _, model, digits, labels = lenet
    side, top, left = PLACEMENTS["off-centre"]
    naive = [
        np.asarray(Image.fromarray(on_canvas(d, side, top, left, False)).resize((28, 28)), np.float32)[..., None] / 255
        for d in digits
    ]
    assert accuracy(model, naive, labels) < 0.5


def test_cli_names_real_digits_photographed_on_paper(lenet, tmp_path, capsys):
    store, run_id, _, digits, labels = lenet
    files = []
    for i in range(20):  # dark ink on light grey paper, saved as JPEG like a phone would
        paper = on_canvas(digits[i], 160, 40 + i % 3 * 30, 20 + i % 4 * 25, dark_ink=True)
        photo = (paper.astype(np.float32) * 0.75 + 40).astype(np.uint8)
        path = tmp_path / f"digit{i}.jpg"
        buf = io.BytesIO()
        Image.fromarray(photo).convert("RGB").save(buf, format="JPEG", quality=85)
        path.write_bytes(buf.getvalue())
        files.append(str(path))
    assert cli_main(["--runs-dir", str(store.root), "predict", "--run", run_id, *files, "--json"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    correct = sum(a["class_index"] == int(y) for a, y in zip(answers, labels[:20], strict=True))
    assert correct >= 18
