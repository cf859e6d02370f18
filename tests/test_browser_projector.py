"""The projector in Chromium: a real click on a point shows that image beside the map; thumbnails on the map.

Fails before the drag mode became pan: with the lasso as the drag mode, Streamlit sets Plotly's clickmode to
'event' and a click selected nothing, although the page said "Drag a lasso (or click)".
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import start_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The pixel position of one point of the map's first trace, from Plotly's own axes (WebGL points have
# no DOM element to locate): page coordinates, and the image position the point carries. _fullData holds
# the arrays decoded (the figure arrives with numpy arrays as base64 typed arrays).
POINT = """() => {
    const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.data && g.data[0].type === 'scattergl');
    const trace = gd._fullData[0], k = Math.floor(trace.x.length / 2), L = gd._fullLayout;
    const box = gd.getBoundingClientRect();
    return {x: box.left + L._size.l + L.xaxis.l2p(trace.x[k]), y: box.top + L._size.t + L.yaxis.l2p(trace.y[k]),
            index: trace.customdata[k]};
}"""


def test_clicking_a_point_shows_its_image_beside_the_map(tmp_path, browser, trained_run, screenshots_dir):
    runs_dir = tmp_path / "runs"
    shutil.copytree(trained_run[0], runs_dir)
    run_id = trained_run[1]
    proc, url = start_app(runs_dir, extra_env={"CONVSTUDIO_NO_SCHEDULER": "1"})
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{url}/evaluate?run={run_id}")
        page.get_by_role("tab", name="Projector").click()
        page.get_by_text("PCA (instant)").click()
        page.get_by_text("to see their images here").wait_for()
        page.locator(".js-plotly-plot .gl-container canvas").first.wait_for()
        page.wait_for_timeout(1000)  # Plotly lays out the axes after the canvas appears
        point = page.evaluate(POINT)
        page.mouse.move(point["x"], point["y"])
        page.wait_for_timeout(300)  # hover first: Plotly selects the point under the pointer on click
        page.mouse.click(point["x"], point["y"])
        page.get_by_text("1 selected").wait_for()
        caption = page.locator('[data-testid="stImage"]', has_text=f"#{point['index']} ")
        caption.locator("img").wait_for()
        page.screenshot(path=str(screenshots_dir / "projector-click.png"), full_page=True)

        page.get_by_text("Images on the map").click()
        page.locator(".js-plotly-plot .layer-above image").first.wait_for(state="attached")
        assert page.locator(".js-plotly-plot .layer-above image").count() == 200  # every tiny test image
        page.screenshot(path=str(screenshots_dir / "projector-thumbnails.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(screenshots_dir / "projector-failure.png"), full_page=True)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a busy app on a loaded machine: do not leave it behind
            proc.kill()
            proc.wait()
