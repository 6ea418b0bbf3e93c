"""Linear classifiers and the two-layer (or deeper) MLP of the syllabus's chapters 2–4.

The linear model computes class scores s = W·x + b on the flattened image; whether it is a
softmax classifier or a multiclass SVM is decided by the loss (`cross_entropy` or
`multiclass_hinge`), exactly as in the syllabus. Both models output raw scores (logits).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import keras
from pydantic import Field, NonNegativeFloat, PositiveInt

from kerascv_suite.layers.activations import Activation, Maxout, activation_layer
from kerascv_suite.layers.drop_connect import DropConnectDense
from kerascv_suite.layers.initializers import Initializer, initializer
from kerascv_suite.models.arguments import Fraction
from kerascv_suite.registry import MODELS


def _regularizer(l1: float, l2: float):
    """λ₁·Σ|W| + λ₂·ΣW² added to the loss (elastic net when both are set); None when both are 0."""
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


@MODELS.register("linear")
def linear(input_shape: tuple, num_classes: int, l1: NonNegativeFloat = 0.0, l2: NonNegativeFloat = 0.0) -> keras.Model:
    """Linear classifier: scores = W·x + b; `l1`, `l2` add λ₁·Σ|W| and λ₂·ΣW² to the loss.

    Example::

        model = linear((8, 8, 1), 10, l2=1e-4)   # 650 parameters
    """
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=_regularizer(l1, l2), name="logits")(x)
    return keras.Model(inputs, logits, name="linear")


_NORMS = {"batch": keras.layers.BatchNormalization, "layer": keras.layers.LayerNormalization}


@MODELS.register("mlp")
def mlp(
    input_shape: tuple,
    num_classes: int,
    hidden: list[PositiveInt] = [100],
    activation: Activation = "relu",
    kernel_initializer: Initializer = "glorot_uniform",
    maxout_pieces: Annotated[int, Field(ge=2)] = 2,
    norm: Optional[Literal["batch", "layer"]] = None,
    dropout: Fraction = 0.0,
    drop_connect: Fraction = 0.0,
    l1: NonNegativeFloat = 0.0,
    l2: NonNegativeFloat = 0.0,
    seed: int = 0,
) -> keras.Model:
    """Multi-layer perceptron: flatten → (dense → [norm] → activation → [dropout]) per hidden width → scores.

    Layer names are stable so experiments can tap them: `hidden{i}` (the dense layer),
    `hidden{i}_norm`, `hidden{i}_act` (the activation's output), counting from 1.

    Args:
        hidden: widths of the hidden layers ([100] is the syllabus's two-layer net).
        activation: the hidden layers' activation (`kerascv_suite.layers.activations`); with
            "maxout" each hidden dense layer has width·maxout_pieces units, maxed in groups.
        kernel_initializer: how dense kernels start (`kerascv_suite.layers.initializers`).
        maxout_pieces: linear pieces per maxout unit.
        norm: normalisation between each dense layer and its activation: "batch" (Ioffe &
            Szegedy, 2015) or "layer" (Ba et al., 2016); None for none.
        dropout: dropout rate after each hidden layer (inverted dropout: inference is unchanged).
        drop_connect: rate at which each hidden dense layer's weights are dropped in training
            (DropConnect, `kerascv_suite.layers.drop_connect`); 0 for plain dense layers.
        l1, l2: weight penalties λ₁·Σ|W| and λ₂·ΣW² on every dense kernel (elastic net when
            both are set). They are terms of the loss; an optimizer's `weight_decay` is the
            decoupled alternative.
        seed: seed of the initialisers and of DropConnect's masks.

    Example::

        model = mlp((8, 8, 1), 10, hidden=[128], activation="tanh", kernel_initializer="glorot_normal")
    """
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Flatten()(inputs)
    for index, width in enumerate(hidden, start=1):
        units = width * maxout_pieces if activation == "maxout" else width
        dense = dict(kernel_initializer=initializer(kernel_initializer, seed=seed + index),
                     kernel_regularizer=_regularizer(l1, l2), name=f"hidden{index}")
        if drop_connect:
            x = DropConnectDense(units, rate=drop_connect, seed=seed + index, **dense)(x)
        else:
            x = keras.layers.Dense(units, **dense)(x)
        if norm:
            x = _NORMS[norm](name=f"hidden{index}_norm")(x)
        if activation == "maxout":
            x = Maxout(maxout_pieces, name=f"hidden{index}_act")(x)
        else:
            x = activation_layer(activation, name=f"hidden{index}_act")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, seed=seed + index)(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=initializer(kernel_initializer, seed=seed),
                                kernel_regularizer=_regularizer(l1, l2), name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")
