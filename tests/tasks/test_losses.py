"""Losses against NumPy references and the syllabus's expected initial values."""

import math

import keras
import numpy as np
import pytest

from kerascv_suite.spec import load_spec
from kerascv_suite.spec.errors import SpecError
from kerascv_suite.tasks.losses import (
    CrossEntropy,
    MulticlassHinge,
    class_targets,
    cross_entropy,
    expected_initial_loss,
    multiclass_hinge,
)
from tests.conftest import PIPELINES


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


def test_hinge_takes_labels_of_shape_b_1():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(8, 4)).astype("float32") * 2
    labels = rng.integers(0, 4, 8)
    expected = hinge_reference(labels, scores, 1.0)
    assert float(MulticlassHinge(1.0)(labels[:, None], scores)) == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- cross-entropy with label smoothing and soft targets

B, C = 10, 4


def log_softmax(scores):
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def smoothed_reference(targets, scores, smoothing):
    """−Σ_c [(1 − ε)·t_c + ε/C]·log softmax(s)_c, averaged over the batch, in float64."""
    targets = (1 - smoothing) * targets + smoothing / scores.shape[1]
    return float(np.mean(-(targets * log_softmax(scores.astype("float64"))).sum(axis=1)))


@pytest.fixture
def batch():
    rng = np.random.default_rng(2)
    scores = (rng.normal(size=(B, C)) * 3).astype("float32")
    labels = rng.integers(0, C, B)
    other = rng.integers(0, C, B)
    share = rng.uniform(0.5, 1.0, B)[:, None]
    mixed = (share * np.eye(C)[labels] + (1 - share) * np.eye(C)[other]).astype("float32")  # mixup's targets
    return scores, labels, mixed


def test_cross_entropy_equals_keras_sparse_cross_entropy_on_integer_labels(batch):
    scores, labels, _ = batch
    keras_loss = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, scores))
    assert float(CrossEntropy()(labels, scores)) == pytest.approx(keras_loss, rel=1e-5)
    assert float(CrossEntropy()(labels[:, None], scores)) == pytest.approx(keras_loss, rel=1e-5)
    assert keras_loss == pytest.approx(smoothed_reference(np.eye(C)[labels], scores, 0.0), rel=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("kind", ["int_b", "int_b1", "one_hot", "mixed"])
def test_cross_entropy_with_smoothing_matches_numpy(batch, smoothing, kind):
    scores, labels, mixed = batch
    y_true, targets = {
        "int_b": (labels, np.eye(C)[labels]),
        "int_b1": (labels[:, None], np.eye(C)[labels]),
        "one_hot": (np.eye(C, dtype="float32")[labels], np.eye(C)[labels]),
        "mixed": (mixed, mixed.astype("float64")),
    }[kind]
    expected = smoothed_reference(targets, scores, smoothing)
    assert float(cross_entropy(smoothing)(y_true, scores)) == pytest.approx(expected, rel=1e-5)


def test_smoothing_changes_the_loss_and_bounds_it_below(batch):
    scores, labels, _ = batch
    assert float(CrossEntropy(0.1)(labels, scores)) != pytest.approx(float(CrossEntropy()(labels, scores)), rel=1e-3)
    # with smoothing, even perfectly confident correct scores cost something: the entropy floor
    confident = np.where(np.eye(C)[labels] > 0, 50.0, -50.0).astype("float32")
    assert float(CrossEntropy()(labels, confident)) == pytest.approx(0.0, abs=1e-5)
    assert float(CrossEntropy(0.1)(labels, confident)) > 1.0


def test_class_targets_one_hot_integers_and_pass_distributions_through(batch):
    _, labels, mixed = batch
    np.testing.assert_array_equal(np.asarray(class_targets(labels, C, "float32")), np.eye(C)[labels])
    np.testing.assert_array_equal(np.asarray(class_targets(labels[:, None], C, "float32")), np.eye(C)[labels])
    np.testing.assert_array_equal(np.asarray(class_targets(mixed, C, "float32")), mixed)


def test_smoothed_cross_entropy_starts_at_log_c_and_round_trips():
    assert expected_initial_loss(CrossEntropy(0.1), C) == (pytest.approx(math.log(C)), f"log({C})")
    assert float(CrossEntropy(0.1)(np.arange(C), np.zeros((C, C), "float32"))) == pytest.approx(math.log(C), rel=1e-6)
    restored = keras.losses.deserialize(keras.losses.serialize(CrossEntropy(label_smoothing=0.2)))
    assert isinstance(restored, CrossEntropy) and restored.label_smoothing == 0.2


def test_label_smoothing_of_one_or_more_is_refused_by_the_spec():
    softmax = PIPELINES / "classification" / "softmax.yaml"
    assert load_spec(softmax, overrides=["loss={name: cross_entropy, label_smoothing: 0.1}"]).loss.label_smoothing == 0.1
    with pytest.raises(SpecError, match="label_smoothing"):
        load_spec(softmax, overrides=["loss={name: cross_entropy, label_smoothing: 1.0}"])
