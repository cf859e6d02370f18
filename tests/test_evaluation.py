"""Confusion matrix and per-class metrics against values computed by hand."""

import numpy as np
import pytest

from lib.inference import evaluation, metrics


def test_confusion_matrix_and_metrics_match_a_hand_computed_case():
    # classes: cat(0), dog(1), bird(2)
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0]
    y_pred = [0, 0, 1, 1, 0, 2, 2, 1, 2, 0]
    counts = metrics.confusion_matrix(y_true, y_pred, 3)
    assert counts.tolist() == [[3, 1, 0], [1, 1, 0], [0, 1, 3]]
    rows = {r["class"]: r for r in metrics.per_class_metrics(counts, ["cat", "dog", "bird"])}
    # cat: tp 3, predicted 4, actual 4 -> P 0.75, R 0.75, F1 0.75
    assert rows["cat"]["precision"] == pytest.approx(0.75) and rows["cat"]["recall"] == pytest.approx(0.75)
    # dog: tp 1, predicted 3, actual 2 -> P 1/3, R 1/2, F1 = 2*(1/6)/(5/6) = 0.4
    assert rows["dog"]["precision"] == pytest.approx(1 / 3) and rows["dog"]["recall"] == pytest.approx(0.5)
    assert rows["dog"]["f1"] == pytest.approx(0.4)
    # bird: tp 3, predicted 3, actual 4 -> P 1, R 0.75, F1 6/7
    assert rows["bird"]["f1"] == pytest.approx(6 / 7) and rows["bird"]["support"] == 4
    assert metrics.row_normalised(counts)[1].tolist() == [0.5, 0.5, 0.0]


def test_a_class_never_predicted_or_absent_gives_zeros_not_nan():
    counts = metrics.confusion_matrix([0, 0], [0, 0], 3)
    rows = metrics.per_class_metrics(counts, "abc")
    assert rows[1] == {"class": "b", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert not np.isnan(metrics.row_normalised(counts)).any()


def test_most_confident_mistakes_come_first_with_their_top3():
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.05, 0.15, 0.8], [0.6, 0.3, 0.1]])
    mistakes = metrics.confident_mistakes(probabilities, [0, 0, 1, 1])
    assert [m["index"] for m in mistakes] == [2, 1, 3]  # 0.8, 0.7, 0.6; index 0 was right
    assert mistakes[0]["top3"][0] == (2, 0.8) and mistakes[0]["true"] == 1
    summary = metrics.summarise(probabilities, [0, 0, 1, 1], ["a", "b", "c"])
    assert summary.accuracy == 0.25
    assert summary.loss == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.15, 0.3])), rel=1e-6)


def test_evaluating_a_run_caches_its_predictions(trained_run):
    from lib.runs.store import Store

    runs, run_id = trained_run
    store = Store(runs)
    first = evaluation.evaluate_run(store, run_id)
    assert first.confusion.sum() == 200 and first.accuracy == pytest.approx(store.get(run_id).test_accuracy, abs=1e-6)
    assert (store.run_dir(run_id) / "test_predictions.npz").exists()
    assert np.array_equal(evaluation.evaluate_run(store, run_id).probabilities, first.probabilities)


def test_each_epoch_records_a_live_confusion_matrix(trained_run):
    from lib.runs.store import Store

    runs, run_id = trained_run
    epochs = Store(runs).epochs(run_id)
    for e in epochs:
        counts = np.array(e["confusion"])
        assert counts.shape == (10, 10) and counts.sum() == 60  # the 10% validation split
        assert len(e["per_class_accuracy"]) == 10
