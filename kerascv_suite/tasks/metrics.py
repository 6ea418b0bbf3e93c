"""Metrics a spec can add to its task's own (`train.metrics`).

Example (YAML)::

    train: {metrics: [{name: top_k_accuracy, k: 3}]}
"""

from __future__ import annotations

import keras
from pydantic import PositiveInt

from kerascv_suite.registry import METRICS
from kerascv_suite.tasks.losses import class_targets


def _top_class_matches(y_true, y_pred):
    targets = class_targets(y_true, y_pred.shape[-1], "float32")
    return keras.ops.cast(keras.ops.argmax(targets, axis=-1) == keras.ops.argmax(y_pred, axis=-1), "float32")


@keras.saving.register_keras_serializable(package="kerascv_suite")
class Accuracy(keras.metrics.MeanMetricWrapper):
    """Share of examples whose highest score is the true class; with mixed labels (mixup), the largest share.

    Keras's `SparseCategoricalAccuracy` takes integer labels only; training with mixup or
    cutmix feeds class distributions, validation integer labels.
    """

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(_top_class_matches, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@METRICS.register("accuracy")
def accuracy() -> keras.metrics.Metric:
    """Share of examples whose highest score is the true class."""
    return Accuracy()


def _top_k_matches(y_true, y_pred, k):
    targets = class_targets(y_true, y_pred.shape[-1], "float32")
    return keras.ops.cast(keras.ops.in_top_k(keras.ops.argmax(targets, axis=-1), y_pred, k), "float32")


@keras.saving.register_keras_serializable(package="kerascv_suite")
class TopKAccuracy(keras.metrics.MeanMetricWrapper):
    """Share of examples whose true class is among the k highest scores; with mixed labels, the largest share.

    Keras's `SparseTopKCategoricalAccuracy` takes integer labels only and its
    `TopKCategoricalAccuracy` one-hot ones only; mixup and cutmix train on class distributions
    and validate on integer labels, so one metric must take both (as `Accuracy` does).
    """

    def __init__(self, k: int = 5, name: str | None = None, dtype=None):
        super().__init__(_top_k_matches, name=name or f"top_{k}_accuracy", dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}


@METRICS.register("top_k_accuracy")
def top_k_accuracy(k: PositiveInt = 5) -> keras.metrics.Metric:
    """Share of examples whose true class is among the k highest scores (integer or mixed/one-hot labels)."""
    return TopKAccuracy(k)
