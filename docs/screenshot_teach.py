"""Take the README's Teach-it screenshot: the projector on Evaluate, for a run that has been corrected.

    .venv/bin/python docs/screenshot_teach.py [--data-dir ../shared/data]

Trains LeNet-5 for 3 epochs on the MNIST sample, keeps 20 digits redrawn with
a thick pen as corrections, fine-tunes on them (in-process, as a worker
would), then photographs the base run's projector in Chromium. (A second shot,
Predict's before -> after for the fine-tuned run, timed out choosing the run
in the picker on a loaded machine and was left out.)
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

import numpy as np  # noqa: E402
from conftest import CHROMIUM, start_app  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from lib.config import TrainConfig  # noqa: E402
from lib.data import datasets  # noqa: E402
from lib.inference import prediction, preprocess  # noqa: E402
from lib.runs.store import Store  # noqa: E402
from lib.teach import finetune, review  # noqa: E402
from lib.train import fit  # noqa: E402


def train(store: Store, run_id: str) -> None:
    store.claim_next(["docs"])
    fit.train_run(store, run_id)


def prepare(runs_dir: Path, data_dir: str) -> tuple[str, str]:
    store = Store(runs_dir)
    base = store.create_run(TrainConfig(dataset="mnist", architecture="lenet5", epochs=3, data_dir=data_dir))
    train(store, base)
    (x, y), _ = datasets.load_raw("mnist", data_dir)
    rng = np.random.default_rng(0)
    _, info, model = prediction.load_run_model(store, base)
    for d in range(10):
        for i in rng.choice(np.flatnonzero(y == d), 2, replace=False):
            thick = Image.fromarray(x[i].reshape(28, 28)).filter(ImageFilter.MaxFilter(5))
            shown = preprocess.Prepared(thick.convert("RGB"), (np.asarray(thick, np.float32) / 255.0)[..., None])
            review.correct_prepared(store, base, shown, d, f"thick-{d}.png", model, info)
    child = finetune.queue(store, base)
    train(store, child)
    return base, child


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        runs_dir = Path(tmp) / "runs"
        runs_dir.mkdir()
        base, _ = prepare(runs_dir, args.data_dir)
        server, url = start_app(runs_dir, args.data_dir)
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{url}/evaluate?run={base}")
        page.get_by_role("tab", name="Projector").click(timeout=120_000)
        page.get_by_text("penultimate-layer features").wait_for(timeout=180_000)
        time.sleep(4)  # the WebGL figure draws after the caption
        page.screenshot(path=str(ROOT / "docs" / "screenshot-projector.png"))
        browser.close()
        server.terminate()
    print("wrote docs/screenshot-projector.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
