"""Collect mode's library (lib.teach.collect): images kept one at a time, saved through the ordinary import."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lib.data import custom
from lib.teach import collect
from lib.teach.collect import CollectRefused


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(tmp_path))
    return tmp_path


def png(colour, size=(80, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def fill(name: str, per_class: int = 12, names=("cat", "dog")) -> None:
    for i, class_name in enumerate(names):
        for _ in range(per_class):
            collect.add_image(name, class_name, png((40 * i, 100, 200)))


def test_images_are_kept_per_class_with_every_seventh_held_out_for_testing(data_dir):
    fill("pets", 14)
    found = collect.classes("pets")
    assert list(found) == ["cat", "dog"]
    assert [len(found["cat"][s]) for s in ("train", "test")] == [12, 2]
    assert collect.counts("pets") == {"cat": 14, "dog": 14}
    assert not custom.is_saved("pets")  # collecting saves nothing yet


def test_save_makes_an_ordinary_custom_dataset(data_dir):
    fill("pets", 14)
    m = collect.save("pets", image_size=32, color="rgb")
    assert custom.is_saved("pets") and m["class_names"] == ["cat", "dog"]
    assert m["counts"] == {"train": [12, 12], "test": [2, 2]}
    assert m["image_size"] == 32 and m["color"] == "rgb"
    assert "pets" not in custom.server_folders() and ".collect" not in custom.saved_names()


def test_adding_later_keeps_the_earlier_split_and_the_chosen_size(data_dir):
    fill("pets", 7)
    collect.save("pets", image_size=28, color="grey")
    first_test = {p.name for p in collect.classes("pets")["cat"]["test"]}
    collect.add_image("pets", "cat", png("red"))
    m = collect.save("pets")
    assert {p.name for p in collect.classes("pets")["cat"]["test"]} >= first_test
    assert (m["image_size"], m["color"]) == (28, "grey")  # kept from the saved version
    assert m["counts"]["train"][0] + m["counts"]["test"][0] == 8


def test_one_class_is_not_yet_a_dataset(data_dir):
    collect.add_image("solo", "only", png("blue"))
    with pytest.raises(CollectRefused, match="at least two classes"):
        collect.save("solo")
    manifest, skipped = collect.add_files("solo", "only", [("b.png", png("green"))])
    assert manifest is None and skipped == []
    manifest, _ = collect.add_files("solo", "second", [("c.png", png("white"))], image_size=28, color="rgb")
    assert manifest["class_names"] == ["only", "second"]


def test_a_file_that_is_not_an_image_is_skipped_with_its_reason(data_dir):
    fill("pets", 3)
    manifest, skipped = collect.add_files("pets", "cat", [("notes.txt", b"hello"), ("ok.png", png("red"))])
    assert [s["file"] for s in skipped] == ["notes.txt"]
    assert skipped[0]["reason"]
    assert manifest["counts"]["train"][0] + manifest["counts"]["test"][0] == 4


@pytest.mark.parametrize("bad", ["", " ", "a/b", "..", ".hidden", "train", "Test", "x" * 61, None])
def test_hostile_class_names_are_refused(data_dir, bad):
    with pytest.raises(CollectRefused, match="class name"):
        collect.add_image("pets", bad, png("red"))
    assert not (data_dir / "custom" / ".collect" / "pets").exists()


def test_a_hostile_dataset_name_is_refused(data_dir):
    with pytest.raises(CollectRefused, match="not allowed"):
        collect.add_image("../../etc", "cat", png("red"))


def test_rename_and_remove_classes_and_images(data_dir):
    fill("pets", 3, names=("cat", "dog", "cow"))
    collect.rename_class("pets", "cow", "horse")
    assert list(collect.classes("pets")) == ["cat", "dog", "horse"]
    with pytest.raises(CollectRefused, match="already has a class"):
        collect.rename_class("pets", "cat", "DOG")
    collect.remove_class("pets", "horse")
    first = collect.classes("pets")["cat"]["train"][0].name
    collect.remove_image("pets", "cat", first)
    assert collect.counts("pets") == {"cat": 2, "dog": 3}
    with pytest.raises(CollectRefused, match="no image"):
        collect.remove_image("pets", "cat", "../../secret.png")


def test_adding_to_a_zip_imported_dataset_starts_from_its_images(data_dir, tmp_path):
    import zipfile

    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for class_name in ("cat", "dog"):
            for n in range(10):
                z.writestr(f"{class_name}/{n}.png", png((n * 20, 0, 0)))
    custom.add("zipped", archive, 28, "rgb")
    manifest, _ = collect.add_files("zipped", "cat", [("new.png", png("white"))])
    assert sum(manifest["counts"]["train"]) + sum(manifest["counts"]["test"]) == 21
    assert manifest["counts"]["test"] == custom.manifest("zipped")["counts"]["test"]


def test_fix_relabels_and_excludes_saved_images_as_a_new_version(data_dir):
    for n in range(12):
        collect.add_image("pets", "cat", png((n * 10, 0, 0)))
        collect.add_image("pets", "dog", png((0, n * 10, 0)))
    collect.save("pets", image_size=28, color="rgb")
    (x, y), _ = custom.load_files("pets")
    cat_files = [p for p, label in zip(x.paths, y, strict=True) if label == 0]
    moved, dropped = cat_files[0], cat_files[1]
    red_of_moved = Image.open(moved).getpixel((5, 5))
    m = collect.fix("pets", [(moved, 1), (dropped, None)])
    assert m["counts"]["train"] == [9, 12]  # cat 11 -> 9, dog 11 -> 12
    (x2, y2), _ = custom.load_files("pets")
    dog_pixels = {Image.open(p).getpixel((5, 5)) for p, label in zip(x2.paths, y2, strict=True) if label == 1}
    assert red_of_moved in dog_pixels


def test_fix_refuses_a_file_of_another_dataset(data_dir):
    fill("pets", 3)
    collect.save("pets", image_size=28, color="rgb")
    with pytest.raises(CollectRefused, match="not an image of dataset"):
        collect.fix("pets", [("/etc/passwd", 1)])
