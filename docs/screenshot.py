"""Retake the README's screenshot: the Train page in the middle of a real run.

    .venv/bin/python docs/screenshot.py [--data-dir ../shared/data]

Trains LeNet-5 on MNIST (the sample in ../shared/data, or any data folder) and
photographs the Train page once a few epochs have drawn their curves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM, start_app  # noqa: E402

from lib.config import TrainConfig  # noqa: E402
from lib.runs.store import Store  # noqa: E402


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot-train.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        runs_dir = Path(tmp) / "runs"
        runs_dir.mkdir()
        server, url = start_app(runs_dir, args.data_dir)
        store = Store(runs_dir)
        config = TrainConfig(dataset="mnist", architecture="lenet5", epochs=8, batch_size=32, data_dir=args.data_dir)
        run_id = store.create_run(config)
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1250})
        page.goto(f"{url}/train?run={run_id}")
        while store.get(run_id).epochs_completed < 5:
            time.sleep(0.5)
        time.sleep(2.5)  # a second refresh, so every chart shows the fifth epoch
        page.screenshot(path=args.out)
        store.request_stop(run_id)
        browser.close()
        time.sleep(2)
        server.terminate()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
