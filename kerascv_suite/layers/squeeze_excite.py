"""Squeeze-and-excitation (Hu et al., 2018): let each block reweight its own channels."""

from __future__ import annotations

import keras

from kerascv_suite.layers.norm_act import _named
from kerascv_suite.layers.widths import make_divisible


def squeeze_excite(
    x,
    ratio: float = 0.25,
    divisor: int = 8,
    activation: str = "relu",
    gate: str = "sigmoid",
    base_channels: int | None = None,
    name: str | None = None,
):
    """Multiply each channel by a gate in [0, 1] computed from the whole feature map.

    squeeze: global average pool → (batch, 1, 1, C); excite: 1×1 conv to
    `make_divisible(B·ratio, divisor)` channels (B = `base_channels`, by default C) →
    `activation` → 1×1 conv back to C → `gate`; the input is then scaled channel by channel.
    The block costs two small dense layers and lets the network suppress channels that are
    uninformative for this image.

    Args:
        x: a (batch, height, width, C) tensor of the functional API.
        ratio: bottleneck width as a fraction of C (0.25 in MobileNetV3/EfficientNet, 1/16 in SE-ResNet).
        divisor: round the bottleneck to a multiple of this (8 in MobileNetV3; 1 keeps C·ratio rounded).
        activation: activation inside the bottleneck.
        gate: "sigmoid" (the paper), or "hard_sigmoid" = ReLU6(x + 3)/6 (MobileNetV3: cheaper,
            quantises well); any Keras activation with outputs in [0, 1].
        base_channels: the channel count the ratio applies to; None = C. EfficientNet sizes the
            SE of an expanded MBConv block from the block's narrow input (a quarter of it), not
            from the wide tensor the SE acts on as MobileNetV3 does (see `inverted_residual`).
        name: prefix of the layer names (`{name}_squeeze`, `{name}_reduce`, `{name}_expand`, ...).

    Returns:
        A tensor of the same shape as `x`.

    Example::

        y = squeeze_excite(x, ratio=0.25, gate="hard_sigmoid", name="block4_se")   # 96 → 24 → 96 channels
    """
    channels = x.shape[-1]
    squeezed = make_divisible((base_channels or channels) * ratio, divisor)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=_named(name, "squeeze"))(x)
    s = keras.layers.Conv2D(squeezed, 1, activation=activation, name=_named(name, "reduce"))(s)
    s = keras.layers.Conv2D(channels, 1, name=_named(name, "expand"))(s)
    s = keras.layers.Activation(gate, name=_named(name, "gate"))(s)
    return keras.layers.Multiply(name=_named(name, "scale"))([x, s])
