"""EfficientNet (Tan & Le, 2019): scale depth, width and resolution together, by one rule.

Before EfficientNet a network was made bigger along one axis: deeper (ResNet-50 → 152),
wider (WideResNet) or fed larger images. The paper shows that the three interact — a larger
image needs more layers to cover it and more channels to hold its finer patterns — and scales
them together: depth by α^φ, width by β^φ and resolution by γ^φ, with α·β²·γ² ≈ 2 so that
each step of φ doubles the multiply-adds. α = 1.2, β = 1.1, γ = 1.15 were found by a small
grid search on B0, itself the result of an architecture search for accuracy per FLOP; B1–B7
are B0 scaled with φ = 1…7 (the published coefficients are rounded: `VARIANTS`).

B0 is a MobileNetV2/V3-like stack of MBConv blocks (`kerascv_suite.layers.inverted_residual`):
1×1 expansion → depthwise 3×3 or 5×5 → squeeze-and-excitation → linear 1×1 projection, with
swish activations. The SE bottleneck is a quarter of the block's *input* channels (MobileNetV3
takes a quarter of the expanded ones): `se_from_input=True`. Widths are scaled and rounded to
multiples of 8 (`make_divisible`), stage repeats scaled and rounded up.

At ImageNet configuration (each variant at its own resolution, 1000 classes) the parameters
equal `keras.applications.EfficientNetB0…B7(weights=None)` less the 7 non-trainable weights of
its built-in Normalization layer (mean, variance and count of 3 channels; this library
normalises in the data pipeline instead): 5,330,564 for B0. The trainable parameters equal
torchvision's `efficientnet_b0…b7` exactly (5,288,548 for B0); Keras also counts BatchNorm's
moving mean and variance, which PyTorch keeps as buffers. Other differences from
`keras.applications`, none changing a count: BatchNorm momentum 0.9 instead of 0.99 (see
`kerascv_suite.layers.norm_act`), "same" padding instead of explicit asymmetric zero padding
(same shapes), dropout before the classifier 0 by default (the paper: 0.2 for B0 rising to 0.5
for B7, `VARIANTS`; set `dropout` in the spec), no softmax (logits), and no stochastic depth:
the reference's `drop_connect_rate` = 0.2 (randomly skipping residual branches while training;
the library has it as `layers.DropPath`, which the ResNets take as `drop_path`) is not wired into these
blocks yet, so they always run.

Small inputs: the stem and four stages stride 2, dividing the image by 32, so a 32×32 image
would end as one pixel. With `small_input` (by default when the input is smaller than 64
pixels) the stem and the first strided block use stride 1, as in `mobilenet.py`: the network
divides by 8 and a 32×32 input ends at 4×4.

Example::

    model = efficientnet((224, 224, 3), 1000)                 # B0: 5,330,564 parameters, 7×7 before pooling
    model = efficientnet((300, 300, 3), 1000, variant="b3")   # B3 at its native resolution
    model = efficientnet((32, 32, 1), 10)                     # small_input: 4×4 before pooling

In a spec: ``model: {name: efficientnet, variant: b1, dropout: 0.2}``.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, Optional

import keras
from pydantic import PositiveFloat

from kerascv_suite.layers.classifier import pooled_classifier
from kerascv_suite.layers.inverted_residual import inverted_residual
from kerascv_suite.layers.norm_act import conv_norm_act
from kerascv_suite.layers.widths import make_divisible
from kerascv_suite.models.arguments import Fraction, resolve_small_input
from kerascv_suite.registry import MODELS


class Stage(NamedTuple):
    """`repeats` MBConv blocks with `filters` outputs; only the first one strides."""

    kernel_size: int
    repeats: int
    filters: int
    expansion: int
    strides: int


# B0 (Table 1): MBConv1 k3×3 16 ×1, MBConv6 k3×3 24 ×2, ... ; the stem has 32 channels, the last conv 1280.
B0_STAGES = (
    Stage(3, 1, 16, 1, 1),
    Stage(3, 2, 24, 6, 2),
    Stage(5, 2, 40, 6, 2),
    Stage(3, 3, 80, 6, 2),
    Stage(5, 3, 112, 6, 1),
    Stage(5, 4, 192, 6, 2),
    Stage(3, 1, 320, 6, 1),
)
STEM_CHANNELS, LAST_CHANNELS = 32, 1280


class Variant(NamedTuple):
    """The published scaling of one EfficientNet: width and depth coefficients, image size, dropout."""

    width: float
    depth: float
    resolution: int
    dropout: float


VARIANTS = {
    "b0": Variant(1.0, 1.0, 224, 0.2),
    "b1": Variant(1.0, 1.1, 240, 0.2),
    "b2": Variant(1.1, 1.2, 260, 0.3),
    "b3": Variant(1.2, 1.4, 300, 0.3),
    "b4": Variant(1.4, 1.8, 380, 0.4),
    "b5": Variant(1.6, 2.2, 456, 0.4),
    "b6": Variant(1.8, 2.6, 528, 0.5),
    "b7": Variant(2.0, 3.1, 600, 0.5),
}
SQUEEZE_EXCITE = {"ratio": 0.25, "divisor": 1, "activation": "swish", "gate": "sigmoid"}


@MODELS.register("efficientnet")
def efficientnet(
    input_shape: tuple,
    num_classes: int,
    variant: Literal["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"] = "b0",
    width_coefficient: Optional[PositiveFloat] = None,
    depth_coefficient: Optional[PositiveFloat] = None,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-3,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """EfficientNet-B0…B7: MBConv blocks with SE and swish, compound-scaled (B0: 5.3 M parameters, 0.39 G MACs).

    Args:
        variant: "b0" … "b7", the published width/depth coefficients (`VARIANTS`). The
            resolution belongs to the data: give `input_shape` at the variant's own size
            (224, 240, 260, 300, 380, 456, 528, 600) to reproduce the paper.
        width_coefficient: overrides the variant's channel multiplier (every width ×w, rounded
            to a multiple of 8 by `make_divisible`); None keeps the variant's.
        depth_coefficient: overrides the variant's depth multiplier (each stage's repeats ×d,
            rounded up); None keeps the variant's.
        bn_momentum: BatchNorm moving-average momentum (Keras convention; keras.applications: 0.99).
        bn_epsilon: BatchNorm variance epsilon (1e-3, as keras.applications and torchvision).
        dropout: dropout rate before the classifier; 0 by default. The paper uses 0.2 (B0, B1),
            0.3 (B2, B3), 0.4 (B4, B5), 0.5 (B6, B7): `VARIANTS[variant].dropout`.
        small_input: stride 1 in the stem and the first strided block (output stride 8 instead
            of 32); None decides by size: on when the input is smaller than 64 pixels.

    Example::

        model = efficientnet((240, 240, 3), 1000, variant="b1")   # 7,856,232 parameters
        model = efficientnet((32, 32, 1), 10, width_coefficient=0.5, depth_coefficient=0.5)
    """
    scaling = VARIANTS[variant]
    width = scaling.width if width_coefficient is None else width_coefficient
    depth = scaling.depth if depth_coefficient is None else depth_coefficient
    small_input = resolve_small_input(small_input, input_shape)
    norm = {"norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}
    inputs = keras.Input(input_shape, name="images")
    x = conv_norm_act(inputs, make_divisible(STEM_CHANNELS * width), 3, strides=1 if small_input else 2, activation="swish",
                      **norm, name="stem")
    keep_resolution = small_input  # the first strided block keeps stride 1 on small inputs
    for index, stage in enumerate(B0_STAGES, start=1):
        for repeat in range(math.ceil(stage.repeats * depth)):
            strides = stage.strides if repeat == 0 else 1
            if strides > 1 and keep_resolution:
                strides, keep_resolution = 1, False
            x = inverted_residual(x, make_divisible(stage.filters * width), stage.expansion, stage.kernel_size, strides, "swish",
                                  se=SQUEEZE_EXCITE, se_from_input=True, **norm, name=f"stage{index}_block{repeat + 1}")
    x = conv_norm_act(x, make_divisible(LAST_CHANNELS * width), 1, activation="swish", **norm, name="last_conv")
    logits = pooled_classifier(x, num_classes, dropout)
    return keras.Model(inputs, logits, name=f"efficientnet_{variant}")
