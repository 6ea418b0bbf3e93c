"""Fully convolutional networks for semantic segmentation (Long, Shelhamer & Darrell, 2015).

Class scores for every pixel from a classification backbone: a 1×1 convolution scores the
deepest feature map (stride S), and with `skips` the scores are upsampled ×2 and added to the
1×1 scores of the next shallower endpoint, as FCN-16s (one skip) and FCN-8s (two skips) add
pool4 and pool3; the sum is upsampled bilinearly to the input size. With a zoo backbone the
endpoints are those of `kerascv_suite.models.backbones` (the last map at each stride).

The model scores `num_classes + 1` classes: background (0) and each object class c (c + 1),
the `semantic_mask` convention of `kerascv_suite.data.examples`.

Example (YAML)::

    task: segmentation
    model: {name: fcn, backbone: {name: cifar_resnet, depth: 8}, skips: 2}
"""

from __future__ import annotations

from typing import Literal

import keras

from kerascv_suite.models.backbones import endpoints
from kerascv_suite.registry import MODELS, Component


@MODELS.register("fcn")
def fcn(
    input_shape: tuple,
    num_classes: int,
    backbone: Component["backbones"],
    skips: Literal[0, 1, 2] = 2,
    upsampling: Literal["bilinear", "transposed"] = "bilinear",
) -> keras.Model:
    """FCN-32s/16s/8s-style scores on a backbone's endpoints: logits [B, H, W, num_classes + 1] at the input size.

    Args:
        backbone: the zoo CNN whose feature maps are scored, e.g. ``{name: cifar_resnet, depth: 8}``.
        skips: shallower endpoints whose scores are added on the way up: 0 (FCN-32s: the deepest
            map only), 1 (FCN-16s) or 2 (FCN-8s).
        upsampling: how scores double in resolution between endpoints: "bilinear" (fixed
            interpolation) or "transposed" (a learnable 4×4 stride-2 transposed convolution,
            the paper's deconvolution; the final upsampling is bilinear either way).

    Example::

        model = fcn((64, 64, 3), 3, backbone=MODELS.get("cifar_resnet")((64, 64, 3), 3, depth=8))
        model.output_shape      # (None, 64, 64, 4)
    """
    points = list(endpoints(backbone).items())
    if len(points) < skips + 1:
        raise ValueError(f"fcn with {skips} skips needs {skips + 1} feature maps of different strides; "
                         f"{backbone.name} has {len(points)}")
    classes = num_classes + 1
    size = backbone.inputs[0].shape[1]
    name, deepest = points[-1]
    scores = keras.layers.Conv2D(classes, 1, name=f"score_{name}")(deepest)
    for name, shallower in reversed(points[-1 - skips:-1]):
        factor = shallower.shape[1] // scores.shape[1]
        if upsampling == "transposed":
            scores = keras.layers.Conv2DTranspose(classes, 2 * factor, strides=factor, padding="same", use_bias=False,
                                                  name=f"up_to_{name}")(scores)
        else:
            scores = keras.layers.UpSampling2D(factor, interpolation="bilinear", name=f"up_to_{name}")(scores)
        scores = keras.layers.Add(name=f"fuse_{name}")([scores, keras.layers.Conv2D(classes, 1, name=f"score_{name}")(shallower)])
    stride = size // scores.shape[1]
    if stride > 1:
        scores = keras.layers.UpSampling2D(stride, interpolation="bilinear", name="up_to_input")(scores)
    return keras.Model(backbone.inputs, scores, name=f"fcn_{backbone.name}_{skips}_skips")
