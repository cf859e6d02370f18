"""A shapes-like image dataset made on the spot: circles, squares and triangles.

Random background and shape colours (always told apart by at least a little
contrast), random sizes and positions: the small custom dataset of issue 16,
where the defaults reached 47%. Used by the Teach-it tests and benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
MIN_CONTRAST = 150  # summed over R, G, B (of 765): a shape never vanishes into its background


def _colours(rng) -> tuple[tuple[int, ...], tuple[int, ...]]:
    while True:
        back, fore = rng.integers(0, 256, size=(2, 3))
        if int(np.abs(back - fore).sum()) >= MIN_CONTRAST:
            return tuple(int(v) for v in back), tuple(int(v) for v in fore)


def draw(label: int, rng, size: int = 64) -> Image.Image:
    """One RGB image of class `label` (0 circle, 1 square, 2 triangle)."""
    back, fore = _colours(rng)
    image = Image.new("RGB", (size, size), back)
    pen = ImageDraw.Draw(image)
    half = int(rng.integers(size // 6, size // 3))  # half the shape's width
    cx, cy = (int(v) for v in rng.integers(half + 1, size - half - 1, size=2))
    if label == 0:
        pen.ellipse((cx - half, cy - half, cx + half, cy + half), fill=fore)
    elif label == 1:
        pen.rectangle((cx - half, cy - half, cx + half, cy + half), fill=fore)
    else:
        pen.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=fore)
    return image


def make(per_class: int, seed: int = 0, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, size, size, 3), int64 labels), the classes interleaved."""
    rng = np.random.default_rng(seed)
    labels = np.arange(per_class * len(CLASSES)) % len(CLASSES)
    images = np.stack([np.asarray(draw(int(label), rng, size)) for label in labels])
    return images, labels.astype(np.int64)


def write_folders(root: Path, per_class: int, seed: int = 0, size: int = 64) -> Path:
    """`root/<class>/<n>.png`: the folder-per-class layout a custom dataset is imported from."""
    images, labels = make(per_class, seed, size)
    for n, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        folder = Path(root) / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{n:04d}.png")
    return Path(root)
