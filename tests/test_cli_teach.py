"""Teach it from the command line: correct, train --with-corrections, dataset add-images, dataset suspects."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import shapes

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, runs_dir, data_dir=None, timeout=300):
    env = dict(os.environ, CONVSTUDIO_RUNS_DIR=str(runs_dir))
    if data_dir:
        env["CONVSTUDIO_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(out) -> str:
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]  # TensorFlow logs aside
    assert len(errors) == 1 and out.stderr.strip().endswith(errors[0]), out.stderr
    assert "Traceback" not in out.stderr
    return errors[0]


def png_file(folder: Path, name: str, colour, size=(40, 40)) -> Path:
    path = folder / name
    Image.new("RGB", size, colour).save(path)
    return path


def digit_file(folder: Path) -> Path:
    image = Image.new("L", (28, 28), 0)
    image.paste(255, (12, 4, 16, 24))  # a bar: a "1"
    path = folder / "one.png"
    image.save(path)
    return path


@pytest.fixture
def own_run(trained_run, tmp_path):
    """A private copy of the trained tiny run's store: corrections are written beside the run."""
    runs, run_id = trained_run
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    return copy, run_id


# -- correct and fine-tune ---------------------------------------------------------------
@pytest.mark.slow
def test_correct_keeps_the_image_and_train_with_corrections_fine_tunes_on_it(own_run, tmp_path, tiny_data_dir):
    runs, run_id = own_run
    image = digit_file(tmp_path)
    out = cli("correct", "--run", run_id, "--label", "7", str(image), "--json", runs_dir=runs, data_dir=tiny_data_dir)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout.splitlines()[0])
    assert (record["label"], record["label_name"], record["run_id"]) == (7, "7", run_id)
    assert record["predicted"] is not None  # the model's answer then, for before -> after
    assert (runs / run_id / "corrections" / record["id"] / "input.npy").is_file()

    out = cli(
        "train", "--finetune", run_id, "--with-corrections", "--epochs", "1", "--json",
        runs_dir=runs, data_dir=tiny_data_dir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    from lib.runs.store import Store

    child = Store(runs).get(result["run_id"])
    assert child.parent_id == run_id and child.config.extra["corrections_from"] == run_id


@pytest.mark.slow
def test_correct_refuses_bad_labels_files_and_runs_in_one_line(own_run, tmp_path, tiny_data_dir):
    runs, run_id = own_run
    image = digit_file(tmp_path)
    assert "not a class of this model" in one_error_line(
        cli("correct", "--run", run_id, "--label", "cat", str(image), runs_dir=runs, data_dir=tiny_data_dir)
    )
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert "notes.png" in one_error_line(
        cli("correct", "--run", run_id, "--label", "1", str(text), runs_dir=runs, data_dir=tiny_data_dir)
    )
    assert "no such file" in one_error_line(
        cli("correct", "--run", run_id, "--label", "1", "/nope.png", runs_dir=runs, data_dir=tiny_data_dir)
    )
    one_error_line(cli("correct", "--run", "no-such-run", "--label", "1", str(image), runs_dir=runs))
    refused = cli("train", "--finetune", run_id, "--with-corrections", runs_dir=runs, data_dir=tiny_data_dir)
    assert "no corrections" in one_error_line(refused)


# -- dataset add-images --------------------------------------------------------------------
def test_add_images_collects_a_class_then_saves_the_dataset_with_the_second(tmp_path, runs_dir):
    data = tmp_path / "data"
    files = tmp_path / "files"
    files.mkdir()
    cats = [str(png_file(files, f"cat{i}.png", (200, 10 * i, 0))) for i in range(3)]
    dogs = [str(png_file(files, f"dog{i}.png", (0, 10 * i, 200))) for i in range(3)]
    first = cli("dataset", "add-images", "pets", "--class", "cat", *cats, runs_dir=runs_dir, data_dir=data)
    assert first.returncode == 0, first.stderr
    assert "add a second class" in first.stdout
    second = cli(
        "dataset", "add-images", "pets", "--class", "dog", *dogs, "--image-size", "28", "--color", "rgb", "--json",
        runs_dir=runs_dir, data_dir=data,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    manifest = json.loads(second.stdout)
    assert manifest["class_names"] == ["cat", "dog"] and manifest["image_size"] == 28
    listed = cli("dataset", "list", "--json", runs_dir=runs_dir, data_dir=data)
    assert [d["name"] for d in json.loads(listed.stdout)] == ["pets"]


def test_add_images_refuses_hostile_names_and_skips_non_images(tmp_path, runs_dir):
    data = tmp_path / "data"
    good = png_file(tmp_path, "ok.png", (1, 2, 3))
    assert "class name" in one_error_line(
        cli("dataset", "add-images", "pets", "--class", "../x", str(good), runs_dir=runs_dir, data_dir=data)
    )
    assert "not allowed" in one_error_line(
        cli("dataset", "add-images", "../pets", "--class", "cat", str(good), runs_dir=runs_dir, data_dir=data)
    )
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG not really")
    out = cli("dataset", "add-images", "pets", "--class", "cat", str(junk), runs_dir=runs_dir, data_dir=data)
    assert out.returncode == 2 and "skipped: " in out.stderr and "Traceback" not in out.stderr


# -- dataset suspects ----------------------------------------------------------------------
def pixel_hash(pixels: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(pixels, np.uint8).tobytes()).hexdigest()


@pytest.mark.slow
def test_suspects_find_the_flipped_labels_of_a_custom_dataset(tmp_path, runs_dir, monkeypatch):
    """Issue 16's target: flip 5% of a custom dataset's labels; the top 2x(flipped) hold >= 80% of them."""
    data = tmp_path / "data"
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(data))
    images, labels = shapes.make(100, seed=5, size=32)
    rng = np.random.default_rng(0)
    flipped = set(rng.choice(len(labels), size=15, replace=False).tolist())
    source = data / "flipped_source"
    for split, rows in (("train", range(len(labels))), ("test", [])):
        for i in rows:
            given = (labels[i] + 1) % 3 if i in flipped else labels[i]
            folder = source / split / shapes.CLASSES[given]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(folder / f"{i:04d}.png")
    test_images, test_labels = shapes.make(5, seed=9, size=32)  # a few clean test images
    for i, (pixels, label) in enumerate(zip(test_images, test_labels, strict=True)):
        folder = source / "test" / shapes.CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"t{i}.png")

    from lib.config import TrainConfig
    from lib.data import custom
    from lib.runs.store import Store
    from lib.train import fit

    custom.add("flipped", source, 32, "rgb")
    store = Store(runs_dir)
    config = TrainConfig(
        dataset="flipped", architecture="vgg_small_norm", width=0.5, epochs=30, batch_size=16, learning_rate=2e-3,
        augment_shift=0.15, augment_flip=True, validation_split=0.0, dropout=0.3, batchnorm=True,
    )  # fmt: skip
    run_id = store.create_run(config)
    store.claim_next(["test"])
    assert fit.train_run(store, run_id)["status"] == "completed"

    out = cli("dataset", "suspects", "--run", run_id, "--top", "30", "--json", runs_dir=runs_dir, data_dir=data)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 30 and {"index", "file", "given", "predicted", "confidence", "flagged"} <= set(rows[0])
    flipped_pixels = {pixel_hash(images[i]) for i in flipped}
    found = sum(pixel_hash(np.asarray(Image.open(io.BytesIO(Path(r["file"]).read_bytes())))) in flipped_pixels
                for r in rows)  # fmt: skip
    assert found >= 0.8 * len(flipped)


@pytest.mark.slow
def test_unfreeze_top_is_refused_for_a_run_without_a_pretrained_backbone(own_run, tiny_data_dir):
    runs, run_id = own_run
    out = cli("train", "--finetune", run_id, "--unfreeze-top", "10", runs_dir=runs, data_dir=tiny_data_dir)
    assert "needs a run of a pretrained architecture" in one_error_line(out)
