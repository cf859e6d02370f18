"""Which training labels are probably wrong: confident learning on out-of-sample probabilities.

The method is confident learning (Northcutt, Jiang and Chuang, "Confident
Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021) as cleanlab
implements it: `cleanlab.filter.find_label_issues` flags the images whose given
label disagrees with what a model that never saw that label expects, and
`cleanlab.rank.get_label_quality_scores` orders every image from most to least
suspicious.

The probabilities must be out-of-sample, or a model simply repeats the labels it
memorised. A fresh network per fold would cost k trainings; instead, as
cleanlab's own image tutorials do, the run's model turns each image into its
penultimate-layer features (lib.teach.features) and a logistic regression is
cross-validated on them with scikit-learn's `cross_val_predict`: every image's
probabilities come from a regression fitted on the other folds.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lib.teach import features as penultimate

FOLDS = 5
MAX_FEATURE_DIMS = 256  # wider features are reduced first: the regression stays seconds, not minutes


class SuspectsRefused(ValueError):
    """Too little data to judge labels; str() says what is missing."""


@dataclass(frozen=True)
class Suspect:
    index: int  # position in the training images given
    given: int  # the label the data carries
    predicted: int  # the class the out-of-sample model expects
    confidence: float  # its probability for `predicted`
    quality: float  # cleanlab's label quality in [0, 1]: low means the given label is doubtful
    flagged: bool  # cleanlab counts it among the label issues, not only low on the list

    def to_dict(self) -> dict:
        return asdict(self)


def out_of_sample_probabilities(features, labels, num_classes: int, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """(N, num_classes) probabilities, each row from a regression that did not see that row's label."""
    features = np.asarray(features, np.float32).reshape(len(labels), -1)
    labels = np.asarray(labels, np.int64)
    smallest = int(np.bincount(labels, minlength=num_classes).min())
    if smallest < 2:
        raise SuspectsRefused("every class needs at least two training images before its labels can be checked")
    steps = [StandardScaler()]
    if features.shape[1] > MAX_FEATURE_DIMS:
        steps.append(PCA(MAX_FEATURE_DIMS, random_state=seed))
    steps.append(LogisticRegression(C=0.1, max_iter=300))  # C: features are many and images few; keep it smooth
    cv = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 300 iterations rank well enough; not worth the wait
        probs = cross_val_predict(make_pipeline(*steps), features, labels, cv=cv, method="predict_proba")
    return np.asarray(probs, np.float64)


def rank(labels, probabilities, top: int | None = None) -> list[Suspect]:
    """Images ordered from most to least suspicious: cleanlab's flagged issues first, then the rest."""
    labels = np.asarray(labels, np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    quality = get_label_quality_scores(labels, probabilities, method="self_confidence")
    flagged = find_label_issues(
        labels, probabilities, filter_by="prune_by_noise_rate", return_indices_ranked_by="self_confidence"
    )
    flagged_set = set(int(i) for i in flagged)
    rest = [int(i) for i in np.argsort(quality, kind="stable") if int(i) not in flagged_set]
    order = [int(i) for i in flagged] + rest
    if top is not None:
        order = order[: max(0, int(top))]
    predicted = probabilities.argmax(axis=1)
    return [
        Suspect(
            i, int(labels[i]), int(predicted[i]), float(probabilities[i, predicted[i]]), float(quality[i]),
            i in flagged_set,
        )
        for i in order
    ]  # fmt: skip


def find(features, labels, num_classes: int, top: int | None = None, seed: int = 0) -> list[Suspect]:
    """Rank images by how likely their label is wrong, from their features (see the module doc)."""
    return rank(labels, out_of_sample_probabilities(features, labels, num_classes, seed=seed), top)


def for_model(model, images, labels, num_classes: int, top: int | None = None, seed: int = 0) -> list[Suspect]:
    """The same, from a trained model and its training images (float32 array or ImageFiles)."""
    return find(penultimate.extract(model, images), labels, num_classes, top, seed)
