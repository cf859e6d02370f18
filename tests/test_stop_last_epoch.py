"""Issue 14, defect 4: Stop pressed during the last epoch was listed 'stopped 3/3'.

Keras ends an epoch that a stop broke off like a whole one, so the worker counted it. A run
stopped mid-epoch reports the whole epochs it trained, the same in `cli runs`, the Runs page and
the Train page; a stop that arrives only after the last batch leaves the run 'completed'.
Trained for real (tiny data, 3 short epochs) in this process; the stop is asked for at a chosen batch.
"""

from __future__ import annotations

import pytest

from lib.cli import main as cli_main
from lib.config import TrainConfig
from lib.runs import outcome
from lib.train import fit
from tests.test_app_pages import env, goto, open_page  # noqa: F401 - env is a fixture

EPOCHS, BATCH = 3, 32  # the tiny data's 540 training images: 17 batches an epoch


def train_stopped_at(store, tiny_data_dir, monkeypatch, epoch: int, batch: int | None):
    """Train a run, asking for a stop when Keras's 0-based `epoch`/`batch` ends (batch None: the last)."""

    class StopAt(fit.StoreCallback):
        def on_train_batch_end(self, b, logs=None):
            last = self.steps - 1 if batch is None else batch
            if self._epoch == epoch and b == last:
                store.request_stop(self.run_id)  # what Stop on the Train page does
            super().on_train_batch_end(b, logs)

    monkeypatch.setattr(fit, "StoreCallback", StopAt)
    config = TrainConfig(
        dataset="mnist", architecture="simple_cnn", epochs=EPOCHS, batch_size=BATCH, data_dir=tiny_data_dir
    )
    run_id = store.create_run(config)
    store.claim_next(["cpu"])
    fit.train_run(store, run_id)
    return store.get(run_id)


@pytest.mark.slow
def test_a_stop_in_the_last_epoch_counts_only_the_whole_epochs(store, tiny_data_dir, monkeypatch, capsys):
    run = train_stopped_at(store, tiny_data_dir, monkeypatch, epoch=EPOCHS - 1, batch=1)
    assert run.status == "stopped"
    assert run.epochs_completed == EPOCHS - 1 and len(store.epochs(run.id)) == EPOCHS - 1
    cut = run.metrics["partial_epoch"]
    assert cut["epoch"] == EPOCHS and 2 <= cut["batches"] < cut["steps"] == 17
    assert store.model_path(run.id).is_file() and run.test_accuracy is not None  # the kept model is tested
    assert outcome.epochs_done(run) == "2/3"
    assert outcome.outcome(run).startswith("stopped after 2 of 3 epochs (and ")

    assert cli_main.main(["--runs-dir", str(store.root), "runs"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(run.id))
    assert line.split()[1:2] == ["stopped"] and " 2/3 " in line and "3/3" not in line


@pytest.mark.slow
def test_a_stop_after_the_last_batch_is_a_completed_run(store, tiny_data_dir, monkeypatch):
    run = train_stopped_at(store, tiny_data_dir, monkeypatch, epoch=EPOCHS - 1, batch=None)
    assert run.status == "completed" and run.epochs_completed == EPOCHS
    assert "partial_epoch" not in run.metrics and run.error is None
    assert outcome.outcome(run) == "completed 3 of 3 epochs"


@pytest.mark.slow
def test_a_stop_in_an_earlier_epoch_keeps_its_whole_epochs_and_resumes_from_them(store, tiny_data_dir, monkeypatch):
    run = train_stopped_at(store, tiny_data_dir, monkeypatch, epoch=1, batch=3)
    assert run.status == "stopped" and run.epochs_completed == 1
    assert [e["epoch"] for e in store.epochs(run.id)] == [1]
    assert store.model_path(run.id, "last").is_file()  # the end of epoch 1, where a resume starts


def test_the_runs_page_and_the_train_page_say_the_whole_epochs(env, store, tiny_data_dir):  # noqa: F811
    config = TrainConfig(data_dir=tiny_data_dir, epochs=EPOCHS)
    run_id = store.create_run(config)
    store.claim_next(["cpu"])
    store.request_stop(run_id)
    partial = {"epoch": 3, "batches": 5, "steps": 17}
    store.finish(run_id, "stopped", test_accuracy=0.8, epochs_completed=2, partial_epoch=partial)
    at = goto(open_page("pages/data.py"), "pages/runs.py")
    table = at.main.dataframe[0].value
    row = table[table["run"] == run_id].iloc[0]
    assert (row["status"], row["epochs"]) == ("stopped", "2/3")
    assert outcome.outcome(store.get(run_id)) == "stopped after 2 of 3 epochs (and 5 of 17 batches of epoch 3)"
    store.model_path(run_id).parent.mkdir(parents=True, exist_ok=True)
    store.model_path(run_id).write_bytes(b"kept")
    train = goto(at, "pages/train.py")
    train.query_params["run"] = run_id
    train.run()
    said = " ".join(s.value for s in train.success)
    assert "Stopped on request after 2 of 3 epochs (and 5 of 17 batches of epoch 3)" in said, said
