"""Loss functions; models output raw class scores (logits).

Example (YAML)::

    loss: {name: multiclass_hinge, margin: 1.0}
"""

from __future__ import annotations

import math
from typing import Annotated

import keras
from keras import ops
from pydantic import Field, PositiveFloat

from kerascv_suite.registry import LOSSES


def class_targets(y_true, num_classes: int, dtype):
    """Targets as class distributions [B, C]: integer labels ([B] or [B, 1]) become one-hot; distributions pass through.

    Mixup and cutmix (`kerascv_suite.data.ops`) train on mixed distributions while the
    validation and test splits keep integer labels; losses and metrics take both. The label
    kind is known when the step is traced (the rank and width of `y_true`), so this is a
    Python branch, not a graph op.
    """
    if len(y_true.shape) >= 2 and y_true.shape[-1] == num_classes and num_classes > 1:
        return ops.cast(y_true, dtype)
    return ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), num_classes, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerascv_suite")
class CrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy −Σ_c t_c·log softmax(s)_c, on integer labels or on class distributions, with label smoothing.

    With `label_smoothing` ε the target is (1 − ε)·one_hot(y) + ε/C (Szegedy et al., 2016):
    the model is no longer pushed to make one score infinitely larger than the rest.
    Keras's `SparseCategoricalCrossentropy` has no label smoothing and its
    `CategoricalCrossentropy` takes no integer labels; training with mixup needs both kinds.

    Example::

        CrossEntropy()([0], [[0., 0.]])                        # log 2
        CrossEntropy(label_smoothing=0.1)([[0.7, 0.3]], [[2., 1.]])
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        classes = y_pred.shape[-1]
        targets = class_targets(y_true, classes, y_pred.dtype)
        if self.label_smoothing:
            targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        return -ops.sum(targets * ops.log_softmax(y_pred, axis=-1), axis=-1)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@LOSSES.register("cross_entropy")
def cross_entropy(label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0) -> keras.losses.Loss:
    """Softmax cross-entropy −log softmax(s)_y (the softmax classifier's loss), optionally with label smoothing."""
    return CrossEntropy(label_smoothing)


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
        one_hot = class_targets(y_true, y_pred.shape[-1], y_pred.dtype)
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

    Softmax cross-entropy: every class gets probability 1/C, so log(C) (label smoothing or not:
    the targets still sum to 1). Multiclass hinge:
    every wrong class contributes the margin Δ, so (C − 1)·Δ.
    """
    if isinstance(loss, (CrossEntropy, keras.losses.SparseCategoricalCrossentropy)):
        return math.log(num_classes), f"log({num_classes})"
    if isinstance(loss, MulticlassHinge):
        return (num_classes - 1) * loss.margin, f"({num_classes} - 1) × {loss.margin}"
    return None
