"""lib.inference.preprocess: MNIST-style framing, polarity, colour crops and refusing bad files. No TensorFlow."""

from __future__ import annotations

import io
import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lib.inference import preprocess as pp

MNIST = (28, 28, 1)


def drawn_digit(size=280, box=(90, 60, 170, 220), width=18, ink=255, paper=0, mode="L") -> Image.Image:
    """A '7'-like stroke drawn on a canvas the way a user would: a bar and a diagonal."""
    image = Image.new(mode, (size, size), paper)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    draw.line([(left, top), (right, top)], fill=ink, width=width)
    draw.line([(right, top), (left + (right - left) // 3, bottom)], fill=ink, width=width)
    return image


def png_bytes(image: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=kwargs.pop("format", "PNG"), **kwargs)
    return buf.getvalue()


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    x = x[..., 0]
    ys, xs = np.indices(x.shape)
    return float((ys * x).sum() / x.sum()), float((xs * x).sum() / x.sum())


def ink_box(x: np.ndarray, level=0.3) -> tuple[int, int]:
    rows, cols = np.nonzero(x[..., 0] > level)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


# -- MNIST framing ---------------------------------------------------------------------
def test_canvas_drawing_becomes_an_mnist_style_input():
    x = pp.to_model_input(drawn_digit().convert("RGB"), MNIST, "mnist")
    assert x.shape == MNIST and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1  # MNIST's digits have their centre of mass at (14, 14)
    assert max(ink_box(x)) in (19, 20, 21)  # longer side scaled to MNIST's 20 px box
    assert x[0].max() == 0 and x[-1].max() == 0 and x[:, 0].max() == 0 and x[:, -1].max() == 0


def test_size_and_position_on_the_canvas_do_not_matter():
    reference = pp.to_model_input(drawn_digit(), MNIST, "mnist")
    small_corner = pp.to_model_input(drawn_digit(box=(10, 10, 50, 90), width=9), MNIST, "mnist")
    large = pp.to_model_input(drawn_digit(box=(150, 30, 270, 270), width=27), MNIST, "mnist")  # 1.5x, off-centre
    for other in (small_corner, large):
        assert np.abs(other - reference).mean() < 0.05


def test_dark_ink_on_white_paper_is_inverted():
    white_on_black = pp.to_model_input(drawn_digit(), MNIST, "mnist")
    black_on_white = pp.to_model_input(drawn_digit(ink=0, paper=255), MNIST, "mnist")
    assert np.abs(white_on_black - black_on_white).mean() < 0.01
    assert black_on_white[0, 0, 0] == 0  # background is black, as in MNIST


def test_grey_paper_photo_with_blue_ink():
    photo = drawn_digit(ink=(30, 40, 160), paper=(200, 195, 190), mode="RGB")
    x = pp.to_model_input(photo, MNIST, "mnist")
    assert x[0, 0, 0] == 0 and x.max() > 0.9  # paper is black, ink stretched to full brightness


def test_aspect_ratio_is_kept_for_a_thin_one():
    one = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(one).line([(140, 40), (140, 240)], fill=255, width=16)
    height, width = ink_box(pp.to_model_input(one, MNIST, "mnist"))
    assert height >= 19 and width <= 4  # not stretched into a square blob


def test_fashion_mnist_fills_the_frame_instead_of_a_20px_box():
    shirt = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(shirt).rectangle([40, 20, 160, 180], fill=60)  # a dark garment on a white page
    x = pp.to_model_input(shirt, MNIST, "fashion_mnist")
    assert max(ink_box(x)) >= 27


@pytest.mark.parametrize("image", [Image.new("L", (280, 280), 0), Image.new("L", (280, 280), 255)])
def test_blank_canvas_asks_for_a_drawing(image):
    with pytest.raises(pp.EmptyImage, match="draw something"):
        pp.to_model_input(image, MNIST, "mnist")


def test_faint_noise_alone_is_blank():
    noise = np.random.default_rng(0).integers(0, 20, size=(280, 280)).astype(np.uint8)
    with pytest.raises(pp.EmptyImage):
        pp.prepare_array(noise, MNIST, "mnist")


def test_transparent_canvas_with_white_ink_is_not_lost():
    rgba = drawn_digit(ink=(255, 255, 255, 255), paper=(0, 0, 0, 0), mode="RGBA")
    with_alpha = pp.prepare_array(np.asarray(rgba), MNIST, "mnist").model_input
    opaque = pp.to_model_input(drawn_digit(), MNIST, "mnist")
    assert np.abs(with_alpha - opaque).mean() < 0.01


# -- colour ------------------------------------------------------------------------------
def test_colour_keeps_the_aspect_ratio_by_cropping_the_centre():
    wide = np.zeros((64, 128, 3), np.uint8)
    wide[:, :32] = (0, 255, 0)  # outer quarters green: cropped away
    wide[:, 96:] = (0, 255, 0)
    wide[:, 32:96] = (255, 0, 0)
    x = pp.prepare_array(wide, (32, 32, 3), "cifar10").model_input
    assert x.shape == (32, 32, 3)
    assert x[..., 0].min() > 0.9 and x[..., 1].max() < 0.1  # all red (edge ringing aside); squashing keeps green


def test_colour_drawing_is_not_refused_as_blank_and_keeps_rgb():
    x = pp.to_model_input(drawn_digit(mode="RGB", ink=(255, 255, 255)), (32, 32, 3), "cifar10")
    assert x.shape == (32, 32, 3) and x.max() > 0.9


# -- safe decoding -------------------------------------------------------------------------
def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels: a decompression bomb's signature, with no pixels behind it."""
    chunk = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk + png_chunk(b"IDAT", b"") + png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 this is not an image", "not an image"),
        (b"a text file named digit.png", "not an image"),
        (png_bytes(drawn_digit())[:300], "damaged"),
        (png_header_only(8000, 6000), "megapixels"),  # 48 MP: over our limit, under Pillow's own
        (png_header_only(100_000, 100_000), "absurd"),  # Pillow's DecompressionBombError
    ],
)
def test_bad_files_are_refused_with_a_message(data, message):
    with pytest.raises(pp.PreprocessError, match=message):
        pp.prepare_bytes(data, MNIST, "mnist")


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(pp.PreprocessError, match="MB"):
        pp.decode(b"\x89PNG" + bytes(pp.MAX_FILE_BYTES))


def test_animated_gif_uses_its_first_frame():
    first = drawn_digit(box=(20, 20, 100, 200))
    second = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(second).ellipse([60, 60, 220, 220], outline=255, width=20)
    gif = png_bytes(first, format="GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(gif)).n_frames == 2
    got = pp.prepare_bytes(gif, MNIST, "mnist").model_input
    want = pp.to_model_input(first, MNIST, "mnist")
    assert np.abs(got - want).mean() < 0.02


def test_exif_orientation_is_applied():
    upright = Image.new("RGB", (40, 80), (255, 255, 255))  # portrait
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the camera stored it sideways
    stored = png_bytes(upright.transpose(Image.Transpose.ROTATE_90), format="JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(stored)).size == (80, 40)
    assert pp.decode(stored).size == (40, 80)


def test_sixteen_bit_png_is_scaled_not_clipped():
    deep = np.zeros((100, 100), np.uint16)
    deep[20:80, 45:55] = 40000  # a mid-grey stroke in 16-bit: clipping to 8 bits would make it white
    image = pp.decode(png_bytes(Image.fromarray(deep)))
    value = np.asarray(image)[50, 50, 0]
    assert image.mode == "RGB" and abs(int(value) - 40000 * 255 // 65535) <= 1


@pytest.mark.parametrize(
    ("make", "fmt"),
    [
        (lambda: drawn_digit().convert("CMYK"), "JPEG"),
        (lambda: drawn_digit().convert("P"), "PNG"),
        (lambda: drawn_digit().convert("1"), "BMP"),
        (lambda: drawn_digit(), "WEBP"),
        (lambda: drawn_digit().convert("LA"), "PNG"),
    ],
)
def test_every_mode_and_format_decodes_to_rgb(make, fmt):
    image = pp.decode(png_bytes(make(), format=fmt))
    assert image.mode in ("RGB", "RGBA")
    x = pp.to_model_input(image, MNIST, "mnist")
    reference = pp.to_model_input(drawn_digit(), MNIST, "mnist")
    assert np.abs(x - reference).mean() < 0.06  # CMYK JPEG and lossy WebP differ a little


def test_palette_png_with_transparency_keeps_its_alpha():
    palette = drawn_digit().convert("P")
    image = pp.decode(png_bytes(palette, transparency=0))
    assert image.mode == "RGBA"
    assert pp.to_model_input(image, MNIST, "mnist").max() > 0.9


def test_wrong_array_shape_is_refused():
    with pytest.raises(pp.PreprocessError, match="shape"):
        pp.prepare_array(np.zeros((10, 10, 2), np.uint8), MNIST, "mnist")


def test_input_preview_has_hard_pixels():
    x = pp.to_model_input(drawn_digit(), MNIST, "mnist")
    preview = pp.input_preview(x, scale=5)
    assert preview.size == (140, 140)
    block = np.asarray(preview)[70:75, 70:75]
    assert (block == block[0, 0]).all()


def test_preprocess_does_not_import_tensorflow():
    import subprocess

    code = (
        "import sys, lib.inference.preprocess; "
        "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=pp.__file__.rsplit("/lib/", 1)[0]).returncode == 0


def test_a_custom_grey_dataset_sees_images_as_it_was_trained_on_them():
    """Custom grey datasets are stored as a plain centre crop (no MNIST framing); prediction must match."""
    from lib.data import importer

    image = Image.new("RGB", (60, 40), "white")
    image.paste((0, 0, 0), (5, 5, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    trained = np.asarray(importer.convert(buffer.getvalue(), 32, "grey"), np.float32) / 255.0
    predicted = pp.to_model_input(image, (32, 32, 1), dataset="my_shapes")[..., 0]
    assert np.abs(trained - predicted).max() < 1e-6
    digit = pp.to_model_input(image, (28, 28, 1), dataset="mnist")
    assert digit[..., 0].max() == 1.0 and digit[0, 0, 0] == 0.0  # MNIST framing inverts dark ink on paper


def test_random_bytes_a_one_pixel_image_and_a_real_huge_image_are_handled():
    import random

    noise = bytes(random.Random(7).getrandbits(8) for _ in range(5000))
    with pytest.raises(pp.PreprocessError, match="not an image"):
        pp.prepare_bytes(noise, MNIST, "mnist")
    one_pixel = png_bytes(Image.new("L", (1, 1), 255))
    assert pp.prepare_bytes(one_pixel, (32, 32, 3), "cifar10").model_input.shape == (32, 32, 3)
    with pytest.raises(pp.EmptyImage):  # one white pixel on a white page: nothing drawn
        pp.prepare_bytes(one_pixel, MNIST, "mnist")
    huge = png_bytes(Image.new("L", (10_000, 10_000), 0))  # 100 megapixels, a few hundred KB of PNG
    with pytest.raises(pp.PreprocessError, match="megapixels"):
        pp.prepare_bytes(huge, MNIST, "mnist")
