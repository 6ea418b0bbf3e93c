"""Convolution → normalisation → activation, the unit every modern CNN is built from.

The normalisation is BatchNorm by default; `norm` picks another of Wu & He's (2018) family,
which differ only in the axes the statistics are taken over:

- "batch": per channel, over the batch and the pixels (Ioffe & Szegedy, 2015); moving
  averages for inference; noisy with small batches. Keras's layer, with TensorFlow's fused
  kernel in training (`FusedBatchNormalization`).
- "layer": per example, over all pixels and channels (Ba et al., 2016): `GroupNormalization`
  with one group.
- "instance": per example and channel, over the pixels (Ulyanov et al., 2016): one group per channel.
- "group": per example, over the pixels of groups of channels (Wu & He, 2018): 32 groups, or
  the largest divisor of the channels below that.

The last three keep no statistics and behave the same in training and inference, whatever the
batch size.

All convolutions use "same" padding: with stride 2, TensorFlow pads the one extra pixel at the
bottom/right, exactly what `keras.applications` achieves with an explicit `ZeroPadding2D`
(`correct_pad`) before a "valid" convolution, so shapes and parameter counts agree with it.
Convolutions followed by BatchNorm have no bias: BatchNorm's β already shifts each channel.

Momentum follows Keras's convention: moving = momentum·moving + (1 − momentum)·batch, so
Keras 0.9 is PyTorch's 0.1. `keras.applications` uses 0.999, which on a small dataset and a
short schedule leaves the moving statistics far from the data (constant predictions at
inference); 0.9 settles within a few hundred steps.
"""

from __future__ import annotations

import math
from typing import Literal

import keras

from kerascv_suite.layers.fused_batch_norm import FusedBatchNormalization

Norm = Literal["batch", "layer", "instance", "group"]
GROUPS = 32
_SUFFIX = {"batch": "bn", "layer": "ln", "instance": "in", "group": "gn"}


def _named(name: str | None, suffix: str) -> str | None:
    return f"{name}_{suffix}" if name else None


def normalization(x, norm: Norm = "batch", norm_momentum: float = 0.9, norm_epsilon: float = 1e-3,
                  gamma_initializer: str = "ones", name: str | None = None):
    """The normalisation layer `norm` applied to `x` (see the module doc), named `{name}_bn`, `_ln`, `_in` or `_gn`.

    Example::

        y = normalization(x, "group", name="block1")   # GroupNormalization(32) named block1_gn
    """
    layer_name = _named(name, _SUFFIX[norm])
    if norm == "batch":
        return FusedBatchNormalization(momentum=norm_momentum, epsilon=norm_epsilon,
                                       gamma_initializer=gamma_initializer, name=layer_name)(x)
    channels = x.shape[-1]
    groups = {"layer": 1, "instance": channels, "group": math.gcd(GROUPS, channels)}[norm]
    return keras.layers.GroupNormalization(groups, epsilon=norm_epsilon, gamma_initializer=gamma_initializer, name=layer_name)(x)


def norm_act(x, activation: str | None = "relu", norm_momentum: float = 0.9, norm_epsilon: float = 1e-3,
             name: str | None = None, norm: Norm = "batch"):
    """Normalisation (BatchNorm unless `norm` says otherwise) over the channel axis, then `activation` (none when None).

    Used alone by pre-activation blocks (ResNet v2: BN → ReLU → conv) and as the tail of
    `conv_norm_act` and `depthwise_norm_act`.

    Args:
        x: a (batch, height, width, channels) tensor of the functional API.
        activation: any Keras activation name ("relu", "relu6", "hard_swish", "swish") or None.
        norm_momentum: BatchNorm moving-average momentum (Keras convention, see the module doc).
        norm_epsilon: variance epsilon.
        name: prefix of the layer names (`{name}_bn`, `{name}_act`); Keras picks names when None.
        norm: "batch", "layer", "instance" or "group" (see the module doc).

    Returns:
        A tensor of the same shape.

    Example::

        y = norm_act(x, "relu", name="block1_preact")
    """
    x = normalization(x, norm, norm_momentum, norm_epsilon, name=name)
    if activation:
        x = keras.layers.Activation(activation, name=_named(name, "act"))(x)
    return x


def conv_norm_act(
    x,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    activation: str | None = "relu",
    norm_momentum: float = 0.9,
    norm_epsilon: float = 1e-3,
    name: str | None = None,
    norm: Norm = "batch",
):
    """A k×k convolution without bias ("same" padding) → BatchNorm → activation.

    Args:
        x: a (batch, height, width, channels) tensor of the functional API.
        filters: output channels.
        kernel_size: k of the k×k kernel.
        strides: 2 halves height and width (rounding up).
        activation: Keras activation name, or None for a linear output (a projection).
        norm_momentum, norm_epsilon, norm: normalisation settings (see `norm_act`).
        name: prefix of the layer names (`{name}_conv`, `{name}_bn`, `{name}_act`).

    Returns:
        A (batch, ⌈height/strides⌉, ⌈width/strides⌉, filters) tensor.

    Example::

        x = conv_norm_act(images, 32, 3, strides=2, activation="relu6", name="stem")   # 224² → 112²
    """
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=_named(name, "conv"))(x)
    return norm_act(x, activation, norm_momentum, norm_epsilon, name, norm)


def depthwise_norm_act(
    x,
    kernel_size: int = 3,
    strides: int = 1,
    activation: str | None = "relu",
    norm_momentum: float = 0.9,
    norm_epsilon: float = 1e-3,
    name: str | None = None,
    norm: Norm = "batch",
):
    """A depthwise k×k convolution (one filter per channel, no bias) → BatchNorm → activation.

    A depthwise convolution filters each channel spatially on its own (k²·C weights instead of
    k²·C·C'), leaving the mixing of channels to a following 1×1 convolution.

    Args:
        x: a (batch, height, width, channels) tensor of the functional API.
        kernel_size: k of the k×k kernel (3 or 5 in the MobileNets).
        strides: 2 halves height and width (rounding up).
        activation: Keras activation name, or None.
        norm_momentum, norm_epsilon, norm: normalisation settings (see `norm_act`).
        name: prefix of the layer names (`{name}_conv`, `{name}_bn`, `{name}_act`).

    Returns:
        A (batch, ⌈height/strides⌉, ⌈width/strides⌉, channels) tensor.

    Example::

        x = depthwise_norm_act(x, 5, strides=2, activation="hard_swish", name="block3_depthwise")
    """
    x = keras.layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", use_bias=False, name=_named(name, "conv"))(x)
    return norm_act(x, activation, norm_momentum, norm_epsilon, name, norm)
