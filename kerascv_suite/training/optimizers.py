"""Optimizers: thin, documented doors to Keras's own.

`learning_rate` takes a number or a schedule component (`kerascv_suite.training.schedules`).

Two regularisers, and gradient clipping, live here rather than in the model (every optimizer
below takes the clipping and `ema_momentum`):

- `weight_decay`: decoupled weight decay, x ← x − α·λ·x after the update (Loshchilov & Hutter,
  2019), applied by Keras to every trainable variable (`sgd`, `rmsprop`, `adagrad`, `adamw`;
  `adam` has none, as its decoupled form is `adamw`, and neither has `lbfgs`). An L2 penalty in the loss is the model's
  `l2` argument instead: the two are the same for plain SGD but not for adaptive methods, where
  the penalty's gradient is rescaled along with the loss's. A spec says which it wants by where
  it puts the number.
- `clipnorm`, `clipvalue`, `global_clipnorm` (at most one): gradient clipping before the
  update, Keras's own — each weight's gradient rescaled to an L2 norm of at most `clipnorm`,
  each gradient entry clipped to [−clipvalue, clipvalue], or all gradients rescaled together to
  a global norm of at most `global_clipnorm` (what RNN training uses against exploding gradients).
- `ema_momentum`: Polyak averaging; Keras keeps x̄ ← m·x̄ + (1 − m)·x after every step and
  writes x̄ into the model when `fit` ends, so the saved and evaluated model is the average.

Example (YAML)::

    optimizer:
      name: sgd
      momentum: 0.9
      learning_rate: {name: cosine_decay, decay_steps: 2000}
"""

from __future__ import annotations

from typing import Annotated, Optional

import keras
from pydantic import Field, NonNegativeFloat, PositiveFloat

from kerascv_suite.registry import OPTIMIZERS, Component

LearningRate = PositiveFloat | Component["schedules"]
EmaMomentum = Optional[Annotated[float, Field(gt=0, lt=1)]]
Clip = Optional[PositiveFloat]


def _options(weight_decay: float | None, ema_momentum: float | None, clipnorm: float | None,
             clipvalue: float | None, global_clipnorm: float | None) -> dict:
    """Keras optimizer arguments for decoupled weight decay, Polyak averaging (EMA) and gradient clipping."""
    return {"weight_decay": weight_decay or None, "use_ema": ema_momentum is not None,
            "ema_momentum": ema_momentum or 0.99,
            "clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}


@OPTIMIZERS.register("sgd")
def sgd(learning_rate: LearningRate = 0.01, momentum: NonNegativeFloat = 0.0, nesterov: bool = False,
        weight_decay: NonNegativeFloat = 0.0, ema_momentum: EmaMomentum = None,
        clipnorm: Clip = None, clipvalue: Clip = None, global_clipnorm: Clip = None):
    """Stochastic gradient descent, optionally with (Nesterov) momentum: v ← ρv − αg, x ← x + v.

    `weight_decay`, `ema_momentum` and the clipping as in the module docstring (every optimizer has `ema_momentum`;
    all but `adam`, whose decoupled decay is `adamw`, and `lbfgs` have `weight_decay`).
    """
    return keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=nesterov,
                                **_options(weight_decay, ema_momentum, clipnorm, clipvalue, global_clipnorm))


@OPTIMIZERS.register("adam")
def adam(learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: PositiveFloat = 1e-7,
         ema_momentum: EmaMomentum = None,
         clipnorm: Clip = None, clipvalue: Clip = None, global_clipnorm: Clip = None):
    """Adam: bias-corrected first and second moments of the gradient (decoupled decay: `adamw`)."""
    return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                                 **_options(None, ema_momentum, clipnorm, clipvalue, global_clipnorm))


@OPTIMIZERS.register("adamw")
def adamw(learning_rate: LearningRate = 0.001, weight_decay: NonNegativeFloat = 0.004, beta_1: float = 0.9, beta_2: float = 0.999,
          ema_momentum: EmaMomentum = None,
          clipnorm: Clip = None, clipvalue: Clip = None, global_clipnorm: Clip = None):
    """Adam with decoupled weight decay (not an L2 term in the loss)."""
    return keras.optimizers.AdamW(learning_rate, beta_1=beta_1, beta_2=beta_2,
                                  **_options(weight_decay, ema_momentum, clipnorm, clipvalue, global_clipnorm))


@OPTIMIZERS.register("rmsprop")
def rmsprop(learning_rate: LearningRate = 0.001, rho: float = 0.9, momentum: NonNegativeFloat = 0.0,
            weight_decay: NonNegativeFloat = 0.0, ema_momentum: EmaMomentum = None,
            clipnorm: Clip = None, clipvalue: Clip = None, global_clipnorm: Clip = None):
    """RMSProp: divide the gradient by a leaky running RMS of past gradients."""
    return keras.optimizers.RMSprop(learning_rate, rho=rho, momentum=momentum,
                                    **_options(weight_decay, ema_momentum, clipnorm, clipvalue, global_clipnorm))


@OPTIMIZERS.register("adagrad")
def adagrad(learning_rate: LearningRate = 0.01, initial_accumulator_value: NonNegativeFloat = 0.1,
            weight_decay: NonNegativeFloat = 0.0, ema_momentum: EmaMomentum = None,
            clipnorm: Clip = None, clipvalue: Clip = None, global_clipnorm: Clip = None):
    """AdaGrad: divide the gradient by the root of the running sum of squared gradients."""
    return keras.optimizers.Adagrad(learning_rate, initial_accumulator_value=initial_accumulator_value,
                                    **_options(weight_decay, ema_momentum, clipnorm, clipvalue, global_clipnorm))
