"""Box geometry: generalized IoU against its definition, its known values and its gradient where IoU has none."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers.boxes import generalized_iou
from kerascv_suite.ops.average_precision import box_iou


def reference_giou(a, b):
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union - (hull - union) / hull


def test_giou_equals_its_definition_pairwise_and_paired():
    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 50, (20, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(1, 30, (20, 2))], -1).astype(np.float32)
    a, b = boxes[:8], boxes[8:]
    pairwise = generalized_iou(a[:, None], b[None]).numpy()
    expected = np.array([[reference_giou(x, y) for y in b] for x in a])
    np.testing.assert_allclose(pairwise, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(generalized_iou(a, b[:8]).numpy(), np.diag(expected[:, :8]), rtol=1e-5, atol=1e-6)
    assert np.all(pairwise <= box_iou(a, b) + 1e-6) and np.all(pairwise >= -1)


@pytest.mark.parametrize("a, b, value", [
    ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),             # the same box
    ([0, 0, 4, 4], [1, 1, 3, 3], 0.25),            # one inside the other: GIoU = IoU
    ([0, 0, 1, 1], [2, 0, 3, 1], 2 / 3 - 1),       # apart: IoU 0, hull 3, union 2
    ([0, 0, 1, 1], [9, 9, 10, 10], 2 / 100 - 1),   # far apart: towards −1
])
def test_giou_known_values(a, b, value):
    assert float(generalized_iou(np.float32(a), np.float32(b))) == pytest.approx(value, abs=1e-6)


def test_giou_pulls_disjoint_boxes_together_where_iou_is_flat():
    target = tf.constant([0.0, 0.0, 1.0, 1.0])
    box = tf.Variable([3.0, 0.0, 4.0, 1.0])
    with tf.GradientTape(persistent=True) as tape:
        giou_loss = 1.0 - generalized_iou(box, target)
        iou_loss = 1.0 - tf.linalg.diag_part(keras.utils.bounding_boxes.compute_iou(box[None], target[None], "xyxy"))[0]
    iou_gradient = tape.gradient(iou_loss, box)
    assert iou_gradient is None or np.all(iou_gradient.numpy() == 0)   # IoU is flat 0 for disjoint boxes
    # GIoU = union/hull − 1 here: a step against its gradient moves the box's left edge towards the target
    assert tape.gradient(giou_loss, box).numpy()[0] > 0
