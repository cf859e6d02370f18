"""See the data as the model does: penultimate-layer features of up to 5,000 images, in 2-D.

Method: scikit-learn's t-SNE (van der Maaten and Hinton 2008, Barnes-Hut) after
a PCA to 50 dimensions, the usual recipe for embeddings; PCA alone as the
instant alternative. UMAP (umap-learn) was tried first and dropped: its numba
compilation alone took ~45 s in each new process on this 2-core machine (then
~5 s per 5,000 points), past the 30 s target; t-SNE on 5,000 points took
11-14 s on a quiet machine here (bench/projector.py, bench/RESULTS.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from lib.teach import features

MAX_POINTS = 5_000
METHODS = ("tsne", "pca")
PCA_DIMS = 50


@dataclass(frozen=True)
class Projection:
    indices: np.ndarray  # which images (positions in the images given) are drawn
    xy: np.ndarray  # (n, 2) float32
    labels: np.ndarray  # their given labels
    predicted: np.ndarray  # the model's classes
    confidence: np.ndarray  # the model's probability for its class
    method: str
    seconds: float  # features + reduction

    @property
    def mistakes(self) -> np.ndarray:
        return self.predicted != self.labels


def sample(count: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most `limit` of `count` images, chosen at random (reproducibly)."""
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def reduce(points: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """(n, d) -> (n, 2) float32."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    n = len(points)
    if n < 3:
        return np.zeros((n, 2), np.float32)
    points = np.asarray(points, np.float32).reshape(n, -1)
    dims = min(PCA_DIMS if method == "tsne" else 2, n, points.shape[1])
    reduced = PCA(dims, random_state=seed).fit_transform(points)
    if method == "pca" or n < 10:
        flat = reduced[:, :2]
        return np.pad(flat, ((0, 0), (0, 2 - flat.shape[1]))).astype(np.float32)  # one feature: a line
    perplexity = min(30.0, (n - 1) / 3)  # t-SNE needs more points than 3x its perplexity
    tsne = TSNE(2, perplexity=perplexity, init="pca", max_iter=500, angle=0.6, random_state=seed)
    return tsne.fit_transform(reduced).astype(np.float32)


def project(model, images, labels, method: str = "tsne", limit: int = MAX_POINTS, seed: int = 0) -> Projection:
    """Features of (a sample of) `images` through `model`, reduced to 2-D, with the model's predictions."""
    started = time.perf_counter()
    chosen = sample(len(images), limit, seed)
    feats, probs = features.extract_with_probabilities(model, images[chosen])
    xy = reduce(feats, method, seed)
    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0, np.float32)
    labels = np.asarray(labels)[chosen]
    return Projection(chosen, xy, labels, predicted, confidence, method, time.perf_counter() - started)
