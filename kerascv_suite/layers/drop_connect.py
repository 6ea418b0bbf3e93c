"""DropConnect (Wan et al., 2013, "Regularization of neural networks using DropConnect").

Dropout zeroes a random subset of a layer's *activations*; DropConnect zeroes a random subset of
its *weights*: during training each kernel entry W_ij is kept with probability 1 − rate, so every
output unit sees its own random subset of the inputs. Like Keras's dropout this uses inverted
scaling: the kept weights are multiplied by 1/(1 − rate), so E[mask·W/(1 − rate)] = W, the
expected training output equals the inference output, and inference uses the plain weights with
no rescaling. (The paper instead approximates the inference-time distribution of each unit's
input with a Gaussian and samples from it; the mean-weight rule used here is the cheap, common
choice.)

The bias is never dropped. One mask is drawn per call, i.e. shared by every example of a batch:
a per-example mask would need a (batch, in, out) kernel and a batched matrix product, `in` times
the memory of the layer's output for the same expected regularisation, so implementations
commonly draw one mask per mini-batch.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_suite")
class DropConnectDense(keras.layers.Dense):
    """A `Dense` layer whose kernel entries are dropped at random in training: y = x·(M ⊙ W)/(1 − rate) + b.

    M is a Bernoulli(1 − rate) mask with the kernel's shape, drawn anew at every training call
    and shared by every example of the batch; at inference (``training=False``, the default
    outside `fit`) y = x·W + b exactly. The bias is not dropped.

    Args:
        units: output features.
        rate: probability of dropping each kernel entry, 0 ≤ rate < 1 (the paper: 0.5).
        activation: applied after the bias (None: linear).
        use_bias: whether to add a bias.
        kernel_initializer: initializer of the (in, units) kernel.
        seed: seed of the masks (None: drawn from Keras's global seed, so
            `keras.utils.set_random_seed` makes them reproducible).
        **kwargs: other `keras.layers.Dense` arguments (`bias_initializer`, regularizers,
            `name`, `dtype`).

    Input shape: (batch, ..., in); output shape: (batch, ..., units).

    Example::

        x = DropConnectDense(128, rate=0.5, activation="relu", name="fc1")(x)
        model.fit(...)      # a fresh mask on the 128-unit kernel at every step
        model.predict(...)  # the plain weights
    """

    def __init__(self, units: int, rate: float = 0.5, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", seed: int | None = None, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer, **kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropConnect rate must lie in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        kernel = self.kernel
        if training and self.rate > 0.0:
            # dropout on the kernel tensor is exactly mask·W/(1 − rate), one mask per call
            kernel = keras.random.dropout(kernel, self.rate, seed=self.seed_generator)
        x = ops.matmul(inputs, kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
