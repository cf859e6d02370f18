"""Your own images in Chromium: a server folder previewed (counts, classes, skipped files), then saved."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.conftest import start_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def make_folder(root):
    """shapes/red and shapes/blue, 12 small photos each, and one broken file that must be listed."""
    for colour, rgb in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        folder = root / "shapes" / colour
        folder.mkdir(parents=True)
        for i in range(12):
            image = Image.new("RGB", (40, 40), (250, 250, 250))
            image.paste(rgb, (5 + i, 5, 25 + i, 30))
            image.save(folder / f"{i}.png")
    (root / "shapes" / "blue" / "broken.png").write_bytes(b"\x89PNG this is not really a picture")


def test_a_server_folder_is_previewed_with_its_problems_and_saved(tmp_path, browser, screenshots_dir):
    data_root = tmp_path / "data"
    make_folder(data_root)
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    proc, url = start_app(runs_dir, str(data_root), extra_env={"CONVSTUDIO_NO_SCHEDULER": "1"})
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.set_default_timeout(60_000)
    try:
        page.goto(url)
        page.get_by_role("link", name="Your images", exact=True).click()
        page.get_by_text("A folder on this server").click()
        page.locator('[data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="shapes").click()
        page.get_by_text("Training images").wait_for()
        metrics = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
        assert metrics[0] == "2" and int(metrics[1]) + int(metrics[2]) == 25  # files found; decoded on save
        page.locator(".js-plotly-plot").first.wait_for()
        page.screenshot(path=screenshots_dir / "custom-data-preview.png", full_page=True)

        page.get_by_role("textbox", name="Dataset name").fill("shapes")
        page.get_by_role("button", name="Save dataset").click()
        page.get_by_text("It is now listed beside MNIST", exact=False).wait_for()
        manifest = json.loads((data_root / "custom" / "shapes" / "manifest.json").read_text())
        assert [s["file"] for s in manifest["skipped"]] == ["blue/broken.png"]
        page.get_by_text("shapes: 2 classes, 24 images").wait_for()  # in the saved list
        page.screenshot(path=screenshots_dir / "custom-data-saved.png", full_page=True)
    except Exception:
        page.screenshot(path=screenshots_dir / "custom-data-failure.png")
        raise
    finally:
        proc.terminate()
        proc.wait(10)
