"""A team's setup on one machine: two app servers and the command line on one PostgreSQL store."""

import json
import os
import subprocess
import sys

import pytest

from lib.config import TrainConfig
from lib.runs.store import Store
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_two_app_servers_on_one_postgresql_store_see_the_same_runs_and_queue(
    postgres_url, runs_dir, tiny_data_dir, monkeypatch
):
    store = Store(runs_dir, url=postgres_url)
    done, *queued = (store.create_run(TrainConfig(data_dir=tiny_data_dir, epochs=1)) for _ in range(4))
    store.claim_next(["cpu"])
    store.heartbeat(done, node="box-1", gpu="0")
    store.finish(done, "completed", test_accuracy=0.9, epochs_completed=1)
    env = {
        **os.environ,
        "CONVSTUDIO_STORE": postgres_url,
        "CONVSTUDIO_RUNS_DIR": str(runs_dir),
        "CONVSTUDIO_DATA_DIR": tiny_data_dir,
        "CONVSTUDIO_NO_SCHEDULER": "1",  # the queue must stay as it is while both look
    }
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.app_view"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [s.communicate(timeout=300) for s in servers]
    assert all(s.returncode == 0 for s in servers), [out[-3000:] for out, _ in outputs]
    views = [json.loads(out) for out, _ in outputs]
    assert views[0] == views[1], views
    view = views[0]
    assert view["runs"] == [*reversed(queued), done]  # newest first, the same rows on both
    assert view["status"] == ["queued"] * 3 + ["completed"]
    assert view["where"] == ["", "", "", "box-1 · GPU 0"]  # where the finished run ran, as its worker said
    assert [line.split(".")[0] for line in view["queue"]] == ["1", "2", "3"]
    assert "Traceback" not in json.dumps(views)
    store.close()
