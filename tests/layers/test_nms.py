"""NMS in the graph against NumPy references of greedy NMS, soft-NMS and per-class NMS, and against tf.image's own op."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers.nms import batched_non_max_suppression, non_max_suppression
from kerascv_suite.ops.average_precision import box_iou


def random_boxes(rng, n: int) -> np.ndarray:
    """Clustered boxes (many overlaps) in a 100×100 image, (x0, y0, x1, y1)."""
    centres = rng.uniform(20, 80, (4, 2))[rng.integers(0, 4, n)] + rng.normal(0, 6, (n, 2))
    sizes = rng.uniform(10, 30, (n, 2))
    return np.concatenate([centres - sizes / 2, centres + sizes / 2], -1).astype(np.float32)


def greedy_nms(boxes, scores, iou_threshold, limit, sigma=0.0, score_threshold=-np.inf):
    """Keep the best; drop (or, with sigma, decay by exp(−IoU²/(2σ))) the rest by their IoU with it; repeat."""
    scores, left, kept = scores.astype(np.float64).copy(), list(range(len(boxes))), []
    while left and len(kept) < limit:
        best = max(left, key=lambda i: (scores[i], -i))
        if scores[best] <= score_threshold:
            break
        kept.append((best, scores[best]))
        left.remove(best)
        ious = box_iou(boxes[best][None], boxes[left])[0] if left else np.zeros(0)
        for i, overlap in zip(list(left), ious):
            if overlap > iou_threshold:
                left.remove(i)
            elif sigma:
                scores[i] *= np.exp(-0.5 * overlap**2 / sigma)
    return [i for i, _ in kept], np.array([s for _, s in kept])


@pytest.mark.parametrize("seed", range(3))
def test_greedy_nms_equals_numpy_and_tf_image(seed):
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, 60), rng.random(60).astype(np.float32)
    kept, kept_scores = non_max_suppression(boxes, scores, 40, iou_threshold=0.4)
    expected, expected_scores = greedy_nms(boxes, scores, 0.4, 40)
    assert kept.numpy().tolist() == expected
    np.testing.assert_allclose(kept_scores.numpy(), expected_scores, rtol=1e-6)
    assert kept.numpy().tolist() == tf.image.non_max_suppression(boxes, scores, 40, iou_threshold=0.4).numpy().tolist()
    assert len(expected) < 40 and np.max(box_iou(boxes[expected], boxes[expected]) - np.eye(len(expected))) <= 0.4


def test_soft_nms_decays_overlapping_scores_as_the_gaussian_rule():
    rng = np.random.default_rng(7)
    boxes, scores = random_boxes(rng, 30), rng.uniform(0.5, 1.0, 30).astype(np.float32)
    kept, kept_scores = non_max_suppression(boxes, scores, 30, iou_threshold=1.0, soft_sigma=0.5)
    expected, expected_scores = greedy_nms(boxes, scores, 1.0, 30, sigma=0.5)
    assert kept.numpy().tolist() == expected                         # nothing dropped, only re-scored and re-ranked
    np.testing.assert_allclose(kept_scores.numpy(), expected_scores, rtol=1e-5)
    assert np.all(kept_scores.numpy() <= scores[kept.numpy()] + 1e-7) and np.any(kept_scores.numpy() < scores[kept.numpy()] - 0.01)


def test_batched_nms_suppresses_each_class_on_its_own_and_keeps_the_best_overall():
    rng = np.random.default_rng(3)
    batch, n, classes, limit = 3, 40, 3, 25
    boxes = np.stack([random_boxes(rng, n) for _ in range(batch)])
    class_scores = rng.random((batch, n, classes)).astype(np.float32)
    found = batched_non_max_suppression(boxes, class_scores, limit, iou_threshold=0.5, score_threshold=0.05)
    for b in range(batch):
        rows = []
        for c in range(classes):
            kept, kept_scores = greedy_nms(boxes[b], class_scores[b, :, c], 0.5, limit, score_threshold=0.05)
            rows += [(s, c, i) for i, s in zip(kept, kept_scores)]
        rows = sorted(rows, key=lambda r: -r[0])[:limit]
        count = int(found.count[b])
        assert count == len(rows)
        np.testing.assert_allclose(found.scores[b, :count], [r[0] for r in rows], rtol=1e-6)
        assert found.classes[b, :count].numpy().tolist() == [r[1] for r in rows]
        np.testing.assert_allclose(found.boxes[b, :count], boxes[b][[r[2] for r in rows]], rtol=1e-6)
        assert np.all(found.scores[b, count:].numpy() == 0)


def test_class_agnostic_nms_keeps_one_box_per_object_whatever_its_class():
    boxes = np.array([[[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]]], np.float32)
    class_scores = np.array([[[0.9, 0.1], [0.2, 0.8], [0.1, 0.7]]], np.float32)   # boxes 0 and 1: one object, two labels
    per_class = batched_non_max_suppression(boxes, class_scores, 5, iou_threshold=0.5, score_threshold=0.5)
    agnostic = batched_non_max_suppression(boxes, class_scores, 5, iou_threshold=0.5, score_threshold=0.5, class_agnostic=True)
    assert int(per_class.count[0]) == 3 and int(agnostic.count[0]) == 2
    assert agnostic.classes[0, :2].numpy().tolist() == [0, 1]
    np.testing.assert_allclose(agnostic.scores[0, :2], [0.9, 0.7])
    np.testing.assert_array_equal(agnostic.boxes[0, 2:], 0)
