"""Issue 14, defect 8: options of every command (--runs-dir, --store, --data-dir) work on both sides of it."""

from __future__ import annotations

import pytest

from lib.cli import main as cli_main
from lib.config import TrainConfig
from lib.runs.store import Store


@pytest.fixture
def other_store(tmp_path, tiny_data_dir):
    """A store that is not $CONVSTUDIO_RUNS_DIR, holding one run."""
    store = Store(tmp_path / "elsewhere")
    return tmp_path / "elsewhere", store.create_run(TrainConfig(data_dir=tiny_data_dir))


@pytest.mark.parametrize("where", ["before", "after"])
def test_runs_dir_before_or_after_the_subcommand(runs_dir, other_store, capsys, where):
    folder, run_id = other_store
    argv = ["--runs-dir", str(folder), "runs"] if where == "before" else ["runs", "--runs-dir", str(folder)]
    assert cli_main.main(argv) == 0
    assert run_id in capsys.readouterr().out


@pytest.mark.parametrize("where", ["before", "after"])
def test_data_dir_before_or_after_the_subcommand(runs_dir, tiny_data_dir, capsys, where):
    given = ["--data-dir", tiny_data_dir]
    argv = [*given, "datasets"] if where == "before" else ["datasets", *given]
    assert cli_main.main(argv) == 0
    assert f"available at {tiny_data_dir}/mnist" in capsys.readouterr().out


def test_hoisting_keeps_everything_else_in_order():
    argv = ["train", "--epochs", "1", "--runs-dir=X", "--store", "sqlite:///s.db", "--", "--data-dir"]
    assert cli_main.hoist_global_options(argv) == [
        "--runs-dir=X", "--store", "sqlite:///s.db", "train", "--epochs", "1", "--", "--data-dir"
    ]  # fmt: skip


def test_help_says_they_go_on_either_side(capsys):
    with pytest.raises(SystemExit):
        cli_main.main(["--help"])
    assert "before or after" in " ".join(capsys.readouterr().out.split())
