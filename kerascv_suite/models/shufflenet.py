"""ShuffleNetV2 (Ma et al., 2018): a CNN designed for measured speed, not for counted multiply-adds.

The paper observes that networks with equal multiply-add counts (FLOPs) run at very different
speeds, and derives four guidelines from measurements: equal input and output widths
minimise memory access, grouped convolutions and fragmented multi-branch blocks cost more
than their FLOPs say, and element-wise operations (adds, ReLUs) are not free. Its unit
follows them. A stride-1 unit splits the C input channels into two halves: one passes
unchanged, the other goes through 1×1 conv → depthwise 3×3 → 1×1 conv, all C/2 wide (no
bottleneck, no grouped 1×1); the halves are concatenated, not added, and a channel shuffle
(`kerascv_suite.layers.channel_shuffle`) lets the next unit's convolutions see both. A
stride-2 unit sends the whole input through two branches, the second with a stride-2
depthwise-separable convolution (`kerascv_suite.layers.depthwise_separable`), and doubles
the width.

Network (Table 5): 3×3/2 conv (24) → 3×3/2 max pool → stages of 4, 8 and 4 units whose
first unit strides → 1×1 conv (1024; 2048 at 2×) → global pool → logits. At ImageNet
configuration (224×224×3, 1000 classes) the trainable parameters equal torchvision's
`shufflenet_v2_x*` exactly (1,366,792 / 2,278,604 / 3,503,624 / 7,393,996); `count_params()`
is larger by BatchNorm's moving mean and variance, which Keras counts as (non-trainable)
parameters and PyTorch keeps as buffers (0.5–0.7% more). Multiply-accumulates: the paper's
41 M, 146 M, 299 M and 591 M "FLOPs" (mult-adds); our `arithmetic` counts 0.8–1.3% fewer
(40.5 M, 144.9 M, 295.8 M, 583.3 M; the paper does not say what else it includes). BatchNorm
epsilon 1e-5 as in torchvision; momentum 0.9 (Keras convention; see
`kerascv_suite.layers.norm_act`). `keras.applications` has no ShuffleNet.

Small inputs: the stem convolution and max pool each halve the image and the three stages
halve it again, 32× in all, so a 32×32 image would end as one pixel. With `small_input`
(by default when the input is smaller than 64 pixels) the stem convolution has stride 1 and
the max pool is left out, as CIFAR adaptations of ShuffleNet do: the network divides by 8
and a 32×32 input ends at 4×4.

Example::

    model = shufflenet_v2((224, 224, 3), 1000)                        # 7×7 before pooling
    model = shufflenet_v2((32, 32, 1), 10, width_multiplier=0.5)      # small_input: 4×4

In a spec: ``model: {name: shufflenet_v2, width_multiplier: 0.5}``.
"""

from __future__ import annotations

from typing import Literal, Optional

import keras
from pydantic import PositiveFloat

from kerascv_suite.layers.channel_shuffle import ChannelShuffle, ChannelSplit
from kerascv_suite.layers.classifier import pooled_classifier
from kerascv_suite.layers.inverted_residual import depthwise_separable
from kerascv_suite.layers.norm_act import conv_norm_act
from kerascv_suite.models.arguments import Fraction, resolve_small_input
from kerascv_suite.registry import MODELS

# Table 5: output channels of stages 2, 3, 4 and of the last 1×1 convolution, per width.
STAGE_WIDTHS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
STAGE_REPEATS = (4, 8, 4)
STEM_CHANNELS = 24


def shuffle_unit(x, filters: int, strides: int, norm: dict, name: str):
    """ShuffleNetV2's unit (Fig. 3c, 3d): split (or copy) → branch → concatenate → shuffle.

    Stride 1 keeps the C = `filters` channels: the first half passes, the second goes
    through 1×1 → depthwise 3×3 → 1×1, each C/2 wide. Stride 2 copies the input into a
    stride-2 depthwise-separable branch and the three-convolution branch, each `filters`/2
    wide. The depthwise convolutions are linear (BatchNorm without ReLU), the 1×1 ones ReLU.
    """
    branch = filters // 2
    if strides == 1:
        passed = ChannelSplit(2, 0, name=f"{name}_split_passed")(x)
        x = ChannelSplit(2, 1, name=f"{name}_split_branch")(x)
    else:
        passed = depthwise_separable(x, branch, 3, strides, activation=None, pointwise_activation="relu", **norm,
                                     name=f"{name}_branch1")
    x = conv_norm_act(x, branch, 1, activation="relu", **norm, name=f"{name}_branch2_pointwise")
    x = depthwise_separable(x, branch, 3, strides, activation=None, pointwise_activation="relu", **norm, name=f"{name}_branch2")
    x = keras.layers.Concatenate(name=f"{name}_concat")([passed, x])
    return ChannelShuffle(2, name=f"{name}_shuffle")(x)


@MODELS.register("shufflenet_v2")
def shufflenet_v2(
    input_shape: tuple,
    num_classes: int,
    width_multiplier: Literal[0.5, 1.0, 1.5, 2.0] = 1.0,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-5,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """ShuffleNetV2: split, branch, concatenate and shuffle channels (2.3 M parameters, 146 M MACs at 1×).

    Args:
        width_multiplier: the paper's 0.5×, 1×, 1.5× or 2× network; stage widths follow its
            Table 5 (not a formula: 1× is 116/232/464), and 2× widens the last convolution to 2048.
        bn_momentum: BatchNorm moving-average momentum (Keras convention; 0.9 is PyTorch's 0.1).
        bn_epsilon: BatchNorm variance epsilon (torchvision's 1e-5).
        dropout: dropout rate before the classifier; 0 by default, as torchvision's ShuffleNetV2,
            which has none (a regulariser for long runs: set it in the spec).
        small_input: stride 1 in the stem convolution and no stem max pool (output stride 8
            instead of 32); None decides by size: on when the input is smaller than 64 pixels.

    Example::

        model = shufflenet_v2((224, 224, 3), 1000)   # 2,278,604 trainable parameters, like torchvision
        model = shufflenet_v2((32, 32, 1), 10, width_multiplier=0.5)
    """
    small_input = resolve_small_input(small_input, input_shape)
    norm = {"norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}
    *stage_widths, last_channels = STAGE_WIDTHS[width_multiplier]
    inputs = keras.Input(input_shape, name="images")
    x = conv_norm_act(inputs, STEM_CHANNELS, 3, strides=1 if small_input else 2, activation="relu", **norm, name="stem")
    if not small_input:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, (filters, repeats) in enumerate(zip(stage_widths, STAGE_REPEATS), start=2):
        for unit in range(repeats):
            x = shuffle_unit(x, filters, 2 if unit == 0 else 1, norm, name=f"stage{stage}_unit{unit + 1}")
    x = conv_norm_act(x, last_channels, 1, activation="relu", **norm, name="last_conv")
    logits = pooled_classifier(x, num_classes, dropout)
    return keras.Model(inputs, logits, name=f"shufflenet_v2_x{float(width_multiplier):.1f}".replace(".", "_"))
