"""Issue 14: Streamlit's own running indicator showed top right whenever a rerun took over half a
second (every poll on a busy server) and offered a Stop that does nothing to a run. The frame hides
it (config.toml's minimal toolbar hid it only where that file was read: a server started from another
folder showed it); the tests' settle() still knows when a rerun has finished."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import start_app
from tests.helpers.browser import settle, status_widget_seen, watch_status_widget

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_running_indicator_never_shows(tmp_path, browser, trained_run):
    runs_dir = tmp_path / "runs"
    shutil.copytree(trained_run[0], runs_dir)
    # as started from another folder, without .streamlit/config.toml's minimal toolbar, which hides it too
    env = {"CONVSTUDIO_NO_SCHEDULER": "1", "STREAMLIT_CLIENT_TOOLBAR_MODE": "auto"}
    proc, url = start_app(runs_dir, extra_env=env)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # the server's very first page: its first imports run before any page code can draw a thing
        page.goto(url)
        page.get_by_role("heading", name="Data").first.wait_for(timeout=90_000)
        watch_status_widget(page)
        page.goto(url + "/predict")  # loading the model takes seconds: Streamlit shows its indicator after 0.5 s
        page.get_by_text("Draw a digit on the canvas").wait_for(timeout=90_000)
        seen = status_widget_seen(page)
        assert seen["present"] > 0, f"no rerun took long enough to show the indicator, so nothing was checked: {seen}"
        assert seen["visible"] == 0, f"Streamlit's running indicator showed in {seen['visible']} frames: {seen}"
        page.get_by_role("tab", name="Upload").click()
        settle(page)  # the tests' wait for a finished rerun still returns
        page.get_by_text("Drop one or more images here").wait_for(timeout=10_000)
    finally:
        proc.kill()
        proc.wait()
