"""Local response normalisation (Krizhevsky et al., 2012): neighbouring channels compete for activity.

Each activation is divided by a power of the summed squares of the same pixel in the n
adjacent channels (n = 2·depth_radius + 1):

    b[c] = a[c] / (k + α·Σ_{c'=c−r}^{c+r} a[c']²)^β        (channels beyond the ends count 0)

AlexNet used k = 2, n = 5, α = 1e-4, β = 0.75 after its first two convolutions ("lateral
inhibition": 1.4% less top-1 error there); ZFNet kept it as "contrast normalisation" and GoogLeNet
in its stem. VGG found it did not help (Simonyan & Zisserman 2014, §4.1) and BatchNorm
replaced it, so torchvision's AlexNet and GoogLeNet leave it out. The formula is
`tf.nn.local_response_normalization`'s (α multiplies the plain sum; Caffe and PyTorch divide
α by n); it is written here with Keras ops, computed in float32 when the inputs are float16 or
bfloat16 (a float16 sum of squares overflows above 256) and in the inputs' own precision otherwise
(float64 for gradient checks), so it compiles under XLA and runs under mixed precision.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_suite")
class LocalResponseNormalization(keras.layers.Layer):
    """Divide each channel by (bias + alpha·(sum of squares over 2·depth_radius + 1 neighbouring channels))^beta.

    Args:
        depth_radius: r, channels on each side of the window (AlexNet's n = 5 is r = 2).
        bias: k, keeps the divisor away from 0 (AlexNet: 2; Caffe's GoogLeNet: 1).
        alpha: α, the weight of the sum of squares (AlexNet: 1e-4).
        beta: β, the exponent (0.75 in AlexNet, ZFNet and GoogLeNet).

    Input and output: (batch, height, width, channels) with a known channel count; same shape.

    Example::

        x = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, name="conv1_norm")(x)
    """

    def __init__(self, depth_radius: int = 2, bias: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        half = keras.backend.standardize_dtype(inputs.dtype) in ("float16", "bfloat16")
        x = ops.cast(inputs, "float32") if half else inputs
        channels, r = x.shape[-1], self.depth_radius
        squares = ops.pad(ops.square(x), [[0, 0]] * (len(x.shape) - 1) + [[r, r]])
        window = sum(squares[..., i : i + channels] for i in range(2 * r + 1))
        return ops.cast(x / ops.power(self.bias + self.alpha * window, self.beta), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias, "alpha": self.alpha, "beta": self.beta}
