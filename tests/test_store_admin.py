"""`cli store check | backup | restore | migrate`, and the store URL: chosen, checked, never printed whole."""

import json
import os
import subprocess
import sys
import time

import pytest

from lib.config import TrainConfig
from lib.runs.executors import LocalExecutor
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


# -- restore while the store is in use ------------------------------------------------------
def wait_for(predicate, timeout=60, poll=0.1):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("timed out")


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.slow
def test_restore_is_refused_while_a_worker_writes_and_done_once_it_has_stopped(runs_dir, monkeypatch):
    """A real worker process beating into the store: restoring under it would lose its writes or mix
    them into the backup's runs, so the restore says what to stop; once it is stopped, it restores."""
    monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
    monkeypatch.setenv("BEATING_WORKER_SECONDS", "120")
    store = Store(runs_dir)
    run_id = store.create_run(TrainConfig(epochs=1))
    backup = runs_dir.parent / "before.db"
    assert cli(runs_dir, "store", "backup", "--out", str(backup)).returncode == 0
    executor = LocalExecutor(store, ["cpu"], "tests.helpers.beating_worker")
    executor.start(store.claim_next(["cpu"]))
    wait_for(lambda: store.get(run_id).heartbeat)

    refused = cli(runs_dir, "store", "restore", str(backup))
    line = one_error_line(refused)
    assert f"stop the workers first: 1 run is running ({run_id} on " in line and "lib.cli stop" in line, line
    assert store.get(run_id).status == "running" and store.get(run_id).heartbeat, "the store was left alone"

    assert store.request_stop(run_id)
    wait_for(lambda: store.get(run_id).is_finished, timeout=30)
    wait_for(lambda: not executor.poll() and not executor.children, timeout=30)
    restored = cli(runs_dir, "store", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert Store(runs_dir).get(run_id).status == "queued", "the backup's state"


@pytest.mark.slow
def test_a_dead_worker_does_not_block_a_restore_but_a_scheduler_does(runs_dir, monkeypatch):
    monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
    monkeypatch.setenv("BEATING_WORKER_SECONDS", "120")
    store = Store(runs_dir)
    run_id = store.create_run(TrainConfig(epochs=1))
    backup = runs_dir.parent / "before.db"
    assert cli(runs_dir, "store", "backup", "--out", str(backup)).returncode == 0
    executor = LocalExecutor(store, ["cpu"], "tests.helpers.beating_worker")
    executor.start(store.claim_next(["cpu"]))
    wait_for(lambda: store.get(run_id).heartbeat)
    executor.children[(run_id, 1)].kill()  # it dies without a word: the store still says running
    executor.children[(run_id, 1)].wait()
    quick = {"CONVSTUDIO_HEARTBEAT_LIMIT_S": "1"}
    time.sleep(1.5)

    assert store.acquire_lease("scheduler:local:box", "box:4242", 60, {"executor": "local", "pid": 4242, "node": "box"})
    line = one_error_line(cli(runs_dir, "store", "restore", str(backup), env=quick))
    assert "stop the scheduler first: the local scheduler on box (pid 4242)" in line, line
    store.release_lease("scheduler:local:box", "box:4242")

    restored = cli(runs_dir, "store", "restore", str(backup), env=quick)
    assert restored.returncode == 0, restored.stderr
    assert Store(runs_dir).get(run_id).status == "queued"
