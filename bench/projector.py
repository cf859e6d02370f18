"""How long does the projector take for 5,000 images? Target (issue 16): computed and drawn in < 30 s.

Trains LeNet-5 for one epoch on the MNIST sample in ../shared/data/mnist (or,
where it is absent, on generated shapes), then times, for t-SNE and PCA:
penultimate features of 5,000 images, the 2-D reduction, and the Plotly
figure built and serialised to the JSON a browser receives.

    .venv/bin/python bench/projector.py [--points 5000]
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from lib import models  # noqa: E402
from lib.charts.projection import projection_figure  # noqa: E402
from lib.teach import projector  # noqa: E402

MNIST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"
TARGET_S = 30.0


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(points: int):
    if (MNIST / "train-images-idx3-ubyte.gz").is_file():
        x = read_idx(MNIST / "train-images-idx3-ubyte.gz")[..., None].astype(np.float32) / 255.0
        y = read_idx(MNIST / "train-labels-idx1-ubyte.gz").astype(np.int64)
        return "MNIST sample (../shared/data/mnist)", x[:points], y[:points], [str(d) for d in range(10)]
    from tests.helpers import shapes

    images, labels = shapes.make(points // 3 + 1, seed=0, size=32)
    return "generated shapes 32x32", images[:points].astype(np.float32) / 255.0, labels[:points], list(shapes.CLASSES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=projector.MAX_POINTS)
    args = parser.parse_args()
    import keras

    data, x, y, names = load(args.points)
    keras.utils.set_random_seed(0)
    model = models.build("lenet5", x.shape[1:], len(names))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)
    print(f"data: {data}, {len(x)} images; model: LeNet-5, 1 epoch")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; load average {os.getloadavg()[0]:.1f}")
    worst = 0.0
    for method in projector.METHODS:
        started = time.perf_counter()
        p = projector.project(model, x, y, method=method, limit=args.points)
        computed = time.perf_counter() - started
        fig = projection_figure(p.xy, p.indices, p.labels, p.predicted, p.confidence, names)
        size = len(fig.to_json())
        total = time.perf_counter() - started
        worst = max(worst, total)
        print(
            f"{method:5s}: {len(p.indices)} points, computed {computed:5.1f} s (features + reduction), "
            f"figure built and serialised {total - computed:4.1f} s ({size / 1e6:.1f} MB JSON), total {total:5.1f} s"
        )
    verdict = "met" if worst < TARGET_S else "MISSED"
    print(f"target < {TARGET_S:.0f} s for every method: {verdict} (slowest {worst:.1f} s)")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
