"""Anchors of a pyramid and IoU matching with an ignore band and the best-anchor rule, against NumPy loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerascv_suite.layers.anchors import BACKGROUND, IGNORED, anchor_grid, match_anchors
from kerascv_suite.ops.average_precision import box_iou


def test_anchor_grid_order_centres_areas_and_ratios():
    anchors = anchor_grid((40, 24), strides=(8, 16), sizes=(16, 32), ratios=(0.5, 1.0, 2.0), scales=(1.0, 2.0)).numpy()
    per_cell = 6
    assert anchors.shape == ((5 * 3 + 3 * 2) * per_cell, 4)           # ⌈40/8⌉×⌈24/8⌉ and ⌈40/16⌉×⌈24/16⌉ cells
    width, height = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    # cell (row 1, column 2) of level 0: centre (20, 12); its six anchors in (scale, ratio) order
    cell = slice((1 * 3 + 2) * per_cell, (1 * 3 + 2 + 1) * per_cell)
    np.testing.assert_allclose(centres[cell], [[20, 12]] * per_cell)
    np.testing.assert_allclose(width[cell] * height[cell], [16**2] * 3 + [32**2] * 3, rtol=1e-5)
    np.testing.assert_allclose(height[cell] / width[cell], [0.5, 1.0, 2.0] * 2, rtol=1e-5)
    level1 = slice(15 * per_cell, None)
    np.testing.assert_allclose(centres[level1][0], [8, 8])
    np.testing.assert_allclose(np.sqrt(width[level1][:3] * height[level1][:3]), [32] * 3, rtol=1e-5)
    with pytest.raises(ValueError, match="one anchor size per level"):
        anchor_grid((8, 8), strides=(8, 16), sizes=(16,))


def reference_match(anchors, boxes, positive, negative, low_quality):
    ious = box_iou(anchors, boxes)
    result = np.full(len(anchors), BACKGROUND)
    for a in range(len(anchors)):
        best = ious[a].max()
        result[a] = int(np.argmax(ious[a])) if best >= positive else (BACKGROUND if best < negative else IGNORED)
    if low_quality:
        for a in range(len(anchors)):
            # ties (symmetric anchors) within float32 rounding count as ties
            candidates = [g for g in range(len(boxes)) if ious[:, g].max() > 0 and math.isclose(ious[a, g], ious[:, g].max(), abs_tol=1e-6)]
            if candidates:
                result[a] = max(candidates, key=lambda g: (ious[a, g], -g))
    return result


@pytest.mark.parametrize("low_quality", [False, True])
def test_matching_equals_numpy_with_ignore_band_and_best_anchor_rule(low_quality):
    rng = np.random.default_rng(1)
    anchors = anchor_grid((64, 64), strides=(8, 16), sizes=(16, 32)).numpy()
    corner = rng.uniform(0, 48, (7, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(6, 40, (7, 2))], -1).astype(np.float32)
    boxes[6] = [30, 30, 33, 34]                                         # too small for any anchor to reach 0.5
    ours = match_anchors(anchors, boxes, positive=0.5, negative=0.3, allow_low_quality=low_quality).numpy()
    expected = reference_match(anchors, boxes, 0.5, 0.3, low_quality)
    np.testing.assert_array_equal(ours, expected)
    assert {BACKGROUND, IGNORED} <= set(ours.tolist())
    assert (6 in ours.tolist()) == low_quality                         # the small box gets an anchor only by the rule


def test_padding_rows_and_no_boxes_match_nothing():
    anchors = anchor_grid((32, 32), strides=(16,), sizes=(16,), ratios=(1.0,))
    boxes = np.array([[0, 0, 16, 16], [0, 0, 16, 16]], np.float32)
    matched = match_anchors(anchors, boxes, valid=np.array([True, False])).numpy()
    assert matched.tolist() == [0, BACKGROUND, BACKGROUND, BACKGROUND]
    assert match_anchors(anchors, np.zeros((0, 4), np.float32)).numpy().tolist() == [BACKGROUND] * 4
    with pytest.raises(ValueError, match="must not exceed positive"):
        match_anchors(anchors, boxes, positive=0.4, negative=0.5)
