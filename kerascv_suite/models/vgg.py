"""VGG (Simonyan & Zisserman, 2014): depth from stacks of 3×3 convolutions.

VGG asked one question: how good does a plain network get when only its depth grows? Every
convolution is 3×3 stride 1 with "same" padding and a ReLU; five blocks of 1–4 of them,
64 → 128 → 256 → 512 → 512 channels, each closed by a 2×2 max-pool; then AlexNet's dense head
(4096, 4096, classes). Two stacked 3×3 convolutions see a 5×5 window and three see 7×7, with
fewer weights (3·3²·C² = 27C² against 49C² for one 7×7) and a ReLU between each: more
non-linearity for less. The paper's configurations A, B, D and E are the 11-, 13-, 16- and
19-layer networks (`depth`); VGG-16 and VGG-19 came second in ILSVRC 2014 classification
(7.3% top-5 as an ensemble) and their features became the default backbone of the following
years (style transfer, Faster R-CNN, SSD, perceptual losses). The price: 138 M parameters (89%
in the dense layers, 74% in the first) and 15.5 G multiply-accumulates for VGG-16 at 224×224,
over 20 times AlexNet's.

Parameter counts at 224×224×3 and 1000 classes: 132,863,336 / 133,047,848 / 138,357,544 /
143,667,240 for depth 11/13/16/19, torchvision's numbers, and for 16 and 19 exactly those of
`keras.applications.VGG16`/`VGG19` (`weights=None`). `batch_norm=True` gives torchvision's
`vgg*_bn` (BatchNorm between each convolution and its ReLU, epsilon 1e-5), with two
differences in the count: the convolutions lose their bias (BatchNorm's β replaces it;
torchvision keeps both, so our trainable count is lower by the 2,752–5,504 conv channels),
and Keras counts BatchNorm's moving mean and variance as (non-trainable) parameters.
Other differences from `keras.applications` and torchvision, none changing a count: torchvision's adaptive
average pooling to 7×7 before the dense layers (the identity at 224×224; any input size then
builds), dropout after each hidden dense layer as in the paper and torchvision (rate 0 by
default; the paper used 0.5) which `keras.applications` omits, BatchNorm momentum 0.9 (see
`kerascv_suite.layers.norm_act`), and logits instead of a softmax.

Small inputs: the five max-pools divide by 32, so a 32×32 image ends as a single 1×1×512
pixel — the CIFAR VGGs run exactly this network. With `small_input` (by default below 64
pixels) the head pools the map to 1×1 instead of 7×7: it reads the 512 features rather
than 49 copies of them (25,088 inputs to a 4096-wide layer: 100 M pointless parameters).
`hidden_units=0` then gives the CIFAR VGGs' single linear classifier.

Example::

    model = vgg((224, 224, 3), 1000, depth=16)          # 138,357,544 parameters, 15.5 G MACs
    model = vgg((32, 32, 1), 10, depth=11, batch_norm=True, hidden_units=0)

In a spec: ``model: {name: vgg, depth: 13, batch_norm: true, hidden_units: 512}``.
"""

from __future__ import annotations

from typing import Literal, Optional

import keras
from pydantic import NonNegativeInt, PositiveFloat

from kerascv_suite.layers.classifier import dense_classifier
from kerascv_suite.layers.conv_act import conv_act
from kerascv_suite.models.arguments import Fraction, resolve_small_input
from kerascv_suite.registry import MODELS

WIDTHS = (64, 128, 256, 512, 512)
# 3×3 convolutions per block, the paper's Table 1: A (11 layers), B (13), D (16), E (19).
CONVOLUTIONS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


@MODELS.register("vgg")
def vgg(
    input_shape: tuple,
    num_classes: int,
    depth: Literal[11, 13, 16, 19] = 16,
    batch_norm: bool = False,
    hidden_units: NonNegativeInt = 4096,
    dropout: Fraction = 0.0,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-5,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """VGG: five blocks of 3×3 convolutions and max-pooling, then three dense layers (133–144 M parameters on ImageNet).

    Args:
        depth: weight layers: 11, 13, 16 or 19 (the paper's configurations A, B, D, E).
        batch_norm: BatchNorm after each convolution (torchvision's `vgg*_bn`; trains without
            the paper's staged initialisation from the shallower network).
        hidden_units: width of the two hidden dense layers (4096 in the paper); a smaller head
            suits small datasets, 0 puts the logits directly on the pooled features.
        dropout: dropout rate after each hidden dense layer; 0 by default, the paper used 0.5.
        bn_momentum: BatchNorm moving-average momentum (Keras convention; PyTorch's 0.1 is 0.9).
        bn_epsilon: BatchNorm variance epsilon (torchvision: 1e-5).
        small_input: the head pools the last map to 1×1 instead of 7×7 (a 32×32 input reaches
            1×1 anyway); None decides by size: on below 64 pixels.

    Example::

        model = vgg((224, 224, 3), 1000, depth=19)   # 143,667,240 parameters, like keras.applications.VGG19
        model = vgg((32, 32, 1), 10, depth=11, batch_norm=True, hidden_units=512)
    """
    small_input = resolve_small_input(small_input, input_shape)
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for block, (width, convolutions) in enumerate(zip(WIDTHS, CONVOLUTIONS[depth]), start=1):
        for index in range(1, convolutions + 1):
            x = conv_act(x, width, 3, batch_norm=batch_norm, norm_momentum=bn_momentum, norm_epsilon=bn_epsilon,
                         name=f"block{block}_conv{index}")
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    logits = dense_classifier(x, num_classes, pooled_size=1 if small_input else 7, hidden_units=hidden_units, dropout=dropout)
    return keras.Model(inputs, logits, name=f"vgg{depth}_bn" if batch_norm else f"vgg{depth}")
