"""Convolution with bias → activation: the unit of the CNNs before BatchNorm (AlexNet, ZFNet, VGG, GoogLeNet).

Until BatchNorm (Ioffe & Szegedy, 2015) a convolution carried its own bias and fed its ReLU
directly. The families of that era later gained BatchNorm variants (torchvision's `vgg*_bn`,
its BatchNorm GoogLeNet), so `conv_act` takes `batch_norm`: then the convolution loses its
bias (BatchNorm's β shifts each channel instead) and `norm_act` follows, as in `conv_norm_act`.

Unlike `conv_norm_act` it also takes PyTorch-style integer padding (AlexNet's 11×11 stride-4
convolution pads 2 pixels each side: 224 → 55, which neither "same" nor "valid" gives) and
grouped convolutions (AlexNet's two-GPU split, as a `GroupedConv2D`).
"""

from __future__ import annotations

import keras

from kerascv_suite.layers.grouped_conv import GroupedConv2D
from kerascv_suite.layers.norm_act import _named, norm_act


def conv_act(
    x,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    padding: int | str = "same",
    groups: int = 1,
    activation: str | None = "relu",
    batch_norm: bool = False,
    norm_momentum: float = 0.9,
    norm_epsilon: float = 1e-3,
    name: str | None = None,
):
    """A k×k convolution with bias → activation; with `batch_norm`, convolution without bias → BatchNorm → activation.

    Args:
        x: a (batch, height, width, channels) tensor of the functional API.
        filters: output channels.
        kernel_size: k of the k×k kernel.
        strides: convolution stride.
        padding: "same", "valid", or an int p: p zero pixels on every side, then a "valid"
            convolution (PyTorch's `padding=p`; output ⌊(H + 2p − k)/s⌋ + 1).
        groups: split input and output channels into this many independent groups (each output
            sees only its group's C/groups inputs: AlexNet's two GPUs); must divide both.
        activation: Keras activation name, or None for a linear output.
        batch_norm: insert BatchNorm between the convolution (then without bias) and the activation.
        norm_momentum, norm_epsilon: BatchNorm settings (see `norm_act`), used with `batch_norm`.
        name: prefix of the layer names (`{name}_pad`, `{name}_conv`, `{name}_bn`, `{name}_act`).

    Returns:
        A (batch, height', width', filters) tensor.

    Example::

        x = conv_act(images, 64, 11, strides=4, padding=2, name="conv1")          # AlexNet: 224² → 55²
        x = conv_act(x, 128, 3, batch_norm=True, norm_epsilon=1e-5, name="block2_conv1")   # VGG-BN
    """
    if isinstance(padding, int):
        if padding:
            x = keras.layers.ZeroPadding2D(padding, name=_named(name, "pad"))(x)
        padding = "valid"
    conv = GroupedConv2D if groups > 1 else keras.layers.Conv2D
    x = conv(filters, kernel_size, strides=strides, padding=padding, groups=groups, use_bias=not batch_norm, name=_named(name, "conv"))(x)
    if batch_norm:
        return norm_act(x, activation, norm_momentum, norm_epsilon, name)
    if activation:
        x = keras.layers.Activation(activation, name=_named(name, "act"))(x)
    return x
