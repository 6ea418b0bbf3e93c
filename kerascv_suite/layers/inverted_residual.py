"""The MobileNet blocks: depthwise-separable convolution (V1) and the inverted residual (V2/V3, MBConv).

A standard k×k convolution from C to C' channels costs k²·C·C' multiply-adds per pixel; a
depthwise k×k (k²·C) followed by a pointwise 1×1 (C·C') costs about 1/C' + 1/k² of that:
8–9× less for k = 3. The inverted residual (Sandler et al., 2018) wraps this in a
narrow → wide → narrow shape: expand the C input channels t-fold with a 1×1, filter the wide
tensor depthwise, then project back to a narrow output with a *linear* 1×1 (a ReLU on a
low-dimensional tensor destroys information), adding the input when the shapes match.
MobileNetV3 (Howard et al., 2019) adds squeeze-and-excitation on the wide tensor, 5×5
kernels and hard-swish activations; EfficientNet calls the same block MBConv (with swish,
and an SE bottleneck sized from the block's input rather than its expanded tensor:
`se_from_input`).
"""

from __future__ import annotations

import keras

from kerascv_suite.layers.norm_act import _named, conv_norm_act, depthwise_norm_act
from kerascv_suite.layers.squeeze_excite import squeeze_excite
from kerascv_suite.layers.widths import make_divisible


def depthwise_separable(
    x,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    activation: str | None = "relu",
    pointwise_activation: str | None = "relu",
    se: dict | None = None,
    norm_momentum: float = 0.9,
    norm_epsilon: float = 1e-3,
    name: str | None = None,
):
    """Depthwise k×k conv-BN-act → optional squeeze-excite → pointwise 1×1 conv-BN-act.

    MobileNetV1's block with `pointwise_activation="relu"`; with `pointwise_activation=None`
    it is the linear-bottleneck tail of `inverted_residual` (and MobileNetV2/V3's first block,
    which has no expansion).

    Args:
        x: a (batch, height, width, C) tensor of the functional API.
        filters: output channels of the pointwise convolution.
        kernel_size: k of the depthwise k×k kernel.
        strides: stride of the depthwise convolution (2 halves height and width).
        activation: activation after the depthwise convolution.
        pointwise_activation: activation after the pointwise convolution; None = linear.
        se: keyword arguments of `squeeze_excite` (e.g. ``{"ratio": 0.25, "gate": "hard_sigmoid"}``)
            to apply it between the two convolutions; None for none.
        norm_momentum, norm_epsilon: BatchNorm settings (see `norm_act`).
        name: prefix of the layer names (`{name}_depthwise_*`, `{name}_se_*`, `{name}_project_*`).

    Returns:
        A (batch, ⌈height/strides⌉, ⌈width/strides⌉, filters) tensor.

    Example::

        x = depthwise_separable(x, 64, strides=2, name="conv_dw_2")   # MobileNetV1's second block
    """
    norm = {"norm_momentum": norm_momentum, "norm_epsilon": norm_epsilon}
    x = depthwise_norm_act(x, kernel_size, strides, activation, **norm, name=_named(name, "depthwise"))
    if se is not None:
        x = squeeze_excite(x, **se, name=_named(name, "se"))
    return conv_norm_act(x, filters, 1, activation=pointwise_activation, **norm, name=_named(name, "project"))


def inverted_residual(
    x,
    filters: int,
    expansion: float = 6.0,
    kernel_size: int = 3,
    strides: int = 1,
    activation: str = "relu6",
    se: dict | None = None,
    se_from_input: bool = False,
    norm_momentum: float = 0.9,
    norm_epsilon: float = 1e-3,
    name: str | None = None,
):
    """MobileNetV2/V3 inverted residual: expand 1×1 → depthwise k×k → (SE) → linear project 1×1 (+ input).

    The expansion to `make_divisible(C·expansion)` channels is skipped when `expansion` is 1
    (the first block of every MobileNet). For MobileNetV2, whose widths are multiples of 8,
    the rounding leaves C·expansion unchanged; MobileNetV3's fractional ratios (72/16, 2.3)
    need it. The input is added to the output only when the block keeps the shape
    (stride 1 and `filters` == C): a residual must not change what it adds to.

    Args:
        x: a (batch, height, width, C) tensor of the functional API.
        filters: output channels (the narrow bottleneck).
        expansion: width of the middle tensor as a multiple of C (6 in MobileNetV2).
        kernel_size: k of the depthwise kernel (3, or 5 in parts of MobileNetV3).
        strides: stride of the depthwise convolution.
        activation: activation after the expansion and the depthwise convolution
            ("relu6" in V2; "relu" or "hard_swish" in V3); the projection stays linear.
        se: keyword arguments of `squeeze_excite` applied to the expanded tensor, or None.
        se_from_input: size the SE bottleneck from the block's input channels C (EfficientNet's
            MBConv: C/4) instead of the expanded tensor's (MobileNetV3: expanded/4, rounded to 8).
        norm_momentum, norm_epsilon: BatchNorm settings (see `norm_act`).
        name: prefix of the layer names (`{name}_expand_*`, `{name}_depthwise_*`, `{name}_se_*`,
            `{name}_project_*`, `{name}_add`).

    Returns:
        A (batch, ⌈height/strides⌉, ⌈width/strides⌉, filters) tensor.

    Example::

        x = inverted_residual(x, 24, expansion=6, strides=2, name="block1")        # V2
        x = inverted_residual(x, 40, expansion=4, kernel_size=5, strides=2, activation="hard_swish",
                              se={"ratio": 0.25, "gate": "hard_sigmoid"}, name="block3")   # V3
        x = inverted_residual(x, 40, expansion=6, kernel_size=5, strides=2, activation="swish",
                              se={"ratio": 0.25, "divisor": 1, "activation": "swish"}, se_from_input=True,
                              name="stage3_block1")                                          # EfficientNet MBConv
    """
    norm = {"norm_momentum": norm_momentum, "norm_epsilon": norm_epsilon}
    channels = x.shape[-1]
    shortcut = x
    if se is not None and se_from_input:
        se = {**se, "base_channels": channels}
    if expansion != 1:
        x = conv_norm_act(x, make_divisible(channels * expansion), 1, activation=activation, **norm, name=_named(name, "expand"))
    x = depthwise_separable(x, filters, kernel_size, strides, activation, pointwise_activation=None, se=se, **norm, name=name)
    if strides == 1 and channels == filters:
        x = keras.layers.Add(name=_named(name, "add"))([shortcut, x])
    return x
