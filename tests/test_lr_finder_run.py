"""The learning-rate finder as a run through the shared queue: the worker ramps the rate and records the loss."""

from __future__ import annotations

import pytest

from lib.config import TrainConfig
from lib.runs.scheduler import Scheduler
from lib.sweeps.lr_finder import finder_config


def run_finder(store, config):
    run_id = store.create_run(config)
    return Scheduler(store, ["cpu"]).wait(run_id, poll=0.2)


@pytest.mark.slow
def test_a_finder_run_records_rate_and_loss_per_batch(store, tiny_data_dir):
    base = TrainConfig(dataset="mnist", architecture="simple_cnn", data_dir=tiny_data_dir, batch_size=16)
    run = run_finder(store, finder_config(base, 1e-5, 1.0, 40))
    assert run.status == "completed", run.error
    found = run.metrics["lr_find"]
    assert len(found["rates"]) == len(found["losses"]) == found["batches"] <= 40
    assert found["rates"][0] == pytest.approx(1e-5)
    assert found["suggested"] is not None or found["problem"]  # a tiny dataset may say nothing: then why
    assert len(store.batches(run.id)) == found["batches"]  # the live chart's rows
    assert run.progress.steps == 40


@pytest.mark.slow
@pytest.mark.realdata
def test_lenet5_on_mnist_gets_a_rate_within_10x_of_1e_3(store, shared_data_dir):
    base = TrainConfig(
        dataset="mnist", architecture="lenet5", data_dir=shared_data_dir, batch_size=64, train_limit=4000
    )
    run = run_finder(store, finder_config(base, 1e-6, 1.0, 200))
    assert run.status == "completed", run.error
    found = run.metrics["lr_find"]
    assert 1e-4 <= found["suggested"] <= 1e-2, found["suggested"]
    assert found["suggested"] < found["min_loss_rate"]
