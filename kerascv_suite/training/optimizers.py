"""Optimizers: thin, documented doors to Keras's own.

`learning_rate` takes a number or a schedule component (`kerascv_suite.training.schedules`).

Example (YAML)::

    optimizer:
      name: sgd
      momentum: 0.9
      learning_rate: {name: cosine_decay, decay_steps: 2000}
"""

from __future__ import annotations

import keras
from pydantic import NonNegativeFloat, PositiveFloat

from kerascv_suite.registry import OPTIMIZERS, Component

LearningRate = PositiveFloat | Component["schedules"]


@OPTIMIZERS.register("sgd")
def sgd(learning_rate: LearningRate = 0.01, momentum: NonNegativeFloat = 0.0, nesterov: bool = False):
    """Stochastic gradient descent, optionally with (Nesterov) momentum: v ← ρv − αg, x ← x + v."""
    return keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=nesterov)


@OPTIMIZERS.register("adam")
def adam(learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: PositiveFloat = 1e-7):
    """Adam: bias-corrected first and second moments of the gradient."""
    return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)


@OPTIMIZERS.register("adamw")
def adamw(learning_rate: LearningRate = 0.001, weight_decay: NonNegativeFloat = 0.004, beta_1: float = 0.9, beta_2: float = 0.999):
    """Adam with decoupled weight decay (not an L2 term in the loss)."""
    return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2)


@OPTIMIZERS.register("rmsprop")
def rmsprop(learning_rate: LearningRate = 0.001, rho: float = 0.9, momentum: NonNegativeFloat = 0.0):
    """RMSProp: divide the gradient by a leaky running RMS of past gradients."""
    return keras.optimizers.RMSprop(learning_rate, rho=rho, momentum=momentum)


@OPTIMIZERS.register("adagrad")
def adagrad(learning_rate: LearningRate = 0.01, initial_accumulator_value: NonNegativeFloat = 0.1):
    """AdaGrad: divide the gradient by the root of the running sum of squared gradients."""
    return keras.optimizers.Adagrad(learning_rate, initial_accumulator_value=initial_accumulator_value)
