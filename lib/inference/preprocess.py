"""Canvas, upload or camera image -> the exact array a model was trained on.

Pillow and numpy only (no TensorFlow), so the page can decode and show an image
before any model is loaded, and the benchmark can time this part alone.

Grey datasets are rebuilt the way the dataset itself was made. MNIST (LeCun et
al.): ink bounding box, longer side scaled to 20 px with anti-aliasing, pasted
into 28x28 so that the centre of mass sits in the middle. Fashion-MNIST (Xiao
et al.): trimmed, longer side scaled to 28 px, centred. A drawing or photo that
skips these steps (a small digit in a corner, dark ink on white paper) is far
outside what the model saw in training and gets predicted badly.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

# A 12 MP phone photo is well under this; a decompression bomb (a tiny file
# that claims 60,000 x 60,000 pixels) is refused before any pixel is decoded.
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 30 * 1024 * 1024
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # JPEG includes the MPO files many phone cameras write

# The ink's bounding box counts pixels brighter than this fraction of the
# brightest ink: NIST's binary strokes were boxed before MNIST anti-aliased
# them, and faint edges, paper texture or JPEG ringing must not widen the box.
# (0.3 matched real MNIST digits redrawn on a canvas best, by pixel error.)
INK_THRESHOLD = 0.3
# Below this contrast (of 255) between ink and background, there is no drawing.
MIN_CONTRAST = 40


class PreprocessError(ValueError):
    """An image that cannot be used; str() is a message for the user."""


class EmptyImage(PreprocessError):
    """Nothing drawn (or a blank photo): ask for a drawing, predict nothing."""


@dataclass(frozen=True)
class GreyRecipe:
    """How a grey dataset placed its objects in the frame."""

    box: int  # the longer side of the object, in pixels
    centre_by_mass: bool  # MNIST: centre of mass; otherwise the bounding box centre


GREY_RECIPES = {
    "mnist": GreyRecipe(box=20, centre_by_mass=True),
    "fashion_mnist": GreyRecipe(box=28, centre_by_mass=False),
}


def recipe_for(dataset: str, size: int) -> GreyRecipe:
    """Known datasets use their own recipe; an unnamed grey one (a bare drawing) is treated like MNIST."""
    return GREY_RECIPES.get(dataset) or GreyRecipe(box=max(1, round(size * 20 / 28)), centre_by_mass=True)


# -- decoding --------------------------------------------------------------------
def decode(data: bytes) -> Image.Image:
    """Bytes of an image file -> an RGB or RGBA Pillow image, or a PreprocessError that says why not."""
    if not data:
        raise PreprocessError("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise PreprocessError(f"the file is {len(data) / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse by our own limit below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height > MAX_PIXELS:
                limit = MAX_PIXELS // 1_000_000
                raise PreprocessError(f"the image is {width} x {height} pixels; the limit is {limit} megapixels")
            image.seek(0)  # an animated GIF or WebP: its first frame
            image.load()
    except PreprocessError:
        raise
    except Image.DecompressionBombError:
        raise PreprocessError("the image claims an absurd number of pixels; refused") from None
    except Image.UnidentifiedImageError:
        raise PreprocessError(f"not an image this app reads ({', '.join(FORMATS)})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error):
        raise PreprocessError("the image is damaged or truncated and cannot be decoded") from None
    image = ImageOps.exif_transpose(image)  # a phone photo taken sideways is stored sideways
    return to_rgb_or_rgba(image)


def to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """Every mode Pillow may hand back (16-bit, CMYK, palette, 1-bit...) -> 8-bit RGB or RGBA."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0  # 16-bit PNGs arrive as 'I' or 'I;16'
        return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return image.convert("RGBA")
    return image.convert("RGB")


def flatten_alpha(image: Image.Image) -> Image.Image:
    """RGBA -> RGB on a background that contrasts with the opaque pixels.

    White ink on a transparent canvas must not vanish on a white background, nor
    black ink on a black one, so the background is chosen from the ink itself.
    """
    if image.mode != "RGBA":
        return image.convert("RGB")
    rgba = np.asarray(image)
    alpha = rgba[..., 3]
    if alpha.min() == 255:
        return image.convert("RGB")
    opaque = alpha > 127
    luminance = rgba[..., :3].mean(axis=-1)
    ink_is_dark = opaque.any() and luminance[opaque].mean() < 128
    background = Image.new("RGB", image.size, (255, 255, 255) if ink_is_dark else (0, 0, 0))
    background.paste(image.convert("RGB"), mask=image.getchannel("A"))
    return background


def from_array(pixels: np.ndarray) -> Image.Image:
    """A uint8 HxW, HxWx3 or HxWx4 array (e.g. a canvas's RGBA image data) -> a Pillow image."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        raise PreprocessError(f"cannot read an image from an array of shape {pixels.shape}")
    return to_rgb_or_rgba(Image.fromarray(pixels))


# -- to the model's input ----------------------------------------------------------
def to_model_input(image: Image.Image, input_shape, dataset: str = "") -> np.ndarray:
    """A decoded image -> float32 HxWxC in [0, 1], the model's input; EmptyImage if nothing is there."""
    height, width, channels = input_shape
    rgb = flatten_alpha(image)
    if channels == 1 and dataset and dataset not in GREY_RECIPES:
        # a user's own grey dataset was stored as a plain centre crop (lib/dataset_import): match it
        fitted = ImageOps.fit(rgb.convert("L"), (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        return (np.asarray(fitted, dtype=np.float32) / 255.0)[..., None]
    if channels == 1:
        grey = mnist_style(rgb, recipe_for(dataset, max(height, width)), (height, width))
        return (grey.astype(np.float32) / 255.0)[..., None]
    return colour(rgb, (height, width))


def colour(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """RGB, the aspect ratio kept by cropping the centre, resized to the model's size."""
    height, width = size
    fitted = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    return np.asarray(fitted, dtype=np.float32) / 255.0


def mnist_style(image: Image.Image, recipe: GreyRecipe, size: tuple[int, int]) -> np.ndarray:
    """Grey, light ink on dark, cropped to the ink, scaled into the recipe's box, centred: uint8 HxW."""
    ink = ink_on_black(np.asarray(image.convert("L"), dtype=np.float32))
    rows, cols = np.nonzero(ink > INK_THRESHOLD * 255)
    cropped = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = recipe.box / max(cropped.shape)
    new_h = max(1, round(cropped.shape[0] * scale))
    new_w = max(1, round(cropped.shape[1] * scale))
    # LANCZOS on a float image anti-aliases like the original MNIST's resampling
    # and does not lose the grey edge levels to rounding before centring.
    small = Image.fromarray(np.ascontiguousarray(cropped, dtype=np.float32))
    small = small.resize((new_w, new_h), Image.Resampling.LANCZOS)
    small = np.clip(np.asarray(small), 0, 255)
    return place(small, size, recipe.centre_by_mass)


def ink_on_black(grey: np.ndarray) -> np.ndarray:
    """Make the ink the bright part on a black background, stretched to 0..255.

    The background is the median of the image's border: a canvas, a sheet of
    paper or a photo of a whiteboard all touch the frame with background, while
    the ink rarely fills the border. Dark ink on light paper is inverted.
    """
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    if background > 127:
        grey = 255.0 - grey
        background = 255.0 - background
    ink = np.clip(grey - background, 0, None)
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise EmptyImage("draw something first: the image is blank")
    return ink * (255.0 / peak)


def place(small: np.ndarray, size: tuple[int, int], centre_by_mass: bool) -> np.ndarray:
    """Paste `small` into a black frame of `size` so its centre of mass (or box) is in the middle."""
    height, width = size
    h, w = small.shape
    if centre_by_mass and small.sum() > 0:
        ys, xs = np.indices(small.shape)
        cy = float((ys * small).sum() / small.sum())
        cx = float((xs * small).sum() / small.sum())
    else:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    # MNIST translated by whole pixels; the clamps keep every bit of ink inside the frame
    top = int(np.clip(round(height / 2 - cy), 0, height - h))
    left = int(np.clip(round(width / 2 - cx), 0, width - w))
    frame = np.zeros(size, dtype=np.float32)
    frame[top : top + h, left : left + w] = small
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


# -- convenience ---------------------------------------------------------------------
@dataclass
class Prepared:
    """One image ready for the model: what the user gave and what the model gets."""

    original: Image.Image  # decoded, upright, RGB or RGBA
    model_input: np.ndarray  # float32 HxWxC in [0, 1]


def prepare_bytes(data: bytes, input_shape, dataset: str = "") -> Prepared:
    image = decode(data)
    return Prepared(image, to_model_input(image, input_shape, dataset))


def prepare_array(pixels: np.ndarray, input_shape, dataset: str = "") -> Prepared:
    image = from_array(pixels)
    return Prepared(image, to_model_input(image, input_shape, dataset))


def input_preview(model_input: np.ndarray, scale: int = 5) -> Image.Image:
    """The model input blown up with hard pixel edges, so a 28x28 input looks like what it is."""
    pixels = np.clip(model_input * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    image = Image.fromarray(pixels)
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
