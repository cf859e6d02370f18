"""`cli sweep` applies the administrator's limits to every trial, as `cli train` does to its run.

The sweep is driven in this process (lib.cli.main) with a blink-fast worker, so the test
exercises the real admission, queue and driver without training anything.
"""

from __future__ import annotations

import pytest

from lib.cli import sweep as sweep_command
from lib.cli.main import main
from lib.config import TrainConfig
from lib.runs import access
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store
from lib.sweeps.record import SweepRecords, SweepSpec
from lib.sweeps.space import SearchSpace

BASE = TrainConfig(dataset="mnist", architecture="lenet5", epochs=2)


@pytest.fixture(autouse=True)
def quick_worker(monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_TEST_EPOCH_S", "0.05")
    monkeypatch.setattr(
        sweep_command,
        "Scheduler",
        lambda store: Scheduler(store, ["cpu"], worker_module="tests.helpers.sweep_worker"),
    )


def limits(tmp_path, monkeypatch, text: str) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(path))


def sweep(tiny_data_dir, *args) -> list[str]:
    return ["sweep", "--data-dir", tiny_data_dir, "--vary", "batch_size=16,32,64", "--strategy", "grid", *args]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_a_sweep_past_the_epoch_limit_is_refused_before_anything_is_recorded(
    tmp_path, monkeypatch, runs_dir, tiny_data_dir, capsys
):
    limits(tmp_path, monkeypatch, "[convstudio]\nmax_epochs = 3\n")
    assert main(sweep(tiny_data_dir, "--epochs", "4")) == 2
    line = one_error_line(capsys)
    assert "epochs" in line and "at most 3 epochs" in line
    store = Store(runs_dir)
    assert store.list_sweeps() == [] and store.list_runs() == []


def test_under_a_queue_limit_trials_are_admitted_one_at_a_time_and_the_wait_is_said(
    tmp_path, monkeypatch, runs_dir, tiny_data_dir, capsys
):
    limits(tmp_path, monkeypatch, "[convstudio]\nmax_epochs = 3\nmax_queued_per_user = 1\nmax_run_minutes = 30\n")
    queued_at_once = []
    admit = access.check_submission

    def watched(policy, store, user, config):  # how many of the user's runs wait whenever one is admitted
        queued_at_once.append(sum(r.owner == user for r in store.queue()))
        return admit(policy, store, user, config)

    monkeypatch.setattr(access, "check_submission", watched)
    assert main(sweep(tiny_data_dir, "--epochs", "1", "--parallel", "3")) == 0
    err = capsys.readouterr().err
    assert "waits for room in the queue: you already have 1 runs waiting; this server allows 1" in err, err

    store = Store(runs_dir)
    (found,) = SweepRecords(store).list()
    trials = SweepRecords(store).trials(found.id)
    assert found.state == "completed" and [t.state for t in trials] == ["complete"] * 3
    runs = [store.get(t.run_id) for t in trials]
    assert all(r.status == "completed" and r.owner == access.os_user() for r in runs)
    assert all(r.config.extra.get("max_run_minutes") == 30 for r in runs)  # stamped like train's runs
    assert max(queued_at_once) <= 1  # never a trial admitted past the limit


def test_only_the_owner_or_an_administrator_may_stop_or_resume_a_sweep(
    tmp_path, monkeypatch, runs_dir, tiny_data_dir, capsys
):
    limits(tmp_path, monkeypatch, '[convstudio]\nadmins = ["ada"]\n[convstudio.users]\n')
    store = Store(runs_dir)
    records = SweepRecords(store)
    theirs = records.create(SweepSpec(BASE, SearchSpace.parse(["batch_size=32,64"]), "grid"), owner="carol")
    assert main(["sweep", "--stop", theirs]) == 2
    assert f"only carol or an administrator can stop sweep {theirs}" in one_error_line(capsys)
    assert main(["sweep", "--resume", theirs]) == 2
    assert "can resume" in one_error_line(capsys)
    assert records.get(theirs).state == "running" and records.trials(theirs) == []
