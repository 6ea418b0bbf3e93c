"""BatchNorm whose training step is TensorFlow's fused kernel: Keras's layer, one op instead of about ten.

Keras 3's `BatchNormalization` on the TensorFlow backend normalises with separate ops —
`tf.nn.moments` (mean, squared difference, mean) and `tf.nn.batch_normalization` (rsqrt,
multiplies, adds) — each a pass over the activations, forward and backward. TensorFlow's
`FusedBatchNormV3` computes the batch statistics and the normalisation in one kernel (oneDNN's
on CPU, cuDNN's on GPU) and has a fused gradient. Measured here (benchmarks/speed.py), it makes
ResNet-20 training about 1.4× faster on the 2-core CPU.

`FusedBatchNormalization` is Keras's layer with only that step replaced: the same weights,
arguments, config and moving-average update (Keras's biased batch variance, Keras's momentum
convention), and Keras's own code for everything else — inference, masks, renorm, synchronized
statistics, channels-first or non-4-D inputs, and other backends — so a model that uses it
exports, converts to TFLite and loads exactly as one with Keras's layer. No library offers it:
Keras 3 dropped Keras 2's `fused=True`.

Under XLA (`jit_compile`, the GPU path) the op is XLA's `BatchNormTraining`, which takes the
batch variance as E[x²] − E[x]²: for a channel whose mean is large against its spread it is less
accurate than Keras's two-pass moments (0.3 % off at mean 50, standard deviation 1). That is what
Keras 2's fused BatchNorm did under XLA too. Centring x first would fix it, but costs an extra
pass over the activations (8 % of ResNet-20's training speed here) on every backend.

Example::

    x = FusedBatchNormalization(momentum=0.9, name="conv1_bn")(x)   # instead of keras.layers.BatchNormalization
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kerascv_suite")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with TensorFlow's fused kernel for 4-D channels-last training steps."""

    def _fused(self, inputs, training, mask) -> bool:
        return (bool(training) and self.trainable and mask is None and not self.renorm and not self.synchronized
                and keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4 and self.axis in (-1, 3))

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)  # in float32, as Keras's layer computes BatchNorm under mixed precision
        channels = x.shape[-1]
        scale = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        offset = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=scale, offset=offset, mean=tf.zeros([0]), variance=tf.zeros([0]), epsilon=self.epsilon,
            data_format="NHWC", is_training=True)
        # the kernel returns the unbiased (Bessel-corrected) variance; Keras's moving average uses the biased one
        count = tf.cast(tf.size(x) // channels, tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        mean, variance = tf.cast(mean, self.moving_mean.dtype), tf.cast(variance, self.moving_variance.dtype)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)
