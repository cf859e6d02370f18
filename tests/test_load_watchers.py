"""20 browser sessions watching one running job: nothing breaks, the server's memory stays flat, and
watching does not stall the job.

The sessions are the real Train page in Streamlit's AppTest, rerun once a second as the live
fragment is (tests/helpers/watching.py says how, and why each precaution is there). The 10%
speed goal is measured by bench/watchers.py (five or more paired rounds: minutes, and a figure,
not a pass/fail for CI's shared machine); this test runs two rounds and fails only on a gross
cost, such as the reader that held the store's write lock 50 ms per refresh and cut the job to
a third.
"""

from __future__ import annotations

import pytest

from tests.helpers.blob_data import write_blob_mnist
from tests.helpers.watching import WATCHERS, WORKER_CORE, has_two_cores, watch_job
from ui import live

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def blob_data_dir(tmp_path_factory) -> str:
    """8,000 training images: an epoch of LeNet-5 lasts about a second on one core."""
    return write_blob_mnist(tmp_path_factory.mktemp("blobs"), train=8000)


def test_twenty_watchers_see_the_job_without_stalling_it_or_growing_the_server(store, blob_data_dir, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", blob_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")  # the watch's scheduler is the only one
    if not has_two_cores():
        pytest.skip("needs cores 0 and 1 to keep the watchers off the worker's core")
    watch = watch_job(store, blob_data_dir, rounds=(2, 2))
    print(watch.figures())  # shown with pytest -s

    assert watch.worker_cores == {WORKER_CORE}, f"the worker's threads ran on cores {watch.worker_cores}"
    assert not [e for s in watch.sessions for e in s.errors], "a page raised while watching"
    assert watch.refreshes_per_s >= WATCHERS / 3, f"the sessions hardly watched: {watch.figures()}"
    assert max(s.buffered_points() for s in watch.sessions) <= live.MAX_POINTS
    assert watch.growth < 20 * 2**20, f"the server grew while watched: {watch.figures()}"
    assert watch.ratio >= 0.6, f"watching stalled the job: {watch.figures()}"
