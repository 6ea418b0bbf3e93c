"""Box layers and box geometry of the detection and localisation heads.

`generalized_iou` (Rezatofighi et al., 2019) is IoU − |C \ (A ∪ B)| / |C|, C the smallest box
enclosing both: in [−1, 1], equal to IoU when one box encloses the other, and still informative
(its gradient moves the boxes together) when they do not overlap, where IoU is flat 0 — the box
loss of DETR and of the set-prediction heads. Keras has IoU and CIoU (`compute_iou`,
`compute_ciou`), not GIoU.

`CentreSizeBoxes` turns four unbounded scores into a box that is always valid: sigmoids give the
centre (cx, cy) and the size (w, h) as fractions of the image, and the corners follow,
clipped to the image. Regressing the corners directly (Keras has no such head layer) can give
x1 < x0, which no IoU or drawing code accepts.

Example::

    boxes = CentreSizeBoxes(name="box")(keras.layers.Dense(4)(features))   # [B, 4] xyxy in [0, 1]
    loss = 1.0 - generalized_iou(true_boxes, boxes)                           # [B], paired
    cost = -generalized_iou(predictions[:, None], targets[None])             # [N, M], every pair
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


def generalized_iou(a, b):
    """GIoU of boxes a [..., 4] and b [..., 4] (x0, y0, x1, y1), broadcast against each other: [...].

    Pass [N, 1, 4] and [1, M, 4] for every pair. Degenerate boxes (zero area) give IoU 0 and
    an enclosing-box term of 0 when the enclosing box is empty too.
    """
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    low, high = ops.maximum(a[..., :2], b[..., :2]), ops.minimum(a[..., 2:], b[..., 2:])
    inter = ops.prod(ops.maximum(high - low, 0.0), axis=-1)
    area_a = ops.prod(ops.maximum(a[..., 2:] - a[..., :2], 0.0), axis=-1)
    area_b = ops.prod(ops.maximum(b[..., 2:] - b[..., :2], 0.0), axis=-1)
    union = area_a + area_b - inter
    enclosing = ops.prod(ops.maximum(ops.maximum(a[..., 2:], b[..., 2:]) - ops.minimum(a[..., :2], b[..., :2]), 0.0), axis=-1)
    iou = ops.where(union > 0, inter / ops.maximum(union, 1e-12), 0.0)
    return iou - ops.where(enclosing > 0, (enclosing - union) / ops.maximum(enclosing, 1e-12), 0.0)
