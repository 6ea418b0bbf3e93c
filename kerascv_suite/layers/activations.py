"""The syllabus's activation functions by name, and maxout, the one that is a layer with a width.

`activation_layer(kind)` returns a Keras layer for every name in `Activation`, so a model takes
one documented `activation` argument and a spec picks any of them:

- sigmoid, tanh: saturating; their gradients vanish for large |x| (sigmoid's outputs are also
  not zero-centred).
- relu: max(0, x); leaky_relu: max(0.01·x, x) (CS231n's slope; Keras's default is 0.2);
  prelu: the negative slope is learned, one per channel (He et al., 2015).
- elu, selu (self-normalising, with LeCun-normal weights), gelu, swish (x·σ(x)), softplus.
- maxout (Goodfellow et al., 2013): max over `pieces` linear units; it generalises ReLU and leaky
  ReLU but multiplies the preceding layer's width, so it is the `Maxout` layer, not an elementwise
  function: the layer before it produces units·pieces features.

Example::

    x = keras.layers.Dense(100 * 2)(x)
    x = Maxout(pieces=2)(x)                 # 200 → 100 features
    y = activation_layer("prelu", name="act1")(x)
"""

from __future__ import annotations

from typing import Literal

import keras

Activation = Literal["sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "swish", "softplus", "maxout"]

LEAKY_RELU_SLOPE = 0.01


@keras.saving.register_keras_serializable(package="kerascv_suite")
class Maxout(keras.layers.Layer):
    """Maxout: the largest of each group of `pieces` consecutive features, (..., units·pieces) → (..., units).

    With the linear layer before it, unit j computes max_k (w_jk·x + b_jk): a learned convex
    piecewise-linear activation. Keras has no maxout layer (TensorFlow Addons, which had one,
    is retired), so it is written here.

    Args:
        pieces: linear pieces per output unit (k ≥ 2); the last axis must divide by it.

    Example::

        Maxout(2)([[1., 5., -2., -3.]])   # [[5., -2.]]
    """

    def __init__(self, pieces: int = 2, **kwargs):
        super().__init__(**kwargs)
        if pieces < 2:
            raise ValueError(f"maxout needs at least 2 pieces, got {pieces}")
        self.pieces = int(pieces)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] % self.pieces:
            raise ValueError(f"maxout: {input_shape[-1]} features do not split into groups of {self.pieces}")

    def call(self, inputs):
        shape = keras.ops.shape(inputs)
        groups = keras.ops.reshape(inputs, (*shape[:-1], inputs.shape[-1] // self.pieces, self.pieces))
        return keras.ops.max(groups, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], None if input_shape[-1] is None else input_shape[-1] // self.pieces)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}


def activation_layer(kind: str, name: str | None = None, feature_maps: bool = False) -> keras.layers.Layer:
    """A layer applying the elementwise activation `kind` (any name of `Activation` but maxout).

    Args:
        kind: the activation's name.
        name: the layer's name.
        feature_maps: the inputs are (batch, height, width, channels) maps: PReLU then learns
            one slope per channel, shared over the pixels (He et al., 2015), not one per pixel.

    Example::

        x = activation_layer("leaky_relu", name="hidden1_act")(x)
    """
    if kind == "prelu":
        return keras.layers.PReLU(shared_axes=[1, 2] if feature_maps else None, name=name)
    if kind == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=name)
    if kind == "maxout":
        raise ValueError("maxout changes the width; build it with Maxout(pieces) after a layer of units·pieces features")
    if kind not in Activation.__args__:
        raise ValueError(f"unknown activation '{kind}'; allowed: {', '.join(Activation.__args__)}")
    return keras.layers.Activation(kind, name=name)
