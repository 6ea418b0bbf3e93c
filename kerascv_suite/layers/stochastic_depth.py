"""Stochastic depth (Huang et al., 2016, "Deep networks with stochastic depth"): drop whole residual branches in training.

A residual block computes y = x + f(x). In training, stochastic depth skips the branch f with
probability `rate`, so y = x and the block is the identity: each step trains a random, shallower
network (shorter gradient paths, an implicit ensemble of depths), while inference runs every
block. Huang et al. let the rate grow linearly with depth, rate_l = (l / L)·rate_L for block
l of L (`stochastic_depth_rates`): early blocks, whose features every later block uses, are
kept more often.

`DropPath` follows timm's convention (`timm.layers.DropPath`, used by EfficientNet, ConvNeXt, ViT):

- per example: each example of a batch keeps or drops the branch independently, so a batch
  always mixes depths and the gradient noise stays moderate;
- inverted scaling: a kept branch is multiplied by 1/(1 − rate) in training, so E[output] is
  the branch itself and inference is the plain identity, with nothing to rescale.

keras-cv's `keras_cv.layers.StochasticDepth(rate)` (called on [shortcut, residual], keras-cv 0.9)
does not fit: it draws one Bernoulli per call, so a whole batch drops the branch together; it
scales at inference instead, returning shortcut + (1 − rate)·residual (the paper's original
formulation), so a model's inference graph depends on the training rate; and its draw takes no
seed. `DropPath` acts on the branch alone, before the addition: ``x + DropPath(rate)(f(x))``.
"""

from __future__ import annotations

import keras
from keras import ops


def stochastic_depth_rates(rate: float, blocks: int) -> list[float]:
    """Huang et al.'s linear decay rule: block l of L (1-based) drops its branch with probability (l / L)·rate.

    Example::

        stochastic_depth_rates(0.2, 4)   # [0.05, 0.1, 0.15, 0.2]
    """
    return [rate * block / blocks for block in range(1, blocks + 1)]


@keras.saving.register_keras_serializable(package="kerascv_suite")
class DropPath(keras.layers.Layer):
    """Stochastic depth on a residual branch, per example: in training each example's branch is zeroed with probability `rate`, else scaled by 1/(1 − rate).

    At inference (``training=False``, the default outside `fit`) it is the identity.

    Args:
        rate: probability of dropping the branch, 0 ≤ rate < 1 (0: the identity, no random draws).
        seed: seed of the draws (None: drawn from Keras's global seed, so
            `keras.utils.set_random_seed` makes them reproducible).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Input and output shape: (batch, ...), the branch's output; the same shape.

    Example::

        branch = keras.layers.Conv2D(64, 3, padding="same")(x)
        y = keras.layers.Add()([x, DropPath(0.1, name="block3_drop_path")(branch)])
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"drop path rate must lie in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        if self.rate > 0.0:
            self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)   # one draw per example
        kept = keras.random.uniform(shape, seed=self.seed_generator) < keep
        return inputs * ops.cast(kept, inputs.dtype) / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
