"""Custom datasets: import from zips and server folders, hostile input, the registry, the command line.

Every zip is built here from small generated images. A hostile case must be
refused (nothing saved) or skipped and listed, and must never write a file
anywhere but the dataset's own folder.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib.charts import curves
from lib.cli.main import main
from lib.data import custom, datasets
from lib.data.custom import Limits, Refused

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


# -- helpers ---------------------------------------------------------------------------
@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty data root, set as CONVSTUDIO_DATA_DIR."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(path))
    return path


def png(colour=(220, 30, 30), size=40, seed=0, mode="RGB") -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.integers(-20, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def class_members(per_class=12, top="shapes/", size=40, mode="RGB", classes=COLOURS) -> dict[str, bytes]:
    return {
        f"{top}{name}/{i}.png": png(colour, size, seed=i, mode=mode)
        for name, colour in classes.items()
        for i in range(per_class)
    }


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def all_files(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() or p.is_symlink()}


def png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


# -- importing good data -----------------------------------------------------------------
def test_zip_with_a_top_folder_becomes_a_dataset_beside_the_builtins(root, tmp_path):
    source = make_zip(tmp_path / "shapes.zip", class_members())
    m = custom.add("shapes", source)

    assert "shapes" in datasets.names() and "mnist" in datasets.names()
    meta = datasets.info("shapes")
    assert meta.class_names == ("blue", "green", "red")  # from the folder names, sorted
    assert meta.input_shape == (32, 32, 3)  # 40 px colour images -> 32, rgb by default
    assert sum(m["counts"]["train"]) + sum(m["counts"]["test"]) == 36
    assert all(n > 0 for n in m["counts"]["test"])  # a test split was held out per class
    assert datasets.is_available("shapes")
    stored = next((root / "custom" / "shapes" / "train").rglob("*.png"))
    with Image.open(stored) as image:
        assert image.size == (32, 32) and image.mode == "RGB"


def test_grey_images_default_to_grey_and_the_user_can_override_size_and_colour(root, tmp_path):
    source = make_zip(tmp_path / "g.zip", class_members(top="", size=28, mode="L"))
    custom.add("grey", source)
    assert datasets.info("grey").input_shape == (28, 28, 1)

    custom.add("big", source, image_size=64, color="rgb")
    assert datasets.info("big").input_shape == (64, 64, 3)


def test_train_and_test_folders_are_honoured(root, tmp_path):
    members = class_members(per_class=10, top="train/")
    members.update(class_members(per_class=3, top="test/"))
    m = custom.add("split", make_zip(tmp_path / "s.zip", members))
    assert m["split_from_folders"] is True
    assert m["counts"] == {"train": [10, 10, 10], "test": [3, 3, 3]}


def test_inspect_previews_without_writing_anything(root, tmp_path):
    source = make_zip(tmp_path / "shapes.zip", {**class_members(), "shapes/notes.txt": b"hello"})
    before = all_files(tmp_path)
    preview = custom.inspect(source)
    assert preview["class_names"] == ["blue", "green", "red"]
    assert (preview["image_size"], preview["color"]) == (32, "rgb")
    assert preview["skipped"] == [{"file": "shapes/notes.txt", "reason": "not an image (.txt)"}]
    assert all_files(tmp_path) == before
    assert "shapes" not in datasets.names()


def test_prepared_custom_dataset_is_lazy_files_that_decode_for_previews(root, tmp_path):
    custom.add("shapes", make_zip(tmp_path / "s.zip", class_members()))
    data = datasets.prepare("shapes", validation_split=0.2)
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 36
    assert isinstance(data.x_train, custom.ImageFiles)
    first = data.x_train[0]
    assert first.dtype == np.uint8 and first.shape == (32, 32, 3)
    # The Data page's sample strip works on it as on a built-in array.
    (x, y), _ = datasets.load_raw("shapes")
    strip = curves.sample_strip(x, y, 2, count=4)
    assert strip.shape == (32, 128, 3) and strip[..., 0].mean() > 150  # class 2 is red


# -- problems shown before training ---------------------------------------------------------
def test_few_and_unbalanced_classes_are_reported(root, tmp_path):
    members = class_members(per_class=40, top="", classes={"many": (200, 0, 0), "more": (0, 200, 0)})
    members.update(class_members(per_class=3, top="", classes={"rare": (0, 0, 200)}))
    m = custom.add("skewed", make_zip(tmp_path / "k.zip", members))
    text = " ".join(m["problems"])
    assert "Too few training images" in text and "rare" in text
    assert "Very unbalanced" in text


# -- hostile zips: refused, nothing written ---------------------------------------------------
def refused(tmp_path, source, match, limits=custom.DEFAULT_LIMITS):
    before = all_files(tmp_path)
    with pytest.raises(Refused, match=match):
        custom.add("hostile", source, limits=limits)
    assert all_files(tmp_path) == before  # not a single file written anywhere
    assert "hostile" not in datasets.names()


def test_path_climbing_out_is_refused(root, tmp_path):
    source = make_zip(tmp_path / "z.zip", {**class_members(top=""), "../evil.png": png()})
    refused(tmp_path, source, "climbs out")
    assert not (tmp_path.parent / "evil.png").exists()


def test_nested_path_climbing_out_is_refused(root, tmp_path):
    source = make_zip(tmp_path / "z.zip", {**class_members(top=""), "red/../../../evil.png": png()})
    refused(tmp_path, source, "climbs out")


def test_absolute_path_is_refused(root, tmp_path):
    source = make_zip(tmp_path / "z.zip", {**class_members(top=""), str(tmp_path / "evil.png"): png()})
    refused(tmp_path, source, "absolute path")


def test_symlink_in_zip_is_refused(root, tmp_path):
    source = make_zip(tmp_path / "z.zip", class_members(top=""))
    link = zipfile.ZipInfo("red/passwd.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(source, "a") as z:
        z.writestr(link, "/etc/passwd")
    refused(tmp_path, source, "link")


def test_too_many_files_is_refused(root, tmp_path):
    source = make_zip(tmp_path / "z.zip", class_members(per_class=5))
    refused(tmp_path, source, "holds 15 files; the limit is 10", Limits(max_files=10))


def test_zip_bomb_declaring_huge_size_is_refused(root, tmp_path):
    source = make_zip(tmp_path / "bomb.zip", {**class_members(top=""), "red/bomb.bmp": b"\0" * (48 * 2**20)})
    assert source.stat().st_size < 2**20  # 48 MB of zeros packs into well under a megabyte
    refused(tmp_path, source, "unpacks to", Limits(max_total_bytes=32 * 2**20))


def test_member_larger_than_its_header_says_is_refused(root, tmp_path):
    source = make_zip(tmp_path / "liar.zip", {**class_members(top=""), "red/liar.png": png(size=64)})
    data = bytearray(source.read_bytes())
    entry = data.rfind(b"PK\x01\x02")  # the last central directory record is red/liar.png
    data[entry + 24 : entry + 28] = struct.pack("<I", 100)  # declared uncompressed size: 100 bytes
    source.write_bytes(bytes(data))
    refused(tmp_path, source, "damaged or lies")


def test_not_a_zip_is_refused(root, tmp_path):
    source = tmp_path / "fake.zip"
    source.write_bytes(b"this is not a zip at all")
    refused(tmp_path, source, "not a readable zip")


# -- hostile files inside: skipped and listed, the rest saved -----------------------------------
def test_bad_files_are_skipped_and_listed(root, tmp_path):
    good = png()
    members = {
        **class_members(top=""),
        "README.txt": b"about my data",
        "red/notes.txt": b"not an image",
        "red/truncated.png": good[: len(good) // 2],
        "red/random.jpg": np.random.default_rng(1).bytes(2000),
        "red/bomb.png": png_with_size(50_000, 50_000),  # beyond Pillow's own bomb limit
        "red/huge.png": png_with_size(8_000, 8_000),  # 64 megapixels: beyond ours
        "loose.png": good,
    }
    m = custom.add("messy", make_zip(tmp_path / "m.zip", members))
    reasons = {s["file"]: s["reason"] for s in m["skipped"]}
    assert reasons["README.txt"] == "not an image (.txt)"
    assert reasons["red/notes.txt"] == "not an image (.txt)"
    assert "damaged or truncated" in reasons["red/truncated.png"]
    assert "not an image this app reads" in reasons["red/random.jpg"]
    assert "absurd number of pixels" in reasons["red/bomb.png"]
    assert "8000 x 8000 pixels" in reasons["red/huge.png"]
    assert reasons["loose.png"] == "not inside a class folder"
    assert m["counts"]["train"][2] + m["counts"]["test"][2] == 12  # every good red image kept
    assert any("7 file(s) were skipped" in p for p in m["problems"])
    assert all_files(root / "custom" / "messy") == {"manifest.json"} | {
        str(p.relative_to(root / "custom" / "messy")) for p in (root / "custom" / "messy").rglob("*.png")
    }


def test_single_oversized_file_is_skipped(root, tmp_path):
    source = make_zip(tmp_path / "z.zip", {**class_members(top=""), "red/big.bmp": b"\0" * (2 * 2**20)})
    m = custom.add("big", source, limits=Limits(max_file_bytes=2**20))
    assert "the limit for one image is 1 MB" in m["skipped"][0]["reason"]


def test_one_class_is_refused(root, tmp_path):
    source = make_zip(tmp_path / "one.zip", class_members(classes={"red": (200, 0, 0)}))
    refused(tmp_path, source, "at least two")


# -- server folders ------------------------------------------------------------------------
def write_folder(folder: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_folder_under_the_data_root_is_imported(root):
    folder = write_folder(root / "photos", class_members(top=""))
    m = custom.add("photos", folder)
    assert m["source"] == "photos/" and len(m["class_names"]) == 3


def test_folder_outside_the_data_root_is_refused(root, tmp_path):
    folder = write_folder(tmp_path / "elsewhere", class_members(top=""))
    refused(tmp_path, folder, "not under the data root")


def test_link_under_the_root_leading_outside_is_refused(root, tmp_path):
    outside = write_folder(tmp_path / "elsewhere", class_members(top=""))
    (root / "sneaky").symlink_to(outside, target_is_directory=True)
    refused(tmp_path, root / "sneaky", "not under the data root")


def test_linked_file_leading_outside_is_skipped(root, tmp_path):
    folder = write_folder(root / "photos", class_members(top=""))
    secret = tmp_path / "secret.png"
    secret.write_bytes(png())
    (folder / "red" / "secret.png").symlink_to(secret)
    m = custom.add("photos", folder)
    assert {"file": "red/secret.png", "reason": "a link that leads outside the data root"} in m["skipped"]


# -- names and the registry -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["../up", "Shapes", "with space", "", "a/b", "x" * 41, ".hidden"])
def test_bad_names_are_refused(root, tmp_path, name):
    refused_name = make_zip(tmp_path / "z.zip", class_members())
    with pytest.raises(Refused, match="not allowed"):
        custom.add(name, refused_name)


def test_builtin_and_existing_names_are_refused_and_remove_works(root, tmp_path):
    source = make_zip(tmp_path / "z.zip", class_members())
    with pytest.raises(Refused, match="built-in"):
        custom.add("mnist", source)
    custom.add("shapes", source)
    with pytest.raises(Refused, match="already exists"):
        custom.add("shapes", source)
    custom.remove("shapes")
    assert "shapes" not in datasets.names()
    assert not (root / "custom" / "shapes").exists()
    with pytest.raises(Refused, match="no saved dataset"):
        custom.remove("shapes")
    with pytest.raises(datasets.DatasetUnavailable, match="unknown dataset"):
        datasets.info("shapes")


# -- the command line -----------------------------------------------------------------------
def test_cli_add_list_remove(root, tmp_path, capsys):
    source = make_zip(tmp_path / "z.zip", {**class_members(), "shapes/notes.txt": b"x"})
    assert main(["dataset", "add", "shapes", "--from", str(source), "--image-size", "28", "--color", "grey"]) == 0
    out, err = capsys.readouterr()
    assert "saved shapes: 3 classes" in out and "28x28 grey" in out
    assert "skipped: shapes/notes.txt: not an image (.txt)" in err
    assert datasets.info("shapes").input_shape == (28, 28, 1)

    assert main(["dataset", "list"]) == 0
    assert "shapes" in capsys.readouterr().out

    assert main(["dataset", "remove", "shapes"]) == 0
    assert "shapes" not in datasets.names()


@pytest.mark.parametrize(
    "args, message",
    [
        (["dataset", "add", "Bad Name", "--from", "{zip}"], "not allowed"),
        (["dataset", "add", "mnist", "--from", "{zip}"], "built-in"),
        (["dataset", "add", "ok", "--from", "{evil}"], "climbs out"),
        (["dataset", "add", "ok", "--from", "/etc"], "not under the data root"),
        (["dataset", "add", "ok", "--from", "{missing}"], "neither a zip file nor a folder"),
        (["dataset", "add", "ok", "--from", "{zip}", "--image-size", "30"], "invalid choice"),
        (["dataset", "remove", "nothing"], "no saved dataset"),
    ],
)
def test_cli_refusals_are_one_line_and_exit_2(root, tmp_path, capsys, args, message):
    paths = {
        "zip": make_zip(tmp_path / "z.zip", class_members()),
        "evil": make_zip(tmp_path / "e.zip", {**class_members(), "../evil.png": png()}),
        "missing": tmp_path / "missing.zip",
    }
    argv = [a.format(**paths) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (root / "custom" / "ok").exists()
