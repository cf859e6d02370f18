"""What does the engine cost? Bare `model.fit(verbose=0)` against ConvStudio's training path.

Same model, same data, same batch size, in one process, alternating
bare / engine / bare / engine ... so machine noise hits both alike. The engine
side is lib.training.train_run: tf.data pipeline, the streaming callback writing
to a real SQLite store, and a checkpoint every epoch. The figure compared is
the median epoch time after the first epoch of each run (the first includes
graph tracing for both). Exits non-zero if the engine is more than 3% slower.

    .venv/bin/python bench/overhead.py [--dataset fashion_mnist] [--limit 30000] [--repeats 3]
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

from lib.config import TrainConfig  # noqa: E402
from lib.data import datasets
from lib.runs.store import Store  # noqa: E402
from lib.train import fit

TARGET = 1.03


def bare_epoch_seconds(config: TrainConfig, data) -> list[float]:
    """The baseline: the Keras example's way, numpy arrays straight into fit."""
    import keras

    keras.utils.set_random_seed(config.seed)
    steps = -(-len(data.x_train) // config.batch_size)
    model = fit.build_model(config, data.info, steps)
    times, start = [], {}

    class EpochTimer(keras.callbacks.Callback):  # epoch hooks only: keeps Keras's fast batch path
        def on_epoch_begin(self, epoch, logs=None):
            start["t"] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - start["t"])

    model.fit(
        data.x_train,
        data.y_train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        verbose=0,
        callbacks=[EpochTimer()],
    )
    return times


def engine_epoch_seconds(config: TrainConfig, runs_dir: str) -> list[float]:
    store = Store(runs_dir)
    run_id = store.create_run(config)
    store.claim_next(["bench"])
    fit.train_run(store, run_id)
    return [e["seconds"] for e in store.epochs(run_id)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="simple_cnn")
    parser.add_argument("--limit", type=int, default=30000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = TrainConfig(
        dataset=args.dataset,
        architecture=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        train_limit=args.limit,
        validation_split=0.0,
        data_dir=args.data_dir,
        dropout=0.0,
    ).validate()
    data = datasets.prepare(config.dataset, config.data_dir, config.train_limit, 0.0, config.seed)
    print(f"{config.architecture} on {len(data.x_train)} {config.dataset} images, batch {config.batch_size}, "
          f"{config.epochs} epochs, {args.repeats} repeats, alternating")  # fmt: skip

    bare, engine = [], []
    with tempfile.TemporaryDirectory() as runs_dir:
        for i in range(args.repeats):
            b = statistics.median(bare_epoch_seconds(config, data)[1:])
            e = statistics.median(engine_epoch_seconds(config, runs_dir)[1:])
            bare.append(b)
            engine.append(e)
            print(f"  repeat {i + 1}: bare {b:.3f} s/epoch, engine {e:.3f} s/epoch, ratio {e / b:.3f}")

    n = len(data.x_train)
    b, e = statistics.median(bare), statistics.median(engine)
    ratio = e / b
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"bare model.fit: {n / b:,.0f} images/s ({b:.3f} s/epoch, median)")
    print(f"engine:         {n / e:,.0f} images/s ({e:.3f} s/epoch, median)")
    print(f"engine / bare time ratio: {ratio:.3f} (target <= {TARGET})")
    if ratio > TARGET:
        print("FAIL: the engine costs more than 3%")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
