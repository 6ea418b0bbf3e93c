"""Residual blocks (He et al., 2015, 2016): learn a correction F(x) and add it to the input.

A plain stack of layers must learn the whole mapping H(x); a residual block learns F(x) = H(x) − x
and outputs x + F(x). When the best a block can do is leave its input alone, it only has to
drive F to zero, which is easy, so very deep networks (ResNet-152, ResNet-1001) train, and beat
shallower ones; and the identity path carries gradients unchanged through the whole depth.

- `basic_block`: two 3×3 convolutions (ResNet-18/34, the CIFAR ResNets, Wide ResNets).
- `bottleneck_block`: 1×1 reduce → 3×3 → 1×1 expand ×`expansion` (ResNet-50/101/152), with
  grouped 3×3 convolutions for ResNeXt (Xie et al., 2017) and optional squeeze-excite (SE-ResNet).

Both come in two layouts:

- v1, post-activation (He et al., 2015): conv-BN-ReLU … conv-BN, add, then ReLU.
- v2, pre-activation (He et al., 2016, "Identity mappings in deep residual networks"):
  BN-ReLU-conv … BN-ReLU-conv, add, and nothing after the add, so the identity path is a pure
  sum from the block's input to the network's last layer. A projection shortcut then takes the
  pre-activated input (BN-ReLU(x)), as in the paper's code and `keras.applications`' V2 models.

When a block changes the shape (stride 2, or more channels) the input must be reshaped before the
add; He et al. (2015) §3.3 compare three shortcuts, two of which are here:

- "projection" (option B): a 1×1 convolution with the block's stride (+ BN in v1). ImageNet ResNets.
- "zero_pad" (option A): parameter-free, keep every other pixel (a 1×1 max-pool with stride 2)
  and append zero channels (`ZeroPadChannels`). The paper's CIFAR ResNets.

And "none" removes the skip path from every block, the block then being a plain stack of its
convolutions: the paper's "plain" networks, whose training error rises with depth (§4.1, Fig. 1)
although a deeper network could copy the shallower one and add identities — the degradation
problem the shortcut solves.

ResNeXt's grouped 3×3 is a `GroupedConv2D` (`kerascv_suite.layers.grouped_conv`), fast on CPU.

Example::

    x = bottleneck_block(x, 64, strides=2, groups=32, width_per_group=4, name="stage2_block1")  # ResNeXt
    x = basic_block(x, 32, strides=2, shortcut="zero_pad", name="stage2_block1")                 # CIFAR
"""

from __future__ import annotations

from typing import Literal

import keras

from kerascv_suite.layers.grouped_conv import GroupedConv2D
from kerascv_suite.layers.norm_act import (
    Norm,
    _named,
    conv_norm_act,
    norm_act,
    normalization,
)
from kerascv_suite.layers.spatial_dropout import DropoutKind, conv_dropout
from kerascv_suite.layers.squeeze_excite import squeeze_excite
from kerascv_suite.layers.stochastic_depth import DropPath

Shortcut = Literal["projection", "zero_pad", "none"]


@keras.saving.register_keras_serializable(package="kerascv_suite")
class ZeroPadChannels(keras.layers.Layer):
    """Append `extra` all-zero channels: (batch, h, w, C) → (batch, h, w, C + extra).

    The channel half of the CIFAR ResNets' parameter-free "option A" shortcut: the identity
    carries the C input channels and the new channels start at zero (the residual branch fills
    them). No weights, no multiply-accumulates.

    Args:
        extra: number of zero channels appended after the input's channels.

    Example::

        y = ZeroPadChannels(16)(x)   # 16 → 32 channels, the last 16 all zero
    """

    def __init__(self, extra: int, **kwargs):
        super().__init__(**kwargs)
        self.extra = int(extra)

    def call(self, inputs):
        return keras.ops.pad(inputs, [[0, 0]] * (len(inputs.shape) - 1) + [[0, self.extra]])

    def compute_output_shape(self, input_shape):
        channels = None if input_shape[-1] is None else input_shape[-1] + self.extra
        return (*input_shape[:-1], channels)

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}


def _conv(x, filters: int, kernel_size: int, strides: int = 1, groups: int = 1, zero_init: bool = False, name: str | None = None):
    """A bias-free "same" convolution (BatchNorm, before or after it, supplies the shift)."""
    conv = GroupedConv2D if groups > 1 else keras.layers.Conv2D
    return conv(filters, kernel_size, strides=strides, padding="same", groups=groups, use_bias=False,
                kernel_initializer="zeros" if zero_init else "glorot_uniform", name=name)(x)


def _last_norm(x, zero_init: bool, norm: dict, name: str | None):
    """The v1 branch's last normalisation (no activation: the ReLU comes after the add).

    With `zero_init` its γ starts at 0, so the branch outputs 0 and the block starts as the
    identity (Goyal et al., 2017, "Accurate, large minibatch SGD": deep nets train stably
    at large learning rates from the first step).
    """
    return normalization(x, gamma_initializer="zeros" if zero_init else "ones", name=name, **norm)


def _shortcut(x, preact, filters: int, strides: int, kind: Shortcut, preactivation: bool, norm: dict, name: str | None):
    """The block's skip path: the identity when the shape is kept, else a projection or option A; None for "none"."""
    if kind == "none":
        return None
    channels = x.shape[-1]
    if strides == 1 and channels == filters:
        return x
    if kind == "projection":
        if preactivation:  # v2: a plain 1×1 on the pre-activated input, no BatchNorm
            return _conv(preact, filters, 1, strides, name=_named(name, "shortcut_conv"))
        return conv_norm_act(x, filters, 1, strides, activation=None, **norm, name=_named(name, "shortcut"))
    if kind != "zero_pad":
        raise ValueError(f"shortcut must be 'projection', 'zero_pad' or 'none', got '{kind}'")
    if filters < channels:
        raise ValueError(f"a zero-padding shortcut cannot reduce {channels} channels to {filters}")
    if strides > 1:  # a 1×1 window with stride s keeps pixels (0, s, 2s, ...): x[:, ::s, ::s]
        x = keras.layers.MaxPooling2D(1, strides=strides, name=_named(name, "shortcut_pool"))(x)
    if filters > channels:
        x = ZeroPadChannels(filters - channels, name=_named(name, "shortcut_pad"))(x)
    return x


def _merge(branch, shortcut, preactivation: bool, activation: str, se: dict | None, drop_path: float, name: str | None):
    """(SE on the branch) → (stochastic depth) → add the shortcut → ReLU in v1; v2 leaves the sum alone.

    Without a shortcut (a plain block) the branch is the block's output.
    """
    if se is not None:
        branch = squeeze_excite(branch, **se, name=_named(name, "se"))
    if shortcut is None:
        if drop_path:
            raise ValueError("drop_path needs a shortcut: dropping a plain block's branch would drop the whole signal")
        x = branch
    else:
        if drop_path:
            branch = DropPath(drop_path, name=_named(name, "drop_path"))(branch)
        x = keras.layers.Add(name=_named(name, "add"))([shortcut, branch])
    if not preactivation:
        x = keras.layers.Activation(activation, name=_named(name, "out"))(x)
    return x


def basic_block(
    x,
    filters: int,
    strides: int = 1,
    preactivation: bool = False,
    shortcut: Shortcut = "projection",
    se: dict | None = None,
    zero_init_last_norm: bool = False,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    activation: str = "relu",
    norm: Norm = "batch",
    norm_momentum: float = 0.9,
    norm_epsilon: float = 1e-5,
    dropout_kind: DropoutKind = "standard",
    name: str | None = None,
):
    """Two 3×3 convolutions with a residual connection (ResNet-18/34, CIFAR ResNets, Wide ResNets).

    v1: conv3×3(stride)-BN-ReLU → (dropout) → conv3×3-BN → (SE) → + shortcut → ReLU.
    v2: BN-ReLU → conv3×3(stride) → BN-ReLU → (dropout) → conv3×3 → (SE) → + shortcut.

    Args:
        x: a (batch, height, width, C) tensor of the functional API.
        filters: output channels of both convolutions (and of the block).
        strides: stride of the first 3×3 convolution and of the shortcut (2 halves height and width).
        preactivation: False for v1 (post-activation), True for v2 (pre-activation, no ReLU after the add).
        shortcut: used only when the shape changes: "projection" (1×1 conv, option B) or
            "zero_pad" (parameter-free subsampling + zero channels, option A); "none" for a plain
            block without any skip path.
        se: keyword arguments of `squeeze_excite` applied to the branch before the add, or None.
        zero_init_last_norm: start the branch at zero: γ of its last BatchNorm = 0 in v1; in v2,
            whose branch ends with a convolution, that convolution's kernel = 0.
        dropout: dropout rate between the two convolutions (Wide ResNets: 0.3); 0 for none.
        dropout_kind: "standard" (single activations) or "spatial" (whole channels,
            `kerascv_suite.layers.spatial_dropout`).
        drop_path: stochastic depth (Huang et al., 2016): in training the whole branch is dropped
            for this share of examples, so the block is the identity for them (`DropPath`).
        activation: the block's activation.
        norm: "batch", "layer", "instance" or "group" (`kerascv_suite.layers.norm_act`).
        norm_momentum, norm_epsilon: normalisation settings (epsilon 1e-5 as in PyTorch references).
        name: prefix of the layer names (`{name}_conv1_conv`, `{name}_conv1_bn`, ..., `{name}_shortcut_*`,
            `{name}_add`; v1 `{name}_out`; v2 `{name}_preact_bn`).

    Returns:
        A (batch, ⌈height/strides⌉, ⌈width/strides⌉, filters) tensor.

    Example::

        x = basic_block(x, 128, strides=2, name="stage2_block1")                 # ResNet-18
        x = basic_block(x, 160, preactivation=True, dropout=0.3, name="stage1_block2")   # WRN-28-10
    """
    norm = {"norm": norm, "norm_momentum": norm_momentum, "norm_epsilon": norm_epsilon}
    if preactivation:
        preact = norm_act(x, activation, **norm, name=_named(name, "preact"))
        y = _conv(preact, filters, 3, strides, name=_named(name, "conv1_conv"))
        y = norm_act(y, activation, **norm, name=_named(name, "conv1"))
    else:
        preact = None
        y = conv_norm_act(x, filters, 3, strides, activation, **norm, name=_named(name, "conv1"))
    y = conv_dropout(y, dropout, dropout_kind, name=_named(name, "dropout"))
    y = _conv(y, filters, 3, zero_init=zero_init_last_norm and preactivation, name=_named(name, "conv2_conv"))
    if not preactivation:
        y = _last_norm(y, zero_init_last_norm, norm, _named(name, "conv2"))
    skip = _shortcut(x, preact, filters, strides, shortcut, preactivation, norm, name)
    return _merge(y, skip, preactivation, activation, se, drop_path, name)


def bottleneck_block(
    x,
    filters: int,
    strides: int = 1,
    preactivation: bool = False,
    groups: int = 1,
    width_per_group: int = 64,
    expansion: int = 4,
    stride_in_1x1: bool = False,
    shortcut: Shortcut = "projection",
    se: dict | None = None,
    zero_init_last_norm: bool = False,
    drop_path: float = 0.0,
    activation: str = "relu",
    norm: Norm = "batch",
    norm_momentum: float = 0.9,
    norm_epsilon: float = 1e-5,
    name: str | None = None,
):
    """1×1 reduce → 3×3 (grouped) → 1×1 expand, with a residual connection (ResNet-50/101/152, ResNeXt, SE-ResNet).

    The 3×3 works on `width` = ⌊filters·width_per_group/64⌋·groups channels and the block outputs
    `filters`·`expansion`, as torchvision counts them: ResNet-50's first stage is 256 → 64 → 64 → 256
    (filters 64); ResNeXt-50 32×4d's is 256 → 128 → 128 (32 groups of 4) → 256; Wide ResNet-50-2
    (width_per_group 128) is 256 → 128 → 128 → 256. A grouped 3×3 has k²·(width/groups)·width
    weights: the groups see disjoint slices of the channels, `groups` times cheaper than a dense one.

    v1: conv1×1-BN-ReLU → conv3×3-BN-ReLU → conv1×1-BN → (SE) → + shortcut → ReLU.
    v2: BN-ReLU → conv1×1 → BN-ReLU → conv3×3 → BN-ReLU → conv1×1 → (SE) → + shortcut.

    Args:
        x: a (batch, height, width, C) tensor of the functional API.
        filters: the bottleneck's base width ("planes"); the block outputs filters·expansion channels.
        strides: stride of the block (on the 3×3, or on the first 1×1 with `stride_in_1x1`) and of the shortcut.
        preactivation: False for v1 (post-activation), True for v2 (pre-activation, no ReLU after the add).
        groups: cardinality of the 3×3 convolution (ResNeXt: 32); 1 for a dense convolution.
        width_per_group: channels per group of the 3×3 at filters = 64 (64: ResNet; 4: ResNeXt 32×4d;
            128: Wide ResNet-50-2).
        expansion: output channels as a multiple of `filters` (4 in every ResNet).
        stride_in_1x1: put the stride on the first 1×1 convolution, as the original paper, Caffe,
            `keras.applications.ResNet50` and SENet do; False puts it on the 3×3 (torchvision's
            "ResNet v1.5", used since fb.resnet.torch): a strided 1×1 ignores 3/4 of its input,
            a strided 3×3 does not, for ~0.5% more top-1 and ~6% more MACs.
        shortcut: used only when the shape changes: "projection" (option B) or "zero_pad" (option A);
            "none" for a plain block.
        se: keyword arguments of `squeeze_excite` applied to the branch before the add (SE-ResNet:
            ``{"ratio": 1/16, "divisor": 1}``), or None.
        zero_init_last_norm: start the branch at zero (γ of the last BatchNorm in v1, the last
            convolution's kernel in v2).
        drop_path: stochastic depth rate of the branch (see `basic_block`).
        activation: the block's activation.
        norm: "batch", "layer", "instance" or "group" (`kerascv_suite.layers.norm_act`).
        norm_momentum, norm_epsilon: normalisation settings (epsilon 1e-5 as torchvision).
        name: prefix of the layer names (`{name}_conv1_*`, `{name}_conv2_*`, `{name}_conv3_*`,
            `{name}_se_*`, `{name}_shortcut_*`, `{name}_add`; v1 `{name}_out`; v2 `{name}_preact_*`).

    Returns:
        A (batch, ⌈height/strides⌉, ⌈width/strides⌉, filters·expansion) tensor.

    Example::

        x = bottleneck_block(x, 128, strides=2, name="stage2_block1")                           # ResNet-50
        x = bottleneck_block(x, 64, groups=32, width_per_group=4, name="stage1_block1")         # ResNeXt-50
        x = bottleneck_block(x, 64, se={"ratio": 1 / 16, "divisor": 1}, name="stage1_block2")   # SE-ResNet-50
    """
    norm = {"norm": norm, "norm_momentum": norm_momentum, "norm_epsilon": norm_epsilon}
    width = int(filters * width_per_group / 64) * groups
    out = filters * expansion
    stride1, stride3 = (strides, 1) if stride_in_1x1 else (1, strides)
    preact = norm_act(x, activation, **norm, name=_named(name, "preact")) if preactivation else None
    y = _conv(preact if preactivation else x, width, 1, stride1, name=_named(name, "conv1_conv"))
    y = norm_act(y, activation, **norm, name=_named(name, "conv1"))
    y = _conv(y, width, 3, stride3, groups=groups, name=_named(name, "conv2_conv"))
    y = norm_act(y, activation, **norm, name=_named(name, "conv2"))
    y = _conv(y, out, 1, zero_init=zero_init_last_norm and preactivation, name=_named(name, "conv3_conv"))
    if not preactivation:
        y = _last_norm(y, zero_init_last_norm, norm, _named(name, "conv3"))
    skip = _shortcut(x, preact, out, strides, shortcut, preactivation, norm, name)
    return _merge(y, skip, preactivation, activation, se, drop_path, name)


__all__ = ["ZeroPadChannels", "basic_block", "bottleneck_block"]
