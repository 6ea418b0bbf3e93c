"""Box layers of the detection and localisation heads.

`CentreSizeBoxes` turns four unbounded scores into a box that is always valid: sigmoids give the
centre (cx, cy) and the size (w, h) as fractions of the image, and the corners follow,
clipped to the image. Regressing the corners directly (Keras has no such head layer) can give
x1 < x0, which no IoU or drawing code accepts.

Example::

    boxes = CentreSizeBoxes(name="box")(keras.layers.Dense(4)(features))   # [B, 4] xyxy in [0, 1]
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_suite")
class CentreSizeBoxes(keras.layers.Layer):
    """Scores [..., 4] → boxes [..., 4] (x0, y0, x1, y1) as fractions of the image: centre and size by sigmoid, corners clipped to [0, 1]."""

    def call(self, scores):
        centre = ops.sigmoid(scores[..., :2])
        half = ops.sigmoid(scores[..., 2:]) / 2.0
        return ops.clip(ops.concatenate([centre - half, centre + half], axis=-1), 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape
