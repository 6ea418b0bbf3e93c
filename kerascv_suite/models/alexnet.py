"""AlexNet (Krizhevsky et al., 2012) and ZFNet (Zeiler & Fergus, 2013): the networks that started the deep-learning era of vision.

AlexNet won ILSVRC 2012 with 15.3% top-5 error against 26.2% for the best non-network entry.
Its architecture is LeNet's recipe scaled up — five convolutions (11×11 stride 4, 5×5, three
3×3) with max-pooling, then three dense layers (4096, 4096, 1000) — and what made it train
and generalise at that scale: ReLU instead of tanh (six times faster to train), overlapping
3×3 stride-2 max-pooling, local response normalisation after the first two convolutions,
dropout 0.5 in the two hidden dense layers, data augmentation, and two GPUs: conv2, conv4 and
conv5 see only the half of the channels on their own GPU (`groups=2`). 96% of its 61 M
parameters sit in the dense layers; 92% of its 0.7 G multiply-accumulates in the convolutions.

ZFNet is AlexNet repaired by looking at it: visualising the first two layers through a
deconvolutional network showed dead filters and aliasing from the 11×11 stride-4 first layer,
so ZFNet uses 7×7 stride 2 there and a stride-2 second convolution (`stem="zfnet"`), with
dense (not grouped) conv3–5: 14.8% top-5 test error against AlexNet's 16.4% (ensembles), the basis of
the ILSVRC 2013 winner (Zeiler's Clarifai).

What is built here. One builder, `alexnet`, whose arguments give all three networks:

* ``alexnet()`` — torchvision's single-tower AlexNet (from Krizhevsky's "One weird trick"
  paper, 2014): 64/192/384/256/256 filters, no LRN; 61,100,840 parameters and 714 M MACs at
  224×224, as torchvision documents.
* ``alexnet(filters=(96, 256, 384, 384, 256), groups=2, local_response_norm=True)`` — the 2012
  paper's two-tower network: 60,965,224 parameters and 724 M MACs (the counts of Caffe's
  `bvlc_alexnet`, the paper's network on 227×227 inputs; here 224 padded by 2 gives the same maps).
* ``zfnet()`` = ``alexnet(filters=(96, 256, 384, 384, 256), stem="zfnet")`` — ZFNet's Fig. 3
  network: 62,357,608 parameters and 1.17 G MACs, computed from the paper's layer table
  (224 → 110 → 55 → 26 → 13 → 6; the layers are padded so that every map has the table's size).
  The paper's wider variant, conv3–5 with 512/1024/512 filters, is
  ``zfnet(filters=(96, 256, 512, 1024, 512))`` (107,627,624 parameters, 2.48 G MACs).

Differences from the papers that change no parameter count: a 224×224 input (AlexNet's paper
says 224, its code used 227); torchvision's adaptive average pooling to 6×6 before the dense
layers, the identity at 224×224, which lets the network build at any input size; dropout
after each hidden dense layer, as in the paper and Caffe (torchvision's AlexNet drops before
them), off by default — the paper used 0.5; LRN off by default (torchvision dropped it; the
papers' setting is `local_response_norm=True`, see `kerascv_suite.layers.local_response_norm`).
`keras.applications` has neither network.

Small inputs: the 11×11 stride-4 (or 7×7 and 5×5 stride-2) convolutions and three
overlapping max-pools shrink a 32×32 image to nothing before conv5's pool. With `small_input`
(by default below 64 pixels) conv1 becomes a 3×3 stride-1 convolution and conv2 keeps
stride 1, so only the three 3×3 stride-2 max-pools shrink the image — 32 → 15 → 7 → 3 — and
the dense head reads a 3×3 map instead of 6×6 (2,304 features with torchvision's filters).

Example::

    model = alexnet((224, 224, 3), 1000)                      # 61,100,840 parameters, like torchvision
    model = zfnet((32, 32, 1), 10, hidden_units=512)          # small_input: a 3×3×256 map feeds the head

In a spec: ``model: {name: alexnet, hidden_units: 512, dropout: 0.5}``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Optional

import keras
from pydantic import NonNegativeInt, PositiveInt

from kerascv_suite.layers.classifier import dense_classifier
from kerascv_suite.layers.conv_act import conv_act
from kerascv_suite.layers.local_response_norm import LocalResponseNormalization
from kerascv_suite.models.arguments import Fraction, resolve_small_input
from kerascv_suite.registry import MODELS

Filters = tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt, PositiveInt]

TORCHVISION_FILTERS = (64, 192, 384, 256, 256)
PAPER_FILTERS = (96, 256, 384, 384, 256)   # AlexNet 2012 and ZFNet Fig. 3
GROUPED = ("conv2", "conv4", "conv5")       # the layers that see only their own GPU's channels in the paper


class Stem(NamedTuple):
    """The geometry of conv1 and conv2 (and of the max-pools after them); padding as in `conv_act`."""

    conv1_kernel: int
    conv1_strides: int
    conv1_padding: int
    conv2_strides: int
    conv2_padding: int
    pool_padding: str          # of the max-pools after conv1 and conv2; conv5's pool is "valid"
    norm_after_pool: bool      # ZFNet normalises the pooled map, AlexNet the map before pooling


STEMS = {
    # 224 → 55 (pad 2) → 27 → 27 (pad 2) → 13 → 13 → 6, torchvision's paddings.
    "alexnet": Stem(11, 4, 2, 1, 2, "valid", False),
    # 224 → 110 (pad 1) → 55 (pool "same") → 26 → 13 (pool "same") → 13 → 6: the sizes of ZFNet's Fig. 3.
    "zfnet": Stem(7, 2, 1, 2, 0, "same", True),
}
SMALL_STEM = Stem(3, 1, 1, 1, 2, "valid", False)  # 32 → 32 → 15 → 15 → 7 → 7 → 3
AlexNetLRN = {"depth_radius": 2, "bias": 2.0, "alpha": 1e-4, "beta": 0.75}  # the paper's n = 5, k = 2


def _max_pool(x, padding: str, model_name: str, input_shape: tuple, name: str):
    """A 3×3 stride-2 (overlapping) max-pool; a one-line error when the map is already too small for it."""
    if padding == "valid" and min(x.shape[1:3]) < 3:
        raise ValueError(f"{model_name}: a {input_shape[0]}×{input_shape[1]} input is down to {x.shape[1]}×{x.shape[2]} "
                         f"before {name}; use small_input (on by default below 64 pixels) or a larger input")
    return keras.layers.MaxPooling2D(3, strides=2, padding=padding, name=name)(x)


@MODELS.register("alexnet")
def alexnet(
    input_shape: tuple,
    num_classes: int,
    filters: Filters = TORCHVISION_FILTERS,
    groups: Literal[1, 2] = 1,
    stem: Literal["alexnet", "zfnet"] = "alexnet",
    local_response_norm: bool = False,
    hidden_units: NonNegativeInt = 4096,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """AlexNet: five convolutions with overlapping max-pools and a three-layer dense head (61 M parameters on ImageNet).

    Args:
        filters: output channels of conv1–conv5. torchvision's (64, 192, 384, 256, 256) by
            default; the 2012 paper's and ZFNet's are (96, 256, 384, 384, 256).
        groups: 2 splits conv2, conv4 and conv5 into two towers that see only their own half
            of the input channels, as the paper's two GPUs did (conv3 and the dense layers see
            both): 60,965,224 parameters with the paper's filters instead of 62,378,344.
        stem: "alexnet" (conv1 11×11 stride 4, conv2 5×5 stride 1) or "zfnet" (conv1 7×7
            stride 2, conv2 5×5 stride 2, the pooled maps normalised); see `zfnet`.
        local_response_norm: local response normalisation after conv1 and conv2 (k = 2, n = 5,
            α = 1e-4, β = 0.75), as both papers; off by default as torchvision.
        hidden_units: width of the two hidden dense layers (4096 in the paper); a smaller
            head suits small datasets, 0 puts the logits directly on the pooled features.
        dropout: dropout rate after each hidden dense layer; 0 by default, the paper used 0.5.
        small_input: conv1 becomes 3×3 stride 1 and conv2 keeps stride 1, so a 32×32 input ends
            at 3×3 (the head pools to 3×3 instead of 6×6); None decides by size: on below 64 pixels.

    Example::

        model = alexnet((224, 224, 3), 1000)     # torchvision's AlexNet: 61,100,840 parameters, 714 M MACs
        model = alexnet((224, 224, 3), 1000, filters=(96, 256, 384, 384, 256), groups=2, local_response_norm=True)
        model = alexnet((32, 32, 1), 10, hidden_units=512)
    """
    small_input = resolve_small_input(small_input, input_shape)
    model_name = stem if stem == "zfnet" else "alexnet"
    geometry = SMALL_STEM if small_input else STEMS[stem]
    inputs = keras.Input(input_shape, name="images")

    def normalise(x, name):
        return LocalResponseNormalization(**AlexNetLRN, name=name)(x) if local_response_norm else x

    x = conv_act(inputs, filters[0], geometry.conv1_kernel, geometry.conv1_strides, geometry.conv1_padding, name="conv1")
    for index in (1, 2):
        if index == 2:
            x = conv_act(x, filters[1], 5, geometry.conv2_strides, geometry.conv2_padding, groups=groups, name="conv2")
        if not geometry.norm_after_pool:
            x = normalise(x, f"conv{index}_norm")
        x = _max_pool(x, geometry.pool_padding, model_name, input_shape, f"conv{index}_pool")
        if geometry.norm_after_pool:
            x = normalise(x, f"conv{index}_norm")
    for index in (3, 4, 5):
        x = conv_act(x, filters[index - 1], 3, groups=groups if f"conv{index}" in GROUPED else 1, name=f"conv{index}")
    x = _max_pool(x, "valid", model_name, input_shape, "conv5_pool")
    logits = dense_classifier(x, num_classes, pooled_size=3 if small_input else 6, hidden_units=hidden_units, dropout=dropout)
    return keras.Model(inputs, logits, name=model_name)


@MODELS.register("zfnet")
def zfnet(
    input_shape: tuple,
    num_classes: int,
    filters: Filters = PAPER_FILTERS,
    local_response_norm: bool = False,
    hidden_units: NonNegativeInt = 4096,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """ZFNet: AlexNet with a 7×7 stride-2 conv1 and a stride-2 conv2, found by visualising AlexNet's filters (62 M parameters).

    `alexnet` with ``stem="zfnet"`` and the paper's filters; one tower (no groups).

    Args:
        filters: output channels of conv1–conv5: Fig. 3's (96, 256, 384, 384, 256) by default;
            (96, 256, 512, 1024, 512) is the paper's wider model (its best single network).
        local_response_norm: normalise the pooled maps of conv1 and conv2 ("contrast
            normalisation" in the paper, with AlexNet's constants); off by default.
        hidden_units: width of the two hidden dense layers (4096 in the paper).
        dropout: dropout rate after each hidden dense layer; 0 by default, the paper used 0.5.
        small_input: as `alexnet`: conv1 3×3 stride 1, conv2 stride 1, a 32×32 input ends at
            3×3; None decides by size: on below 64 pixels.

    Example::

        model = zfnet((224, 224, 3), 1000)    # 62,357,608 parameters, 1.17 G MACs
    """
    return alexnet(input_shape, num_classes, filters, 1, "zfnet", local_response_norm, hidden_units, dropout, small_input)
