"""Teach it in Chromium, the whole loop (issue 16): collect -> train -> correct on Predict -> fine-tune -> before/after.

Collects a two-class dataset by uploads (a headless browser has no camera),
trains it for two epochs through the real scheduler and worker, tells Predict
that an in-between image it reads one way is the other class, fine-tunes with
that one correction and reads the before -> after strip. The Predict page is
saved as artifacts/screenshots/teach-before-after.png; with CONVSTUDIO_UPDATE_DOCS=1 also as
docs/teach-before-after.png, the picture in the README's Teach-it section.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from lib.runs.store import Store
from tests.conftest import ROOT, start_app
from tests.helpers.browser import settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLASSES = {"warm": (225, 60, 30), "cool": (30, 90, 225)}
PER_CLASS = 12  # every 7th goes to test/: 10 train, 2 test per class
RUN_DONE_S = 240  # a worker's start (TensorFlow) plus two tiny epochs, on a loaded 2-core machine
PREDICTION = re.compile(r"Prediction: (\S+) ·")
IMAGES_LOADED = """() => {
    const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
    return images.length >= 4 && images.every(i => i.complete && i.naturalWidth > 0);
}"""  # the upload's three pictures and the before -> after strip's


def photos(folder: Path, colour, count: int) -> list[str]:
    """Small photos of one colour class: a square of `colour` on a light background, moved about."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = Image.new("RGB", (48, 48), (235, 235, 235))
        image.paste(colour, (4 + 2 * i % 16, 6 + 3 * i % 14, 30 + 2 * i % 16, 34 + 3 * i % 14))
        image.save(folder / f"{i}.png")
        paths.append(str(folder / f"{i}.png"))
    return paths


def in_between(path: Path) -> str:
    """Half warm, half cool: the model must guess, and the user says which it is."""
    image = Image.new("RGB", (48, 48), (235, 235, 235))
    image.paste(CLASSES["warm"], (6, 8, 24, 40))
    image.paste(CLASSES["cool"], (24, 8, 42, 40))
    image.save(path)
    return str(path)


def open_page(page, link: str, heading: str | None = None) -> None:
    """Click a page in the navigation; again if a rerun under way (a run finishing) swallowed the click."""
    for _ in range(3):
        settle(page)
        page.get_by_role("link", name=link, exact=True).click()
        try:
            page.get_by_role("heading", name=heading or link, exact=True).first.wait_for(timeout=15_000)
            return
        except PlaywrightTimeout:
            continue
    pytest.fail(f"the {link} page never opened")


def collect_class(page, class_name: str, files: list[str]) -> None:
    box = page.get_by_role("textbox", name="New class")
    box.fill(class_name)
    page.get_by_role("button", name="Add class").click()
    panel = page.locator('[data-testid="stExpander"]', has_text=f"{class_name}: 0 image")
    panel.wait_for()
    panel.get_by_text("Upload", exact=True).click()
    settle(page)
    panel.locator('input[type="file"]').set_input_files(files)
    panel.get_by_role("button", name=f"Add {len(files)} image(s)").click()
    page.get_by_text(f"{class_name}: {len(files)} image(s)").wait_for()


def wait_for_run(store: Store, run_id: str) -> None:
    deadline = time.monotonic() + RUN_DONE_S
    run = store.get(run_id)
    while not run.is_finished and time.monotonic() < deadline:
        time.sleep(1)
        run = store.get(run_id)
    assert run.status == "completed", f"run {run_id} is {run.status}: {run.error}"


def run_seconds(store: Store, run_id: str) -> str:
    """The worker's own time for a run, from its record, as 'N s'."""
    seconds = store.get(run_id).duration  # claimed -> finished: the worker's start, the data, the epochs
    return f"{seconds:.0f} s" if seconds is not None else "time not recorded"


def test_collect_train_correct_finetune_and_see_before_after(tmp_path, browser, screenshots_dir):
    data_root, runs_dir = tmp_path / "data", tmp_path / "runs"
    data_root.mkdir()
    runs_dir.mkdir()
    store = Store(runs_dir)
    started = time.monotonic()
    proc, url = start_app(runs_dir, str(data_root))  # with its scheduler: runs train in real workers
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    page.set_default_timeout(60_000)
    try:
        # -- collect by upload ---------------------------------------------------------------
        page.goto(url)
        open_page(page, "Your images", "Your own images")
        page.get_by_text("Collect images one by one").click()
        page.get_by_role("textbox", name="Dataset name").fill("colours")
        page.get_by_role("textbox", name="Dataset name").press("Enter")
        for class_name, colour in CLASSES.items():
            collect_class(page, class_name, photos(tmp_path / class_name, colour, PER_CLASS))
        form = page.locator('[data-testid="stForm"]', has_text="Save dataset")
        form.locator('[data-testid="stSelectbox"]').click()
        page.get_by_role("option", name="32", exact=True).click()
        form.get_by_role("button", name="Save dataset").click()
        page.get_by_text("Saved colours").wait_for()
        page.get_by_role("button", name="Train on it").click()
        settle(page)

        # -- train -----------------------------------------------------------------------------
        open_page(page, "Train")
        page.get_by_text("on colours").first.wait_for()  # the summary names the chosen dataset
        epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
        epochs.fill("2")
        epochs.press("Enter")
        settle(page)
        page.get_by_role("button", name="Start training").click()
        page.get_by_role("heading", name=re.compile(r"Run \S+ · ")).first.wait_for()  # the live view
        parent = store.list_runs()[0]
        assert parent.config.dataset == "colours" and parent.config.epochs == 2
        wait_for_run(store, parent.id)
        trained = time.monotonic()

        # -- correct on Predict -------------------------------------------------------------------
        open_page(page, "Predict")
        page.get_by_role("tab", name="Upload").click()
        settle(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
            in_between(tmp_path / "both.png")
        )
        said = PREDICTION.search(page.get_by_text("Prediction:").inner_text(timeout=60_000)).group(1)
        right = next(c for c in sorted(CLASSES) if c != said)  # the user says it is the other one
        page.locator('[data-testid="stSelectbox"]', has_text="Wrong? It is:").click()
        page.get_by_role("option", name=right, exact=True).click()
        settle(page)
        page.get_by_role("button", name="Add correction").click()
        page.get_by_text("Corrections for this model (1)").wait_for()

        # -- fine-tune with it ------------------------------------------------------------------------
        page.get_by_role("button", name="Fine-tune with 1 corrections").click()
        page.get_by_text("Queued run").wait_for()
        child = next(r for r in store.list_runs() if r.config.extra.get("corrections_from") == parent.id)
        wait_for_run(store, child.id)
        tuned = time.monotonic()

        # -- before -> after -----------------------------------------------------------------------------
        page.reload()
        page.get_by_role("heading", name="Predict", exact=True).wait_for()
        model = page.locator('[data-testid="stSelectbox"]').first
        if child.id not in model.inner_text():  # the newest completed run is the default
            model.click()
            page.get_by_role("option", name=re.compile(child.id)).click()
        # Streamlit's Markdown draws "->" as an arrow
        heading = page.get_by_text(re.compile(r"Before (->|→) after: \d of 1 corrected images now read right"))
        heading.wait_for()
        assert re.search(r": 1 of 1 ", heading.inner_text()), heading.inner_text()  # the correction took
        page.get_by_text(re.compile(rf"^{said} (->|→) {right}")).first.wait_for()
        page.get_by_role("tab", name="Upload").click()  # and the same image, asked again, now reads right
        settle(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(tmp_path / "both.png"))
        now = PREDICTION.search(page.get_by_text("Prediction:").inner_text(timeout=60_000)).group(1)
        assert now == right
        settle(page)  # the whole page drawn again, nothing left faded from the last run
        page.wait_for_function(IMAGES_LOADED)
        shot = screenshots_dir / "teach-before-after.png"
        page.screenshot(path=str(shot), full_page=True)
        print(
            f"teach loop: collected and trained in {trained - started:.0f} s (run {run_seconds(store, parent.id)}), "
            f"corrected and fine-tuned in {tuned - trained:.0f} s (run {run_seconds(store, child.id)}), "
            f"{time.monotonic() - started:.0f} s in all"
        )
        if os.environ.get("CONVSTUDIO_UPDATE_DOCS") == "1":  # the README's picture, refreshed on request only
            shutil.copyfile(shot, ROOT / "docs" / "teach-before-after.png")
    except Exception:
        page.screenshot(path=str(screenshots_dir / "teach-loop-failure.png"), full_page=True)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
