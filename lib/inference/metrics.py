"""Where is a model wrong? Confusion matrix, per-class metrics, confident mistakes.

Plain numpy, testable by hand, and shared: the worker's live confusion matrix, the
Evaluate page, `cli evaluate` and the charts all count the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """counts[i, j] = images of true class i predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return counts


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its total (recall on the diagonal); empty rows stay zero."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)


def per_class_metrics(counts: np.ndarray, class_names) -> list[dict]:
    """Precision, recall, F1 and support per class; 0 where a ratio has no denominator."""
    tp = np.diag(counts).astype(float)
    predicted = counts.sum(axis=0).astype(float)
    actual = counts.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return [
        {
            "class": str(name),
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for name, p, r, f, s in zip(class_names, precision, recall, f1, actual, strict=True)
    ]


def confident_mistakes(probabilities: np.ndarray, y_true, limit: int = 24) -> list[dict]:
    """The wrong predictions the model was surest of, most confident first, with their top 3."""
    y_true = np.asarray(y_true, int)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:limit]
    out = []
    for i in order:
        top3 = np.argsort(-probabilities[i])[:3]
        out.append(
            {
                "index": int(i),
                "true": int(y_true[i]),
                "predicted": int(predicted[i]),
                "confidence": float(probabilities[i, predicted[i]]),
                "top3": [(int(c), float(probabilities[i, c])) for c in top3],
            }
        )
    return out


def cross_entropy(probabilities: np.ndarray, y_true) -> float:
    picked = probabilities[np.arange(len(probabilities)), np.asarray(y_true, int)]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


@dataclass
class Evaluation:
    accuracy: float
    loss: float
    confusion: np.ndarray
    per_class: list[dict]
    mistakes: list[dict]
    probabilities: np.ndarray
    y_true: np.ndarray
    class_names: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "test_accuracy": self.accuracy,
            "test_loss": self.loss,
            "class_names": list(self.class_names),
            "confusion_matrix": self.confusion.tolist(),
            "per_class": self.per_class,
            "most_confident_mistakes": self.mistakes,
        }


def summarise(probabilities: np.ndarray, y_true, class_names) -> Evaluation:
    counts = confusion_matrix(y_true, probabilities.argmax(axis=1), len(class_names))
    return Evaluation(
        accuracy=float(np.trace(counts) / max(1, counts.sum())),
        loss=cross_entropy(probabilities, y_true),
        confusion=counts,
        per_class=per_class_metrics(counts, class_names),
        mistakes=confident_mistakes(probabilities, y_true),
        probabilities=probabilities,
        y_true=np.asarray(y_true, int),
        class_names=tuple(class_names),
    )
