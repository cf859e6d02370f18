"""Does a sweep cost more than its trials? A grid sweep against the same settings run one by one via `cli train`.

Both sides are whole processes, timed from start to exit, as a user would run them:
`python -m lib.cli sweep --strategy grid ...` (which drives the sweep, queues each
trial and runs the queue) against one `python -m lib.cli train ...` per grid point,
one after another. Rounds alternate sweep / one-by-one so machine noise hits both
alike. Prints each round, the medians and the ratio; exits non-zero past 1.05.

    .venv/bin/python bench/sweep_overhead.py [--data-dir ../shared/data] [--rounds 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.05
RATES = ("0.001", "0.003")
BATCHES = ("32", "64")


def common(data_dir: str, limit: int, epochs: int) -> list[str]:
    return [
        "--dataset", "mnist", "--data-dir", data_dir, "--model", "lenet5",
        "--train-limit", str(limit), "--epochs", str(epochs),
    ]  # fmt: skip


def timed(args: list[str], runs_dir: str) -> tuple[float, str]:
    env = dict(os.environ, CONVSTUDIO_RUNS_DIR=runs_dir, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{out.stderr[-2000:]}")
    return seconds, out.stdout


def sweep_side(base: list[str]) -> float:
    with tempfile.TemporaryDirectory() as runs:
        args = ["sweep", *base, "--strategy", "grid", "--json",
                "--vary", f"learning_rate={','.join(RATES)}", "--vary", f"batch_size={','.join(BATCHES)}"]  # fmt: skip
        seconds, out = timed(args, runs)
        trials = json.loads(out.strip().splitlines()[-1])["trials"]
        assert len(trials) == len(RATES) * len(BATCHES) and all(t["state"] == "complete" for t in trials)
        return seconds


def one_by_one_side(base: list[str]) -> float:
    with tempfile.TemporaryDirectory() as runs:
        total = 0.0
        for lr, batch in itertools.product(RATES, BATCHES):
            seconds, _ = timed(["train", *base, "--lr", lr, "--batch-size", batch, "--json"], runs)
            total += seconds
        return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    base = common(args.data_dir, args.train_limit, args.epochs)
    print(f"{platform.node()}: {os.cpu_count()} cores; {len(RATES) * len(BATCHES)} trials of lenet5,"
          f" {args.train_limit} MNIST images, {args.epochs} epoch(s) each")  # fmt: skip
    sweeps, singles = [], []
    for r in range(args.rounds):
        sweeps.append(sweep_side(base))
        singles.append(one_by_one_side(base))
        print(f"round {r + 1}: sweep {sweeps[-1]:.1f} s, one by one {singles[-1]:.1f} s")
    sweep, single = statistics.median(sweeps), statistics.median(singles)
    ratio = sweep / single
    print(f"median: sweep {sweep:.1f} s, one by one {single:.1f} s, sweep / one by one = {ratio:.3f}"
          f" (target <= {TARGET})")  # fmt: skip
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
