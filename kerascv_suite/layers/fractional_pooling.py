"""Fractional max-pooling (Graham, 2014, "Fractional max-pooling").

A 2×2 max pool halves the map at once, so a network can afford only a few of them. Fractional
max pooling shrinks the map by a non-integer ratio α, 1 < α < 2 (typically √2, halving the area
at every layer), so a network can interleave many more pooling layers with its convolutions.
The H input rows are cut into floor(H/α) intervals of length ⌊α⌋ or ⌊α⌋ + 1 by a boundary
sequence 0 = a_0 < a_1 < … = H, and likewise for the columns; each output is the max over one
(row interval × column interval) cell. The boundaries are drawn at random, differently at each
training step, which acts as a data-dependent augmentation:

- random: a random permutation of the right number of short and long intervals;
- pseudo-random (`pseudo_random=True`): a_i = ⌈α(i + u)⌉ for one random u ∈ (0, 1), so the
  cells are more evenly spread;
- disjoint cells, or overlapping ones (`overlapping=True`): a cell also takes the boundary
  row/column it shares with the next, like a 3×3 stride-2 pool against a 2×2 one.

This layer wraps TensorFlow's `FractionalMaxPool` op (TensorFlow backend only), whose registered
gradient routes each output's gradient to its window's maximum.

Training and inference: in training every call draws new cells from the op's own random
generator. That generator is seeded by a static attribute of the op, so a fresh draw per step
cannot come from Keras's seeded generators: the training draws are not reproduced by
`keras.utils.set_random_seed` (and, like `tf.nn.fractional_max_pool` with seed 0, training
raises when TensorFlow's op determinism is enabled). At inference (``training=False``) the cells
are one fixed draw made from `seed`, identical at every call, in every process and after a
save/reload, so predictions are deterministic. (Graham instead averages test predictions over
several random draws; a fixed draw costs one pass.)

The op has no XLA kernel (`supports_jit = False`, so Keras's `jit_compile="auto"` leaves the
model uncompiled; `jit_compile=True` fails) and no float16 kernel (under mixed precision the
layer pools in float32, which is exact: a max only selects values).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

# TensorFlow's op takes seed = seed2 = 0 as "seed at random", so the fixed inference draw pairs
# the layer's seed with a constant non-zero second seed.
_INFERENCE_SEED2 = 0x5EED


def fractional_output_size(size: int | None, ratio: float) -> int | None:
    """floor(size / ratio) as TensorFlow's op computes it: in float32 (e.g. 33 / 1.1 → 30, not 29)."""
    if size is None:
        return None
    return math.floor(np.float32(size) / np.float32(ratio))


@keras.saving.register_keras_serializable(package="kerascv_suite")
class FractionalMaxPooling2D(keras.layers.Layer):
    """Max pooling by a fractional ratio: (batch, H, W, C) → (batch, floor(H/α_rows), floor(W/α_cols), C).

    Args:
        pooling_ratio: α, or (α_rows, α_cols); each ≥ 1 (Graham uses 1 < α < 2, e.g. √2 ≈ 1.414).
        pseudo_random: draw the cell boundaries pseudo-randomly (evenly spread) rather than as
            a random permutation of interval lengths.
        overlapping: cells share their boundary row and column with the next cell.
        seed: seed of the fixed cells used at inference (None: 0). Training draws are not
            seeded (see the module docstring).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Input shape: (batch, height, width, channels), channels last, with height ≥ α_rows and
    width ≥ α_cols; output shape: (batch, floor(height/α_rows), floor(width/α_cols), channels),
    the quotient computed in float32 as TensorFlow does.

    Example::

        x = FractionalMaxPooling2D(1.414, overlapping=True, name="fmp1")(x)   # 32×32 → 22×22
        x = FractionalMaxPooling2D(1.414, overlapping=True, name="fmp2")(x)   # 22×22 → 15×15
    """

    def __init__(self, pooling_ratio: float | tuple[float, float] = 1.414, pseudo_random: bool = False,
                 overlapping: bool = False, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        ratios = (pooling_ratio, pooling_ratio) if isinstance(pooling_ratio, (int, float)) else pooling_ratio
        self.pooling_ratio = tuple(float(r) for r in ratios)
        if len(self.pooling_ratio) != 2 or min(self.pooling_ratio) < 1.0:
            raise ValueError(f"pooling_ratio must be a number ≥ 1 or a (rows, cols) pair of them, got {pooling_ratio}")
        self.pseudo_random = bool(pseudo_random)
        self.overlapping = bool(overlapping)
        self.seed = seed
        self.supports_jit = False

    def build(self, input_shape):
        for size, ratio in zip(input_shape[1:3], self.pooling_ratio):
            if size is not None and fractional_output_size(size, ratio) < 1:
                raise ValueError(f"{self.name}: a map of size {size} is smaller than the pooling ratio {ratio}")
        self.built = True

    def call(self, inputs, training=None):
        x = inputs if inputs.dtype in (tf.float32, tf.float64) else tf.cast(inputs, tf.float32)
        ratio = [1.0, *self.pooling_ratio, 1.0]
        if training:
            pooled = tf.nn.fractional_max_pool(x, ratio, self.pseudo_random, self.overlapping, seed=0)[0]
        else:
            pooled = tf.raw_ops.FractionalMaxPool(value=x, pooling_ratio=ratio, pseudo_random=self.pseudo_random,
                                                  overlapping=self.overlapping, deterministic=True,
                                                  seed=self.seed or 0, seed2=_INFERENCE_SEED2)[0]
        return tf.cast(pooled, inputs.dtype)

    def compute_output_shape(self, input_shape):
        rows, cols = (fractional_output_size(s, r) for s, r in zip(input_shape[1:3], self.pooling_ratio))
        return (input_shape[0], rows, cols, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "pooling_ratio": self.pooling_ratio, "pseudo_random": self.pseudo_random,
                "overlapping": self.overlapping, "seed": self.seed}
