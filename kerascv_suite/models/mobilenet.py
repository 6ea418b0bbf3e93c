"""MobileNetV1 (Howard et al., 2017), V2 (Sandler et al., 2018) and V3 (Howard et al., 2019): accurate CNNs cheap enough for a phone.

V1 replaces every standard convolution after the stem by a depthwise-separable one
(`kerascv_suite.layers.depthwise_separable`): a depthwise 3×3 that filters each channel on
its own, then a pointwise 1×1 that mixes channels, each followed by BatchNorm and ReLU — 8–9×
fewer multiply-adds than a 3×3 convolution, for about 1% ImageNet accuracy. Two global knobs
trade accuracy for cost: the width multiplier α thins every layer (cost ≈ α²) and the
resolution multiplier is simply the input size.

V2 and V3 stack inverted residual blocks (`kerascv_suite.layers.inverted_residual`): a 1×1
expansion, a depthwise k×k convolution and a linear 1×1 projection, with a skip connection
when the shape is kept. V3 is the result of an architecture search on top of V2: some blocks
gain squeeze-and-excitation with a hard-sigmoid gate, 5×5 kernels and the hard-swish
activation x·ReLU6(x + 3)/6, and the expensive last stage is slimmed down.

The stage tables below are the papers' (V1 Table 1, V2 Table 2, V3 Tables 1–2) with the
expansion ratios of `keras.applications`; at ImageNet configuration (224×224×3, 1000 classes,
width 1.0) every model here has exactly the parameters of its `keras.applications`
counterpart (built with `weights=None`, and for V3 `include_preprocessing=False`): 4,253,864
(V1), 3,538,984 (V2), 2,554,968 (V3 small), 5,507,432 (V3 large). The differences from
`keras.applications` change no parameter count: BatchNorm momentum 0.9 instead of 0.99/0.999
(see `kerascv_suite.layers.norm_act`), dropout before the classifier off by default (as timm;
the spec sets it) and available in V2 too (as torchvision), V1's and V3's 1×1 head
convolutions written as the equivalent dense layers (keras.applications' V1 ends with global
pooling → dropout 0.001 → 1×1 convolution with bias → reshape → softmax: the 1×1 convolution
on a 1×1 map is our `logits` Dense layer, 1024·1000 + 1000 weights either way), no softmax
(the models output logits), and the small-input stem below. V1's multiply-accumulates are 569 M
in the paper and 568.7 M in our `arithmetic`, whose count includes the classifier.
V1 uses ReLU6 by default, as keras.applications and TF-slim (the paper writes ReLU:
`activation="relu"`).

Small inputs: the ImageNet network divides height and width by 32 (a stride-2 stem and four
stride-2 stages), so a 32×32 image would end as a single pixel. With `small_input` (by default: when
the input is smaller than 64 pixels) the stem and the first strided block use stride 1,
as CIFAR adaptations of these networks do, so the network divides by 8 and a 32×32 input
ends at 4×4.

Example::

    model = mobilenet_v3_small((32, 32, 1), 10)        # small_input: 4×4 before pooling
    model = mobilenet_v2((224, 224, 3), 1000)          # 7×7 before pooling, 3,538,984 parameters
    model = mobilenet_v1((224, 224, 3), 1000, width_multiplier=0.5)

In a spec: ``model: {name: mobilenet_v3_small, width_multiplier: 0.75, dropout: 0.2}``.
"""

from __future__ import annotations

from typing import Callable, Literal, NamedTuple, Optional

import keras
from pydantic import PositiveFloat

from kerascv_suite.layers import (
    conv_norm_act,
    depthwise_separable,
    inverted_residual,
    make_divisible,
    pooled_classifier,
)
from kerascv_suite.models.arguments import Fraction, resolve_small_input
from kerascv_suite.registry import MODELS


class Stage(NamedTuple):
    """`repeats` inverted residual blocks with `filters` outputs; only the first one strides."""

    kernel_size: int
    expansion: float
    filters: int
    squeeze_excite: bool
    activation: str
    strides: int
    repeats: int = 1


# V1, Table 1: (filters, stride) of the 13 depthwise-separable blocks after the 32-channel 3×3/2 stem.
# (The paper's table marks the last depthwise convolution "s2" but keeps 7×7 outputs; implementations use 1.)
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *((512, 1),) * 5, (1024, 2), (1024, 1))

# Each row: Stage(kernel, expansion t, filters c, squeeze-excite, activation, stride s, repeats n).
# V2, Table 2: 3×3 kernels, ReLU6, no SE.
V2_STAGES = (
    Stage(3, 1, 16, False, "relu6", 1),
    Stage(3, 6, 24, False, "relu6", 2, repeats=2),
    Stage(3, 6, 32, False, "relu6", 2, repeats=3),
    Stage(3, 6, 64, False, "relu6", 2, repeats=4),
    Stage(3, 6, 96, False, "relu6", 1, repeats=3),
    Stage(3, 6, 160, False, "relu6", 2, repeats=3),
    Stage(3, 6, 320, False, "relu6", 1),
)

# V3, Tables 1–2, with "exp size" written as a multiple of the block's input channels.
HS = "hard_swish"
V3_SMALL_STAGES = (
    Stage(3, 1, 16, True, "relu", 2),
    Stage(3, 72 / 16, 24, False, "relu", 2),
    Stage(3, 88 / 24, 24, False, "relu", 1),
    Stage(5, 4, 40, True, HS, 2),
    Stage(5, 6, 40, True, HS, 1, repeats=2),
    Stage(5, 3, 48, True, HS, 1, repeats=2),
    Stage(5, 6, 96, True, HS, 2),
    Stage(5, 6, 96, True, HS, 1, repeats=2),
)
V3_LARGE_STAGES = (
    Stage(3, 1, 16, False, "relu", 1),
    Stage(3, 4, 24, False, "relu", 2),
    Stage(3, 3, 24, False, "relu", 1),
    Stage(5, 3, 40, True, "relu", 2),
    Stage(5, 3, 40, True, "relu", 1, repeats=2),
    Stage(3, 6, 80, False, HS, 2),
    Stage(3, 2.5, 80, False, HS, 1),
    Stage(3, 2.3, 80, False, HS, 1, repeats=2),
    Stage(3, 6, 112, True, HS, 1, repeats=2),
    Stage(5, 6, 160, True, HS, 2),
    Stage(5, 6, 160, True, HS, 1, repeats=2),
)
V3_SQUEEZE_EXCITE = {"ratio": 0.25, "divisor": 8, "activation": "relu", "gate": "hard_sigmoid"}


def _mobilenet(
    input_shape: tuple,
    num_classes: int,
    *,
    name: str,
    stages: tuple[Stage, ...],
    widths: Callable[[int], int],
    stem_channels: int,
    last_channels: int,
    head_channels: int | None,
    activation: str,
    squeeze_excite: dict | None,
    bn_momentum: float,
    bn_epsilon: float,
    dropout: float,
    small_input: bool | None,
) -> keras.Model:
    """The network shared by V2 and V3: stem → inverted residual stages → 1×1 conv → pool → head → logits.

    `widths` turns a table's filter count into the block's (the width multiplier);
    `activation` is the stem's, the last convolution's and the head's (blocks use their
    stage's); `head_channels` adds V3's dense layer between pooling and the classifier.
    """
    small_input = resolve_small_input(small_input, input_shape)
    norm = {"norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}
    inputs = keras.Input(input_shape, name="images")
    x = conv_norm_act(inputs, stem_channels, 3, strides=1 if small_input else 2, activation=activation, **norm, name="stem")
    keep_resolution = small_input  # the first strided block keeps stride 1 on small inputs
    index = 0
    for stage in stages:
        for repeat in range(stage.repeats):
            strides = stage.strides if repeat == 0 else 1
            if strides > 1 and keep_resolution:
                strides, keep_resolution = 1, False
            se = squeeze_excite if stage.squeeze_excite else None
            x = inverted_residual(x, widths(stage.filters), stage.expansion, stage.kernel_size, strides, stage.activation, se=se,
                                  **norm, name=f"block{index}")
            index += 1
    x = conv_norm_act(x, last_channels, 1, activation=activation, **norm, name="last_conv")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if head_channels:
        x = keras.layers.Dense(head_channels, activation=activation, name="head")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


@MODELS.register("mobilenet_v1")
def mobilenet_v1(
    input_shape: tuple,
    num_classes: int,
    width_multiplier: PositiveFloat = 1.0,
    activation: Literal["relu", "relu6"] = "relu6",
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-3,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """MobileNetV1: a 3×3 stem and 13 depthwise-separable convolutions (4.3 M parameters, 569 M MACs on ImageNet).

    Args:
        width_multiplier: α, scales every layer's channels to ⌊c·α⌋ (the paper's 0.25, 0.5,
            0.75, 1.0, as keras.applications; no rounding to multiples of 8 in V1): cost and
            parameters ≈ α².
        activation: after every convolution: "relu6" (keras.applications, TF-slim: keeps
            activations in a range that quantises well) or "relu" (the paper).
        bn_momentum: BatchNorm moving-average momentum (Keras convention; keras.applications: 0.99).
        bn_epsilon: BatchNorm variance epsilon.
        dropout: dropout rate before the classifier; 0 by default (keras.applications: 0.001).
        small_input: stride 1 in the stem and the first strided block (output stride 8 instead
            of 32); None decides by size: on when the input is smaller than 64 pixels.

    Example::

        model = mobilenet_v1((224, 224, 3), 1000)   # 4,253,864 parameters, like keras.applications.MobileNet
        model = mobilenet_v1((32, 32, 1), 10, width_multiplier=0.25)
    """
    small_input = resolve_small_input(small_input, input_shape)
    norm = {"norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}
    inputs = keras.Input(input_shape, name="images")
    x = conv_norm_act(inputs, int(32 * width_multiplier), 3, strides=1 if small_input else 2, activation=activation, **norm,
                      name="stem")
    keep_resolution = small_input  # the first strided block keeps stride 1 on small inputs
    for index, (filters, strides) in enumerate(V1_BLOCKS, start=1):
        if strides > 1 and keep_resolution:
            strides, keep_resolution = 1, False
        x = depthwise_separable(x, int(filters * width_multiplier), 3, strides, activation, pointwise_activation=activation,
                                **norm, name=f"block{index}")
    logits = pooled_classifier(x, num_classes, dropout)
    return keras.Model(inputs, logits, name="mobilenet_v1")


@MODELS.register("mobilenet_v2")
def mobilenet_v2(
    input_shape: tuple,
    num_classes: int,
    width_multiplier: PositiveFloat = 1.0,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-3,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """MobileNetV2: 17 inverted residual blocks with linear bottlenecks (3.5 M parameters on ImageNet).

    Args:
        width_multiplier: α, scales every layer's channels (rounded by `make_divisible`):
            0.35–1.4 trade accuracy for cost ≈ α². The last 1×1 convolution keeps 1280
            channels for α ≤ 1, as in the paper. (Block widths truncate c·α to an integer before
            rounding, as `keras.applications` does; it matters only at unusual α like 0.56.)
        bn_momentum: BatchNorm moving-average momentum (Keras convention; 0.9 suits short runs
            on small data, `keras.applications` uses 0.999).
        bn_epsilon: BatchNorm variance epsilon.
        dropout: dropout rate before the classifier. A training-recipe setting, 0 by default
            as in timm (the papers' recipes use 0.2; set it in the spec).
        small_input: stride 1 in the stem and the first strided block (output stride 8 instead
            of 32); None decides by size: on when the input is smaller than 64 pixels.

    Example::

        model = mobilenet_v2((224, 224, 3), 1000)   # 3,538,984 parameters, like keras.applications.MobileNetV2
        model = mobilenet_v2((32, 32, 1), 10, width_multiplier=0.5)
    """
    return _mobilenet(
        input_shape,
        num_classes,
        name="mobilenet_v2",
        stages=V2_STAGES,
        widths=lambda filters: make_divisible(int(filters * width_multiplier)),
        stem_channels=make_divisible(32 * width_multiplier),
        last_channels=make_divisible(1280 * width_multiplier) if width_multiplier > 1 else 1280,
        head_channels=None,
        activation="relu6",
        squeeze_excite=None,
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
        dropout=dropout,
        small_input=small_input,
    )


def mobilenet_v3(
    input_shape: tuple,
    num_classes: int,
    variant: Literal["small", "large"] = "large",
    width_multiplier: float = 1.0,
    minimalistic: bool = False,
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-3,
    dropout: float = 0.0,
    small_input: bool | None = None,
) -> keras.Model:
    """MobileNetV3 small or large; `mobilenet_v3_small` and `mobilenet_v3_large` document the arguments.

    Example::

        model = mobilenet_v3((224, 224, 3), 1000, variant="small")
    """
    stages = V3_SMALL_STAGES if variant == "small" else V3_LARGE_STAGES
    activation = HS
    if minimalistic:  # keras.applications' variant for quantisation and older hardware
        stages = tuple(stage._replace(kernel_size=3, squeeze_excite=False, activation="relu") for stage in stages)
        activation = "relu"

    def widths(filters: int) -> int:
        return make_divisible(filters * width_multiplier)

    head_channels = 1024 if variant == "small" else 1280
    return _mobilenet(
        input_shape,
        num_classes,
        name=f"mobilenet_v3_{variant}",
        stages=stages,
        widths=widths,
        stem_channels=16,  # not scaled by α, as in keras.applications
        last_channels=make_divisible(6 * widths(stages[-1].filters)),
        head_channels=make_divisible(head_channels * width_multiplier) if width_multiplier > 1 else head_channels,
        activation=activation,
        squeeze_excite=V3_SQUEEZE_EXCITE,
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
        dropout=dropout,
        small_input=small_input,
    )


@MODELS.register("mobilenet_v3_small")
def mobilenet_v3_small(
    input_shape: tuple,
    num_classes: int,
    width_multiplier: PositiveFloat = 1.0,
    minimalistic: bool = False,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-3,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """MobileNetV3-Small: 11 searched blocks with SE and hard-swish (2.5 M parameters on ImageNet).

    Args:
        width_multiplier: α, scales the blocks' channels (rounded by `make_divisible`); the stem
            keeps 16 channels and the 1024-wide head grows only for α > 1, as in keras.applications.
        minimalistic: 3×3 kernels, ReLU and no squeeze-excite everywhere (keras.applications'
            "minimalistic" models: fewer operation kinds, friendlier to quantisation).
        bn_momentum: BatchNorm moving-average momentum (Keras convention; keras.applications: 0.999).
        bn_epsilon: BatchNorm variance epsilon.
        dropout: dropout rate before the classifier; 0 by default as in timm (the paper: 0.2).
        small_input: stride 1 in the stem and the first strided block (output stride 8 instead
            of 32); None decides by size: on when the input is smaller than 64 pixels.

    Example::

        model = mobilenet_v3_small((224, 224, 3), 1000)   # 2,554,968 parameters
        model = mobilenet_v3_small((32, 32, 1), 10)       # 4×4 feature map before pooling
    """
    return mobilenet_v3(input_shape, num_classes, "small", width_multiplier, minimalistic, bn_momentum, bn_epsilon, dropout, small_input)


@MODELS.register("mobilenet_v3_large")
def mobilenet_v3_large(
    input_shape: tuple,
    num_classes: int,
    width_multiplier: PositiveFloat = 1.0,
    minimalistic: bool = False,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-3,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """MobileNetV3-Large: 15 searched blocks with SE and hard-swish (5.5 M parameters on ImageNet).

    Args: as `mobilenet_v3_small` (the head is 1280 wide).

    Example::

        model = mobilenet_v3_large((224, 224, 3), 1000)   # 5,507,432 parameters
    """
    return mobilenet_v3(input_shape, num_classes, "large", width_multiplier, minimalistic, bn_momentum, bn_epsilon, dropout, small_input)
