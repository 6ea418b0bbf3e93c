"""Weight initialisers by the names the syllabus uses, so a spec can compare them.

- zeros: every weight 0, the notes' first mistake. Every unit of a layer computes the same
  output and receives the same gradient, so the units stay identical for ever (no symmetry
  breaking): a layer of 100 units learns what one unit could.
- small_gaussian: N(0, 0.01²), CS231n's first try; activations shrink layer after layer in a
  deep tanh network, so gradients vanish.
- gaussian(σ): N(0, σ²) at any σ, e.g. ``gaussian(1.0)``: too large, every tanh unit saturates
  at ±1, where its gradient is 0 (``small_gaussian`` is ``gaussian(0.01)``).
- glorot_normal / glorot_uniform (Xavier): Var(W) = 2 / (fan_in + fan_out), which keeps
  activations' variance constant through tanh layers.
- he_normal / he_uniform (Kaiming): Var(W) = 2 / fan_in, which makes up for ReLU zeroing half
  of its inputs.

Example::

    keras.layers.Dense(100, kernel_initializer=initializer("he_normal", seed=0))
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

import keras
from pydantic import StringConstraints

NAMES = ("zeros", "small_gaussian", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform")
_GAUSSIAN = re.compile(r"gaussian\(((?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\)")
Initializer = Union[Literal[NAMES], Annotated[str, StringConstraints(pattern=f"^{_GAUSSIAN.pattern}$")]]

SMALL_GAUSSIAN_STDDEV = 0.01
# What `kcv activations` compares by default: the two failures, then the fixes.
COMPARED = ("zeros", "small_gaussian", "gaussian(1.0)", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform")


def initializer(kind: str, seed: int | None = None) -> keras.initializers.Initializer:
    """The Keras initializer named `kind` (one of `NAMES`, or ``gaussian(σ)``)."""
    if kind == "zeros":
        return keras.initializers.Zeros()
    gaussian = _GAUSSIAN.fullmatch(kind)
    if kind == "small_gaussian" or gaussian:
        return keras.initializers.RandomNormal(stddev=float(gaussian[1]) if gaussian else SMALL_GAUSSIAN_STDDEV, seed=seed)
    if kind not in NAMES:
        raise ValueError(f"unknown initializer '{kind}'; allowed: {', '.join(NAMES)} or gaussian(σ)")
    return keras.initializers.get({"class_name": kind, "config": {"seed": seed}})
