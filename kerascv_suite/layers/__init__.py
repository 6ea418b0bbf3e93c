"""Building blocks shared by the convolutional families (MobileNet, and the ResNet/EfficientNet zoo to come).

Each block is a function of Keras layers: it takes a tensor of the functional API and returns
one, so a model built from blocks is a plain functional `keras.Model` that saves, reloads,
compiles under XLA and runs under mixed precision with no custom code.

- `make_divisible`: round a channel count to a multiple of 8 (width multipliers).
- `norm_act`, `conv_norm_act`, `depthwise_norm_act`: convolution → BatchNorm → activation.
- `squeeze_excite`: channel attention (Hu et al., 2018), sigmoid or hard-sigmoid gate.
- `depthwise_separable`: depthwise k×k → (SE) → pointwise 1×1 (MobileNetV1).
- `inverted_residual`: expand 1×1 → depthwise k×k → (SE) → linear project 1×1 (+ skip) (MobileNetV2/V3 MBConv).

Example::

    x = conv_norm_act(inputs, 32, 3, strides=2, activation="relu6", name="stem")
    x = inverted_residual(x, 24, expansion=6, strides=2, name="block1")
"""

from kerascv_suite.layers.inverted_residual import depthwise_separable, inverted_residual
from kerascv_suite.layers.norm_act import conv_norm_act, depthwise_norm_act, norm_act
from kerascv_suite.layers.squeeze_excite import squeeze_excite
from kerascv_suite.layers.widths import make_divisible

__all__ = [
    "conv_norm_act",
    "depthwise_norm_act",
    "depthwise_separable",
    "inverted_residual",
    "make_divisible",
    "norm_act",
    "squeeze_excite",
]
