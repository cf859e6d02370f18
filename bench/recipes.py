"""Do the one-click recipes reach their targets, and how long do they take?

Trains each dataset's preset (lib/presets.py) through the engine, once per
seed, and prints test accuracy and wall time, with the median over seeds.
Exits non-zero when a median misses its target on an official test set.

    .venv/bin/python bench/recipes.py --dataset fashion_mnist --seeds 1
    .venv/bin/python bench/recipes.py --dataset mnist --data-dir ../shared/data   # the 10,000-digit sample

The MNIST sample's "test" digits are 2,000 held out from MNIST's training set,
not MNIST's official test set, so its figure is reported but not judged.
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

from lib import presets
from lib.data import datasets
from lib.runs.store import Store  # noqa: E402
from lib.train import fit


def official_test_set(dataset: str, data_dir: str | None) -> bool:
    (_, _), (_, y_test) = datasets.load_raw(dataset, data_dir)
    return len(y_test) == 10_000


def train_once(config, runs_dir) -> tuple[float, float]:
    store = Store(runs_dir)
    run_id = store.create_run(config)
    store.claim_next(["bench"])
    start = time.perf_counter()
    result = fit.train_run(store, run_id)
    return result["test_accuracy"], time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=sorted(presets.PRESETS))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (a quick look)")
    args = parser.parse_args()

    recipe = presets.get(args.dataset)
    overrides = {"data_dir": args.data_dir}
    if args.epochs:
        overrides["epochs"] = args.epochs
    official = official_test_set(args.dataset, args.data_dir)
    print(f"{args.dataset}: {recipe.title}; {recipe.settings}; overrides {overrides}")
    accuracies, minutes = [], []
    with tempfile.TemporaryDirectory() as runs_dir:
        for seed in range(1, args.seeds + 1):
            accuracy, seconds = train_once(recipe.config(seed=seed, **overrides), runs_dir)
            accuracies.append(accuracy)
            minutes.append(seconds / 60)
            print(f"  seed {seed}: test accuracy {accuracy:.4f} in {seconds / 60:.1f} min", flush=True)
    acc, mins = statistics.median(accuracies), statistics.median(minutes)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; date {time.strftime('%Y-%m-%d')}")
    print(f"median test accuracy {acc:.4f} (target {recipe.target:.3f}) in {mins:.1f} min per run")
    if not official:
        print("not judged: this test split is not the dataset's official test set")
        return 0
    if args.epochs:
        print("not judged: epochs were overridden")
        return 0
    if acc < recipe.target:
        print("FAIL: below target")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
