"""Dropout inside convolutional blocks: of single activations, or of whole feature maps (SpatialDropout).

Neighbouring activations of a convolutional feature map are strongly correlated, so dropping
single ones barely regularises: the rest of the neighbourhood still carries what was dropped.
SpatialDropout (Tompson et al., 2015, "Efficient object localization using convolutional
networks") drops whole channels instead: in training each (example, channel) map is zeroed
with probability `rate` and the kept maps are scaled by 1/(1 − rate); inference is the identity.
Keras has the layer (`keras.layers.SpatialDropout2D`, a `Dropout` with the noise shape
(batch, 1, 1, channels)); this block lets a family that drops inside its convolutional blocks
offer both kinds under one argument (`dropout_kind` in a spec).

Example::

    y = conv_dropout(y, 0.2, kind="spatial", name="block1_dropout")   # whole channels
"""

from __future__ import annotations

from typing import Literal

import keras

DropoutKind = Literal["standard", "spatial"]


def conv_dropout(x, rate: float, kind: DropoutKind = "standard", name: str | None = None):
    """Dropout of a [batch, H, W, C] feature map: of single activations (`standard`) or of whole channels (`spatial`).

    Args:
        x: a [batch, H, W, C] tensor of the functional API.
        rate: the probability of dropping each activation (standard) or each channel of each
            example (spatial); 0 adds no layer.
        kind: "standard" (`keras.layers.Dropout`) or "spatial" (`keras.layers.SpatialDropout2D`).
        name: the layer's name.

    Returns:
        A tensor of x's shape.

    Example::

        y = conv_dropout(y, 0.3, kind="spatial", name="stage1_block2_dropout")   # a WRN block's dropout, by channels
    """
    if not rate:
        return x
    layer = keras.layers.SpatialDropout2D if kind == "spatial" else keras.layers.Dropout
    return layer(rate, name=name)(x)
