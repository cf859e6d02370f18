"""A synthetic 'mnist' in IDX format: 10 classes of separable blobs, for training for real in seconds."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def write_blob_mnist(root: Path, train: int = 600, test: int = 200) -> str:
    """Write <root>/mnist/{train,t10k}-{images,labels}-*.gz and return root, a data dir for TrainConfig."""
    folder = Path(root) / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    def make(n):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):  # a bright bar whose position encodes the class
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        return images, labels.astype(np.uint8)

    def write(name, array, magic):
        header = bytes([0, 0, 8, magic]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        with gzip.open(folder / name, "wb") as f:
            f.write(header + array.tobytes())

    for split, n in (("train", train), ("t10k", test)):
        images, labels = make(n)
        write(f"{split}-images-idx3-ubyte.gz", images, 3)
        write(f"{split}-labels-idx1-ubyte.gz", labels, 1)
    return str(root)
