"""What 20 viewers of a running job cost it: images per second watched against not watched.

20 AppTest sessions of the real Train page, each rerun once a second as the live fragment is,
watch a LeNet-5 job on 8,000 synthetic digits; the worker runs on CPU 0, the sessions on CPU 1
(tests/helpers/watching.py). Watched phases alternate with quiet ones, each watched phase is
compared with its two quiet neighbours, and the median of those ratios is the figure: at least
five rounds, up to fifteen while it is below 0.9. Exits non-zero if watching costs more than 10%
or the server's memory grows by 20 MB or more. tests/test_load_watchers.py runs two rounds of
the same in CI and fails only on a gross cost.

    .venv/bin/python bench/watchers.py [--watchers 20] [--rounds 5 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lib.runs.store import Store  # noqa: E402
from tests.helpers.blob_data import write_blob_mnist  # noqa: E402
from tests.helpers.watching import has_two_cores, watch_job  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--rounds", type=int, nargs=2, default=(5, 15), metavar=("MIN", "MAX"))
    args = parser.parse_args()
    if not has_two_cores():
        print("error: needs CPUs 0 and 1 (the worker on one, the viewers on the other)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = write_blob_mnist(Path(tmp) / "data", train=8000)
        os.environ["CONVSTUDIO_DATA_DIR"] = data_dir
        os.environ["CONVSTUDIO_NO_SCHEDULER"] = "1"
        watch = watch_job(Store(Path(tmp) / "runs"), data_dir, tuple(args.rounds), args.watchers)
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs; {args.watchers} viewers")
    print(watch.figures())
    ok = watch.ratio >= 0.9 and watch.growth < 20 * 2**20
    print("ok" if ok else "target missed: watched/quiet >= 0.9 and RSS growth < 20 MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
