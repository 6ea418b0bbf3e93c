"""Weight initialisers by the names the syllabus uses, so a spec can compare them.

- small_gaussian: N(0, 0.01²), CS231n's first try; activations shrink layer after layer in a
  deep tanh network, so gradients vanish.
- glorot_normal / glorot_uniform (Xavier): Var(W) = 2 / (fan_in + fan_out), which keeps
  activations' variance constant through tanh layers.
- he_normal / he_uniform (Kaiming): Var(W) = 2 / fan_in, which makes up for ReLU zeroing half
  of its inputs.

Example::

    keras.layers.Dense(100, kernel_initializer=initializer("he_normal", seed=0))
"""

from __future__ import annotations

from typing import Literal

import keras

Initializer = Literal["small_gaussian", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform"]

SMALL_GAUSSIAN_STDDEV = 0.01


def initializer(kind: str, seed: int | None = None) -> keras.initializers.Initializer:
    """The Keras initializer named `kind` (a name of `Initializer`)."""
    if kind == "small_gaussian":
        return keras.initializers.RandomNormal(stddev=SMALL_GAUSSIAN_STDDEV, seed=seed)
    if kind not in Initializer.__args__:
        raise ValueError(f"unknown initializer '{kind}'; allowed: {', '.join(Initializer.__args__)}")
    return keras.initializers.get({"class_name": kind, "config": {"seed": seed}})
