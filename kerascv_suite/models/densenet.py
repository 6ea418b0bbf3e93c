"""DenseNet (Huang et al., 2017): every layer sees the feature maps of all layers before it.

ResNet adds a block's input to its output; DenseNet concatenates instead. Inside a dense block
layer ℓ receives the concatenation [x₀, x₁, …, x_{ℓ−1}] of the block input and every earlier
layer's output, and adds only k new channels (the growth rate, 32 here), so a block of L
layers ends with C₀ + L·k channels. Features are reused rather than recomputed, gradients
reach every layer directly, and the network needs far fewer parameters than a ResNet of
similar accuracy (DenseNet-121: 8 M against ResNet-50's 25.6 M). Each layer is
pre-activation BN → ReLU → 1×1 conv (bottleneck, `bn_size`·k channels) → BN → ReLU → 3×3
conv (k channels) ("DenseNet-B"); between blocks a transition BN → ReLU → 1×1 conv → 2×2
average pool halves the resolution and, with compression θ = 0.5, the channels
("DenseNet-BC"). Depth counts the convolutions and the classifier: 121 = 2·(6 + 12 + 24 + 16)
+ 3 transitions + stem + classifier.

At ImageNet configuration (224×224×3, 1000 classes) the parameters equal
`keras.applications.DenseNet121/169/201(weights=None)` exactly: 8,062,504 / 14,307,880 /
20,242,984. Torchvision's `densenet121/169/201` report 7,978,856 / 14,149,480 / 20,013,928,
exactly our trainable parameters: Keras also counts BatchNorm's moving mean and variance,
which PyTorch keeps as buffers (1.0–1.1% of the total, so totals compare with Keras and
trainable parameters with torchvision). Multiply-accumulates: 2.83 G, 3.36 G and 4.29 G,
torchvision's "GFLOPS" (which are multiply-accumulates) to the rounding. BatchNorm epsilon
1.001e-5 as `keras.applications` (torchvision: 1e-5); momentum 0.9 instead of 0.99 (see
`kerascv_suite.layers.norm_act`); "same" padding instead of explicit zero padding (same
shapes); no softmax (the model outputs logits).

Small inputs: the ImageNet stem (7×7/2 convolution and 3×3/2 max pool) divides the image by 4
and the three transitions by 8 more, so a 32×32 image would end as one pixel. With
`small_input` (by default when the input is smaller than 64 pixels) the stem is the paper's
CIFAR stem — one 3×3 convolution with stride 1 and 2k channels (BN → ReLU kept), no pooling —
and the network divides by 8: a 32×32 input ends at 4×4 (the paper's CIFAR networks end at
8×8 with three dense blocks; keeping the four ImageNet blocks takes one more halving).

Example::

    model = densenet((224, 224, 3), 1000)               # DenseNet-121: 7×7×1024 before pooling
    model = densenet((32, 32, 1), 10, growth_rate=12)   # small_input: 4×4 before pooling

In a spec: ``model: {name: densenet, depth: 169}``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import keras
from pydantic import Field, PositiveFloat, PositiveInt

from kerascv_suite.layers.classifier import pooled_classifier
from kerascv_suite.layers.norm_act import conv_norm_act, norm_act
from kerascv_suite.layers.spatial_dropout import DropoutKind, conv_dropout
from kerascv_suite.models.arguments import Fraction, resolve_small_input
from kerascv_suite.registry import MODELS

# Table 1: layers per dense block.
BLOCK_LAYERS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}


def dense_layer(x, growth_rate: int, bn_size: int, dropout: float, norm: dict, name: str, dropout_kind: DropoutKind = "standard"):
    """BN → ReLU → 1×1 conv (bn_size·k) → BN → ReLU → 3×3 conv (k) [→ dropout], concatenated to the input: C → C + k."""
    y = norm_act(x, "relu", **norm, name=f"{name}_norm1")
    y = keras.layers.Conv2D(bn_size * growth_rate, 1, use_bias=False, name=f"{name}_conv1")(y)
    y = norm_act(y, "relu", **norm, name=f"{name}_norm2")
    y = keras.layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = conv_dropout(y, dropout, dropout_kind, name=f"{name}_dropout")
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def transition(x, compression: float, norm: dict, name: str):
    """BN → ReLU → 1×1 conv to ⌊θ·C⌋ channels → 2×2 average pool with stride 2."""
    x = norm_act(x, "relu", **norm, name=f"{name}_norm")
    x = keras.layers.Conv2D(int(x.shape[-1] * compression), 1, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


@MODELS.register("densenet")
def densenet(
    input_shape: tuple,
    num_classes: int,
    depth: Literal[121, 169, 201] = 121,
    growth_rate: PositiveInt = 32,
    bn_size: PositiveInt = 4,
    compression: Annotated[float, Field(gt=0, le=1)] = 0.5,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1.001e-5,
    dropout: Fraction = 0.0,
    dropout_kind: DropoutKind = "standard",
    small_input: Optional[bool] = None,
) -> keras.Model:
    """DenseNet-BC-121/169/201: dense blocks of concatenated bottleneck layers (DenseNet-121: 8.1 M parameters, 2.8 G MACs).

    Args:
        depth: 121, 169 or 201: the ImageNet networks of Table 1, with 6-12-24-16, 6-12-32-32
            or 6-12-48-32 layers in the four dense blocks.
        growth_rate: k, the channels each dense layer adds (32 on ImageNet; 12 or 24 in the
            paper's CIFAR networks). The stem has 2k channels.
        bn_size: width of each layer's 1×1 bottleneck as a multiple of k (4 in the paper).
        compression: θ, the fraction of channels a transition keeps (0.5 in DenseNet-BC; 1
            keeps all, the paper's plain DenseNet-B).
        bn_momentum: BatchNorm moving-average momentum (Keras convention; keras.applications: 0.99).
        bn_epsilon: BatchNorm variance epsilon (keras.applications' 1.001e-5).
        dropout: dropout rate after each 3×3 convolution of the dense layers (torchvision's
            `drop_rate`); 0 by default. The paper uses 0.2 on CIFAR and SVHN without data
            augmentation and none on ImageNet.
        dropout_kind: "standard" drops single activations, "spatial" whole channels
            (`kerascv_suite.layers.spatial_dropout`).
        small_input: the CIFAR stem, a 3×3 convolution with stride 1 and no max pool (output
            stride 8 instead of 32); None decides by size: on when the input is smaller than 64 pixels.

    Example::

        model = densenet((224, 224, 3), 1000, depth=169)   # 14,307,880 parameters, like keras.applications
        model = densenet((32, 32, 1), 10, growth_rate=12)
    """
    small_input = resolve_small_input(small_input, input_shape)
    norm = {"norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}
    inputs = keras.Input(input_shape, name="images")
    if small_input:
        x = conv_norm_act(inputs, 2 * growth_rate, 3, activation="relu", **norm, name="stem")
    else:
        x = conv_norm_act(inputs, 2 * growth_rate, 7, strides=2, activation="relu", **norm, name="stem")
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    blocks = BLOCK_LAYERS[depth]
    for index, layers in enumerate(blocks, start=1):
        for layer in range(1, layers + 1):
            x = dense_layer(x, growth_rate, bn_size, dropout, norm, name=f"block{index}_layer{layer}", dropout_kind=dropout_kind)
        if index < len(blocks):
            x = transition(x, compression, norm, name=f"transition{index}")
    x = norm_act(x, "relu", **norm, name="last")
    logits = pooled_classifier(x, num_classes)
    return keras.Model(inputs, logits, name=f"densenet{depth}")
