"""Metrics a spec can add to its task's own (`train.metrics`).

Example (YAML)::

    train: {metrics: [{name: top_k_accuracy, k: 3}]}
"""

from __future__ import annotations

import keras
from pydantic import PositiveInt

from kerascv_suite.registry import METRICS


@METRICS.register("accuracy")
def accuracy() -> keras.metrics.Metric:
    """Share of examples whose highest score is the true class."""
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


@METRICS.register("top_k_accuracy")
def top_k_accuracy(k: PositiveInt = 5) -> keras.metrics.Metric:
    """Share of examples whose true class is among the k highest scores."""
    return keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top_{k}_accuracy")
