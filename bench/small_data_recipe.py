"""Does the small-data recipe teach issue 16's shapes? Target: >= 95% on 30 new images in < 2 minutes.

For each seed: generates a 3-class dataset of 40 images a class (64x64 RGB
circles, squares and triangles, random colours, sizes and positions), imports
it as a custom dataset (15% held out per class), trains the recommended recipe
(`--preset`) through the engine (lib.train.fit, as a worker would), then reads
30 newly generated images with the saved model. The time counted runs from the
import to the saved model.

    .venv/bin/python bench/small_data_recipe.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from lib import presets  # noqa: E402
from lib.data import custom  # noqa: E402
from lib.model_files import load_model  # noqa: E402
from lib.runs.store import Store  # noqa: E402
from lib.train import fit  # noqa: E402
from tests.helpers import shapes  # noqa: E402

TARGET_ACCURACY, TARGET_SECONDS, NEW_IMAGES_PER_CLASS = 0.95, 120.0, 10


def one_seed(seed: int, root: Path) -> tuple[float, float, float, int]:
    data_root = root / f"data{seed}"
    os.environ["CONVSTUDIO_DATA_DIR"] = str(data_root)
    source = shapes.write_folders(data_root / "shapes_source", 40, seed=seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    custom.add("shapes", source, 64, "rgb")
    preset = presets.get("shapes")
    print(f"  recipe: {preset.title}: {preset.settings}" if seed == 1 else "", end="\n" if seed == 1 else "")
    config = preset.config(seed=seed)
    store = Store(root / f"runs{seed}")
    run_id = store.create_run(config)
    store.claim_next(["bench"])
    result = fit.train_run(store, run_id)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    model = load_model(store.model_path(run_id, "model"))
    images, labels = shapes.make(NEW_IMAGES_PER_CLASS, seed=10_000 + seed)
    predicted = model.predict(images.astype(np.float32) / 255.0, verbose=0).argmax(axis=1)
    return float((predicted == labels).mean()), seconds, cpu, int(result["epochs_completed"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; date {time.strftime('%Y-%m-%d')}")
    accuracies, times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            accuracy, seconds, cpu, epochs = one_seed(seed, Path(tmp))
            accuracies.append(accuracy)
            times.append(seconds)
            print(
                f"  seed {seed}: {accuracy:.1%} of {3 * NEW_IMAGES_PER_CLASS} new images right; import + training "
                f"{seconds:.0f} s wall, {cpu:.0f} s CPU ({epochs} epochs, load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    acc, secs = statistics.median(accuracies), statistics.median(times)
    met = min(accuracies) >= TARGET_ACCURACY and max(times) < TARGET_SECONDS
    print(
        f"median {acc:.1%} in {secs:.0f} s; worst {min(accuracies):.1%}, slowest {max(times):.0f} s; "
        f"target >= {TARGET_ACCURACY:.0%} in < {TARGET_SECONDS:.0f} s: {'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
