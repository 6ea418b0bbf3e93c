"""Losses against NumPy references and the syllabus's expected initial values."""

import math

import keras
import numpy as np
import pytest

from kerascv_suite.training.losses import (
    MulticlassHinge,
    cross_entropy,
    expected_initial_loss,
    multiclass_hinge,
)


def hinge_reference(labels, scores, margin):
    total = []
    for y, s in zip(labels, scores):
        total.append(sum(max(0.0, s[j] - s[y] + margin) for j in range(len(s)) if j != y))
    return np.mean(total)


def test_multiclass_hinge_equals_the_cs231n_formula():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(16, 5)).astype("float32") * 3
    labels = rng.integers(0, 5, 16)
    for margin in (1.0, 0.5):
        loss = float(multiclass_hinge(margin)(labels, scores))
        assert loss == pytest.approx(hinge_reference(labels, scores, margin), rel=1e-5)
    # the worked example of the CS231n notes: scores [3.2, 5.1, -1.7], correct class 0 → 2.9
    assert float(MulticlassHinge(1.0)(np.array([0]), np.array([[3.2, 5.1, -1.7]], "float32"))) == pytest.approx(2.9, abs=1e-5)


def test_hinge_round_trips_through_keras_serialization():
    restored = keras.losses.deserialize(keras.losses.serialize(MulticlassHinge(margin=0.3)))
    assert isinstance(restored, MulticlassHinge) and restored.margin == 0.3


def test_expected_initial_losses():
    assert expected_initial_loss(cross_entropy(), 10) == (pytest.approx(math.log(10)), "log(10)")
    assert expected_initial_loss(MulticlassHinge(1.0), 10)[0] == pytest.approx(9.0)
    assert float(cross_entropy()(np.arange(4), np.zeros((4, 10), "float32"))) == pytest.approx(math.log(10), rel=1e-6)
