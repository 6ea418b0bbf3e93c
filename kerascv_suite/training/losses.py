"""Loss functions; models output raw class scores (logits).

Example (YAML)::

    loss: {name: multiclass_hinge, margin: 1.0}
"""

from __future__ import annotations

import math

import keras
from keras import ops
from pydantic import PositiveFloat

from kerascv_suite.registry import LOSSES


@LOSSES.register("cross_entropy")
def cross_entropy() -> keras.losses.Loss:
    """Softmax cross-entropy on integer labels: −log softmax(s)_y (the softmax classifier's loss)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy")


@keras.saving.register_keras_serializable(package="kerascv_suite")
class MulticlassHinge(keras.losses.Loss):
    """The multiclass SVM loss of Weston & Watkins (CS231n's form): Σ_{j≠y} max(0, s_j − s_y + Δ).

    Keras's `CategoricalHinge` is the Crammer–Singer form (only the largest wrong score counts),
    so the syllabus's loss is written here. Inputs: integer labels [B], scores [B, C].

    Example::

        MulticlassHinge(margin=1.0)([0], [[3.2, 5.1, -1.7]])   # 2.9
    """

    def __init__(self, margin: float = 1.0, name: str = "multiclass_hinge", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        correct = ops.sum(y_pred * one_hot, axis=-1, keepdims=True)
        margins = ops.maximum(0.0, y_pred - correct + self.margin) * (1.0 - one_hot)
        return ops.sum(margins, axis=-1)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@LOSSES.register("multiclass_hinge")
def multiclass_hinge(margin: PositiveFloat = 1.0) -> keras.losses.Loss:
    """Multiclass SVM (hinge) loss Σ_{j≠y} max(0, s_j − s_y + margin)."""
    return MulticlassHinge(margin)


def expected_initial_loss(loss, num_classes: int) -> tuple[float, str] | None:
    """The loss an untrained model with near-zero scores should show, and its formula.

    Softmax cross-entropy: every class gets probability 1/C, so log(C). Multiclass hinge:
    every wrong class contributes the margin Δ, so (C − 1)·Δ.
    """
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return math.log(num_classes), f"log({num_classes})"
    if isinstance(loss, MulticlassHinge):
        return (num_classes - 1) * loss.margin, f"({num_classes} - 1) × {loss.margin}"
    return None
