"""Linear classifiers and the two-layer (or deeper) MLP of the syllabus's chapters 2–4.

The linear model computes class scores s = W·x + b on the flattened image; whether it is a
softmax classifier or a multiclass SVM is decided by the loss (`cross_entropy` or
`multiclass_hinge`), exactly as in the syllabus. Both models output raw scores (logits).
"""

from __future__ import annotations

import keras
from pydantic import NonNegativeFloat, PositiveInt

from kerascv_suite.registry import MODELS


def _regularizer(l2: float):
    return keras.regularizers.L2(l2) if l2 else None


@MODELS.register("linear")
def linear(input_shape: tuple, num_classes: int, l2: NonNegativeFloat = 0.0) -> keras.Model:
    """Linear classifier: scores = W·x + b; `l2` adds λ·ΣW² to the loss.

    Example::

        model = linear((8, 8, 1), 10, l2=1e-4)   # 650 parameters
    """
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=_regularizer(l2), name="logits")(x)
    return keras.Model(inputs, logits, name="linear")


@MODELS.register("mlp")
def mlp(
    input_shape: tuple,
    num_classes: int,
    hidden: list[PositiveInt] = [100],
    activation: str = "relu",
    dropout: float = 0.0,
    l2: NonNegativeFloat = 0.0,
) -> keras.Model:
    """Multi-layer perceptron: flatten → (dense → activation → dropout) per hidden width → scores.

    Args:
        hidden: widths of the hidden layers ([100] is the syllabus's two-layer net).
        dropout: dropout rate after each hidden layer.
        l2: weight penalty λ·ΣW² on every dense kernel.

    Example::

        model = mlp((8, 8, 1), 10, hidden=[128])
    """
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Flatten()(inputs)
    for index, width in enumerate(hidden):
        x = keras.layers.Dense(width, activation=activation, kernel_regularizer=_regularizer(l2), name=f"hidden{index + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=_regularizer(l2), name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")
