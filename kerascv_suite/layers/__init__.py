"""Building blocks shared by the convolutional families, each defined once and used by every family that needs it.

Each block is a function of Keras layers (or a small Keras layer): it takes a tensor of the
functional API and returns one, so a model built from blocks is a plain functional `keras.Model`
that saves, reloads, compiles under XLA and runs under mixed precision.

- `make_divisible`: round a channel count to a multiple of 8 (width multipliers).
- `norm_act`, `conv_norm_act`, `depthwise_norm_act`: convolution → BatchNorm → activation.
- `FusedBatchNormalization`: Keras's BatchNorm with TensorFlow's fused kernel in training (the
  blocks' BatchNorm; about 1.4× faster ResNet-20 training on CPU).
- `conv_act`: convolution with bias → activation, the pre-BatchNorm unit (AlexNet, VGG, GoogLeNet).
- `GroupedConv2D`: `Conv2D(groups=g)` that runs fast on TensorFlow's CPU (ResNeXt, AlexNet).
- `LocalResponseNormalization`: AlexNet's across-channel normalisation.
- `AdaptiveAveragePool2D`, `dense_classifier`: the fully connected heads of AlexNet and VGG;
  `pooled_classifier`: the global-average-pooling head of GoogLeNet and later families.
- `squeeze_excite`: channel attention (Hu et al., 2018), sigmoid or hard-sigmoid gate.
- `basic_block`, `bottleneck_block`, `ZeroPadChannels`: residual blocks, v1 and v2, with
  projection or parameter-free shortcuts (ResNet, ResNeXt, SE-ResNet, CIFAR ResNets, WRN).
- `depthwise_separable`: depthwise k×k → (SE) → pointwise 1×1 (MobileNetV1).
- `inverted_residual`: expand 1×1 → depthwise k×k → (SE) → linear project 1×1 (+ skip) (MobileNetV2/V3, EfficientNet).
- `ChannelShuffle`, `ChannelSplit`: ShuffleNet's channel operations.
- `DropConnectDense`: a Dense layer whose weights are dropped in training (DropConnect, Wan et al., 2013).
- `FractionalMaxPooling2D`: max pooling by a ratio such as √2, random cells in training (Graham, 2014).
- `DropPath`, `stochastic_depth_rates`: stochastic depth, residual branches dropped per example (Huang et al., 2016).
- `ConditionalInstanceNormalization`: instance norm with a γ, β per style (fast style transfer, Dumoulin et al., 2017).
- Detection's first parts, imported from their modules: `anchors` (anchor grids, matching), `nms`, `roi_pooling`.

Example::

    x = conv_norm_act(inputs, 32, 3, strides=2, activation="relu6", name="stem")
    x = inverted_residual(x, 24, expansion=6, strides=2, name="block1")
    x = bottleneck_block(x, 64, groups=32, width_per_group=4, name="stage1_block1")
"""

from kerascv_suite.layers.channel_shuffle import ChannelShuffle, ChannelSplit
from kerascv_suite.layers.classifier import AdaptiveAveragePool2D, dense_classifier, pooled_classifier
from kerascv_suite.layers.conv_act import conv_act
from kerascv_suite.layers.drop_connect import DropConnectDense
from kerascv_suite.layers.fractional_pooling import FractionalMaxPooling2D
from kerascv_suite.layers.fused_batch_norm import FusedBatchNormalization
from kerascv_suite.layers.grouped_conv import GroupedConv2D
from kerascv_suite.layers.instance_norm import ConditionalInstanceNormalization
from kerascv_suite.layers.inverted_residual import (
    depthwise_separable,
    inverted_residual,
)
from kerascv_suite.layers.local_response_norm import LocalResponseNormalization
from kerascv_suite.layers.norm_act import conv_norm_act, depthwise_norm_act, norm_act
from kerascv_suite.layers.residual import ZeroPadChannels, basic_block, bottleneck_block
from kerascv_suite.layers.squeeze_excite import squeeze_excite
from kerascv_suite.layers.stochastic_depth import DropPath, stochastic_depth_rates
from kerascv_suite.layers.widths import make_divisible

__all__ = [
    "AdaptiveAveragePool2D",
    "ChannelShuffle",
    "ChannelSplit",
    "ConditionalInstanceNormalization",
    "DropConnectDense",
    "DropPath",
    "FractionalMaxPooling2D",
    "FusedBatchNormalization",
    "GroupedConv2D",
    "LocalResponseNormalization",
    "ZeroPadChannels",
    "basic_block",
    "bottleneck_block",
    "conv_act",
    "conv_norm_act",
    "dense_classifier",
    "depthwise_norm_act",
    "depthwise_separable",
    "inverted_residual",
    "make_divisible",
    "norm_act",
    "pooled_classifier",
    "squeeze_excite",
    "stochastic_depth_rates",
]
