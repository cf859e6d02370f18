"""Training one run in-process: results, files and metrics reach the store."""

import json

from lib.runs.store import Store


def test_trained_run_completes_with_results_and_files(trained_run):
    runs, run_id = trained_run
    store = Store(runs)
    run = store.get(run_id)
    assert run.status == "completed"
    assert run.epochs_completed == 2
    assert run.test_accuracy > 0.9  # the tiny dataset is separable
    assert run.device.startswith("CPU") or run.device
    for name in ("model", "best", "last"):
        assert store.model_path(run_id, name).stat().st_size > 1000
    epochs = store.epochs(run_id)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(e["images_per_second"] > 0 and e["val_accuracy"] is not None for e in epochs)
    assert epochs[0]["learning_rate"] == 1e-3 or abs(epochs[0]["learning_rate"] - 1e-3) < 1e-9
    json.dumps(run.metrics)  # metrics are plain JSON
    assert run.metrics["train_size"] + run.metrics["val_size"] == 600
