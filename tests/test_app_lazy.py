"""The first page paints without TensorFlow: pages that only read the store never import it."""

import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=60)
at.run()
assert not at.exception, at.exception
for page in ("pages/train.py", "pages/runs.py", "pages/custom_data.py"):
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_data_train_runs_and_custom_data_pages_never_import_tensorflow(runs_dir, tiny_data_dir):
    env = dict(
        os.environ, CONVSTUDIO_RUNS_DIR=str(runs_dir), CONVSTUDIO_DATA_DIR=tiny_data_dir, CONVSTUDIO_NO_SCHEDULER="1"
    )
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(app=str(ROOT / "app.py"))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout, out.stdout
