"""`Accuracy` on integer labels and on mixed label distributions, alone and inside `fit`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.registry import METRICS, load_components
from kerascv_suite.tasks.losses import CrossEntropy
from kerascv_suite.tasks.metrics import Accuracy

load_components()
B, C = 12, 4


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(B, C)).astype("float32")
    labels = rng.integers(0, C, B)
    labels[:5] = scores[:5].argmax(axis=1)  # some right, some wrong
    return scores, labels


def accuracy_of(y_true, y_pred):
    metric = Accuracy()
    metric.update_state(y_true, y_pred)
    return float(metric.result())


def test_accuracy_on_integer_labels_is_argmax_agreement(batch):
    scores, labels = batch
    expected = np.mean(scores.argmax(axis=1) == labels)
    assert 0 < expected < 1
    assert accuracy_of(labels, scores) == pytest.approx(expected)
    assert accuracy_of(labels[:, None], scores) == pytest.approx(expected)
    keras_metric = keras.metrics.SparseCategoricalAccuracy()
    keras_metric.update_state(labels, scores)
    assert float(keras_metric.result()) == pytest.approx(expected)


def test_accuracy_on_mixed_labels_uses_the_largest_share(batch):
    scores, labels = batch
    rng = np.random.default_rng(1)
    other = (labels + rng.integers(1, C, B)) % C
    share = rng.uniform(0.2, 0.8, B)
    share[np.abs(share - 0.5) < 0.05] = 0.7  # no ties
    mixed = (share[:, None] * np.eye(C)[labels] + (1 - share[:, None]) * np.eye(C)[other]).astype("float32")
    top = np.where(share > 0.5, labels, other)
    expected = np.mean(scores.argmax(axis=1) == top)
    assert expected != pytest.approx(np.mean(scores.argmax(axis=1) == labels))  # the test tells the two apart
    assert accuracy_of(mixed, scores) == pytest.approx(expected)


def test_accuracy_averages_over_batches_and_round_trips(batch):
    scores, labels = batch
    metric = METRICS.get("accuracy")()
    metric.update_state(labels[:4], scores[:4])
    metric.update_state(labels[4:], scores[4:])
    assert float(metric.result()) == pytest.approx(np.mean(scores.argmax(axis=1) == labels))
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert isinstance(restored, Accuracy) and restored.name == "accuracy"


def test_fit_on_one_hot_training_labels_with_integer_validation_labels():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + 2 * (x[:, 1] > 0)
    train = tf.data.Dataset.from_tensor_slices((x[:32], np.eye(C, dtype="float32")[y[:32]])).batch(8)
    val = tf.data.Dataset.from_tensor_slices((x[32:], y[32:])).batch(8)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(C)])
    loss = CrossEntropy(0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss, metrics=[Accuracy()])
    history = model.fit(train, validation_data=val, epochs=3, shuffle=False, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    # the validation numbers are those of the final weights on the integer labels
    scores = model.predict(x[32:], verbose=0)
    assert history["val_accuracy"][-1] == pytest.approx(np.mean(scores.argmax(axis=1) == y[32:]))
    assert history["val_loss"][-1] == pytest.approx(float(loss(y[32:], scores)), rel=1e-5)
    # training on one-hot labels went where training on integer labels goes
    assert model.evaluate(x[:32], y[:32], verbose=0, return_dict=True)["accuracy"] > 0.7


def test_top_k_accuracy_takes_integer_and_one_hot_labels_and_round_trips(batch):
    from kerascv_suite.tasks.metrics import TopKAccuracy

    scores, labels = batch
    ranks = (scores > scores[np.arange(B), labels][:, None]).sum(axis=1)  # classes scored above the true one
    for k in (1, 2, 3):
        expected = np.mean(ranks < k)
        for y_true in (labels, labels[:, None], np.eye(C, dtype="float32")[labels]):  # mixup/cutmix give distributions
            metric = METRICS.get("top_k_accuracy")(k=k)
            metric.update_state(y_true, scores)
            assert float(metric.result()) == pytest.approx(expected), (k, y_true.shape)
    assert 0 < np.mean(ranks < 2) < 1
    metric = METRICS.get("top_k_accuracy")(k=2)
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert isinstance(restored, TopKAccuracy) and restored.k == 2 and restored.name == "top_2_accuracy"
