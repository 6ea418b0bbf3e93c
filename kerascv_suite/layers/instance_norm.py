"""Conditional instance normalisation (Dumoulin et al., 2017): one network, several styles.

Instance normalisation (Ulyanov et al., 2016) normalises each channel of each image over its
own positions, y = γ·(x − μ)/√(σ² + ε) + β with μ, σ² the mean and variance of that channel in
that image: the content image's contrast no longer reaches the output, which is what made
feed-forward style transfer (Johnson et al., 2016) look as good as Gatys's optimisation. Keras
has it already — ``keras.layers.GroupNormalization(groups=-1)`` — and a one-style network uses
that.

Dumoulin et al. found that a network for N styles needs N sets of the normalisation's γ and β
and nothing else: every convolution is shared, and a style is its [C] scale and shift in every
normalisation layer. Keras's layer holds one γ, β; this layer holds S of them, [S, C] each, and
takes the style as a second input, a weight vector [B, S] per image: γ_b = Σₛ wₛ γₛ, β_b = Σₛ wₛ βₛ.
A one-hot vector selects one style; a convex combination interpolates the styles' γ and β,
which blends the styles.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_suite")
class ConditionalInstanceNormalization(keras.layers.Layer):
    """Instance normalisation whose scale γ and shift β are chosen per image by a style weight vector.

    y = γ_b · (x − μ_bc)/√(σ²_bc + ε) + β_b, with μ_bc, σ²_bc over image b's positions of channel c,
    γ_b = w_b·Γ and β_b = w_b·Β, where Γ, Β [S, C] hold one scale and shift per style (initialised
    to 1 and 0, so every style starts as plain instance normalisation).

    Args:
        styles: S, how many styles the layer holds.
        epsilon: ε, added to the variance (1e-3, as ``keras.layers.GroupNormalization``).

    Inputs: ``[features, style]``: features (batch, height, width, C) with a known C; style
    (batch, S), float weights (one-hot for one style; weights summing to 1 for a mixture).
    Output: the shape of features. Statistics are computed in float32 for float16/bfloat16 inputs.

    Example::

        x = ConditionalInstanceNormalization(styles=3, name="conv1_norm")([x, style])   # style [B, 3]
    """

    def __init__(self, styles: int, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if int(styles) < 1:
            raise ValueError(f"ConditionalInstanceNormalization: styles must be at least 1, got {styles}")
        self.styles = int(styles)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        features, style = input_shape
        if features[-1] is None or style[-1] != self.styles:
            raise ValueError(f"ConditionalInstanceNormalization: needs [features (B, H, W, C) with known C, style (B, {self.styles})], "
                             f"got {features} and {style}")
        channels = int(features[-1])
        self.gamma = self.add_weight(shape=(self.styles, channels), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(self.styles, channels), initializer="zeros", name="beta")

    def call(self, inputs):
        features, style = inputs
        half = keras.backend.standardize_dtype(features.dtype) in ("float16", "bfloat16")
        x = ops.cast(features, "float32") if half else features
        style = ops.cast(style, x.dtype)
        mean, variance = ops.moments(x, axes=list(range(1, len(x.shape) - 1)), keepdims=True)
        broadcast = (-1,) + (1,) * (len(x.shape) - 2) + (x.shape[-1],)
        gamma = ops.reshape(ops.matmul(style, ops.cast(self.gamma, x.dtype)), broadcast)
        beta = ops.reshape(ops.matmul(style, ops.cast(self.beta, x.dtype)), broadcast)
        scale = gamma * ops.rsqrt(variance + self.epsilon)
        return ops.cast(x * scale + (beta - mean * scale), features.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "styles": self.styles, "epsilon": self.epsilon}
