"""Label suspects (lib.teach.suspects): flipped labels come out on top of the ranking."""

from __future__ import annotations

import numpy as np
import pytest

from lib.teach import suspects


def flip(labels: np.ndarray, fraction: float, num_classes: int, seed: int = 0):
    """A copy of `labels` with `fraction` of them moved to another class, and which ones."""
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, num_classes, len(flipped))) % num_classes
    return noisy, flipped


def share_found(ranked: list[suspects.Suspect], flipped) -> float:
    return len({s.index for s in ranked} & set(int(i) for i in flipped)) / len(flipped)


def test_rank_puts_a_confidently_contradicted_label_first():
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0])
    probs = np.full((10, 3), 0.05)
    probs[np.arange(10), labels] = 0.9
    probs[3] = [0.9, 0.05, 0.05]  # given 1, the model is sure it is 0
    ranked = suspects.rank(labels, probs, top=3)
    assert ranked[0].index == 3
    assert (ranked[0].given, ranked[0].predicted) == (1, 0)
    assert ranked[0].confidence == pytest.approx(0.9)
    assert ranked[0].flagged
    assert len(ranked) == 3
    assert set(ranked[0].to_dict()) == {"index", "given", "predicted", "confidence", "quality", "flagged"}


def test_rank_without_top_orders_every_image():
    labels = np.array([0, 1, 0, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    ranked = suspects.rank(labels, probs)
    assert sorted(s.index for s in ranked) == [0, 1, 2, 3]
    assert ranked[0].index == 3  # given 1 at 0.3: the least believable label


def test_out_of_sample_probabilities_are_rows_of_probabilities():
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    features = rng.normal(size=(60, 8)) + labels[:, None] * 3
    probs = suspects.out_of_sample_probabilities(features, labels, 3)
    assert probs.shape == (60, 3)
    assert np.allclose(probs.sum(axis=1), 1)
    assert (probs.argmax(axis=1) == labels).mean() > 0.9


def test_a_class_with_one_image_is_refused_with_a_message():
    features = np.zeros((5, 4))
    with pytest.raises(suspects.SuspectsRefused, match="at least two"):
        suspects.out_of_sample_probabilities(features, np.array([0, 0, 1, 1, 2]), 3)


def test_wide_features_are_reduced_and_still_rank():
    rng = np.random.default_rng(1)
    labels = np.arange(400) % 4
    centres = rng.normal(size=(4, 600)) * 0.5
    features = centres[labels] + rng.normal(size=(400, 600))
    noisy, flipped = flip(labels, 0.05, 4)
    ranked = suspects.find(features, noisy, 4, top=2 * len(flipped))
    assert share_found(ranked, flipped) >= 0.8


@pytest.mark.slow
def test_flipped_labels_of_a_shapes_dataset_are_found_through_a_trained_cnn():
    """Issue 16's target: flip 5% of the labels; the top 2x(flipped) suspects hold >= 80% of them."""
    import keras
    import tensorflow as tf

    from lib.teach import architectures
    from tests.helpers import shapes

    images, labels = shapes.make(100, seed=5, size=32)
    x = images.astype(np.float32) / 255.0
    noisy, flipped = flip(labels, 0.05, 3)
    keras.utils.set_random_seed(0)
    model = architectures.build_vgg_small_norm(x.shape[1:], 3, dropout=0.3, width=0.5)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    shift = keras.layers.RandomTranslation(0.15, 0.15, fill_mode="reflect", seed=0)
    ds = tf.data.Dataset.from_tensor_slices((x, noisy)).shuffle(len(x), seed=0).batch(16)
    model.fit(ds.map(lambda a, b: (shift(a, training=True), b)), epochs=30, shuffle=False, verbose=0)

    ranked = suspects.for_model(model, x, noisy, 3, top=2 * len(flipped))
    assert len(ranked) == 2 * len(flipped) == 30
    assert share_found(ranked, flipped) >= 0.8
    assert all(s.given == noisy[s.index] for s in ranked)
