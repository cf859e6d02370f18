"""`cli store check | backup | restore | migrate`, and the store URL: chosen, checked, never printed whole."""

import json
import os
import subprocess
import sys

import pytest

from lib.config import TrainConfig
from lib.runs.progress import BatchRow, Progress
from lib.runs.store import Store
from lib.runs.store_errors import StoreError
from lib.runs.store_url import parse_store_url
from tests.conftest import ROOT


def cli(runs_dir, *args, env=None):
    base = {k: v for k, v in os.environ.items() if k != "CONVSTUDIO_STORE"}
    env = {**base, "CONVSTUDIO_RUNS_DIR": str(runs_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def filled_store(runs_dir) -> tuple[Store, list[str]]:
    store = Store(runs_dir, url=None)
    ids = [store.create_run(TrainConfig(epochs=2)) for _ in range(3)]
    store.claim_next(["cpu"])
    rows = [BatchRow(i, 1, i, 0.5, 0.8, 1.0) for i in range(30)]
    store.update_progress(ids[0], Progress("training", epoch=1, batch=3), rows)
    store.add_epoch(ids[0], {"epoch": 1, "loss": 0.4, "val_accuracy": 0.88, "confusion": [[1]]})
    store.finish(ids[0], "interrupted", error="server stopped", epochs_completed=1)
    store.request_stop(ids[2])
    return store, ids


@pytest.mark.parametrize(
    "url, expected",
    [
        (None, ("sqlite", "RUNS/convstudio.db")),
        ("sqlite:////srv/cs/store.db", ("sqlite", "/srv/cs/store.db")),
        ("postgresql://u:pw@db.example:5432/cs", ("postgresql", "postgresql://u:pw@db.example:5432/cs")),
    ],
)
def test_store_urls_pick_the_backend(url, expected, tmp_path):
    dialect, target = parse_store_url(url, tmp_path / "RUNS")
    assert (dialect, target.replace(str(tmp_path) + "/", "")) == expected


@pytest.mark.parametrize("bad", ["mysql://x/y", "sqlite://", "postgresql:///nohost", "just words"])
def test_unknown_store_urls_are_one_clear_line(bad, runs_dir):
    result = cli(runs_dir, "--store", bad, "runs")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: store URL"), result.stderr


def test_migrate_copies_runs_and_metrics_to_postgresql_without_printing_the_password(
    runs_dir, postgres_url, postgres_cluster
):
    source, ids = filled_store(runs_dir)
    result = cli(runs_dir, "store", "migrate", "--to", postgres_url)
    assert result.returncode == 0, result.stderr
    assert postgres_cluster.password not in result.stdout + result.stderr
    assert "copied 3 runs, 1 epoch rows and 30 batch rows" in result.stdout

    target = Store(runs_dir, url=postgres_url)  # the runs folder now belongs to the new store
    assert [r.id for r in target.list_runs()] == [r.id for r in source.list_runs()]
    assert [r.status for r in target.list_runs()] == [r.status for r in source.list_runs()]
    assert target.epochs(ids[0]) == source.epochs(ids[0])
    assert target.batches(ids[0]) == source.batches(ids[0])
    assert target.get(ids[0]).error == "server stopped"
    target.create_run(TrainConfig())  # new runs carry on after the copied ones
    assert target.queue()[-1].seq > max(r.seq for r in target.list_runs()[1:])
    listing = cli(runs_dir, "runs", "--json", env={"CONVSTUDIO_STORE": postgres_url})
    assert len(json.loads(listing.stdout)) == 4

    again = cli(runs_dir, "store", "migrate", "--to", postgres_url)
    assert again.returncode != 0 and "already holds 4 runs" in again.stderr
    assert postgres_cluster.password not in again.stderr


def test_check_backup_and_a_postgresql_store_that_has_its_own_tools(runs_dir, postgres_url):
    filled_store(runs_dir)
    check = cli(runs_dir, "store", "check", "--json")
    report = json.loads(check.stdout)
    assert check.returncode == 0 and report["ok"] and "3 runs, 0 active" in report["notes"]
    backup = cli(runs_dir, "store", "backup", "--out", str(runs_dir.parent / "b.db"))
    assert backup.returncode == 0 and (runs_dir.parent / "b.db").stat().st_size > 0
    assert len(Store(runs_dir.parent / "elsewhere", url=f"sqlite:///{runs_dir.parent / 'b.db'}").list_runs()) == 3
    on_pg = cli(runs_dir, "--store", postgres_url, "store", "backup")
    assert on_pg.returncode != 0 and "pg_dump" in on_pg.stderr and "Traceback" not in on_pg.stderr


def test_an_unreachable_database_server_is_one_line_without_the_password(runs_dir):
    url = "postgresql://alice:s3cret-pw@127.0.0.1:9/convstudio"  # port 9: nothing listens
    result = cli(runs_dir, "runs", env={"CONVSTUDIO_STORE": url, "CONVSTUDIO_STORE_WAIT_S": "2"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr and "alice:***@127.0.0.1:9" in result.stderr
    with pytest.raises(StoreError):
        Store(runs_dir, url=url, wait_s=1)
