"""Non-maximum suppression inside the graph: per image, per class, class-agnostic, batched, and soft (Gaussian).

A detector proposes many overlapping boxes per object; NMS keeps the best-scoring one and drops
(or, soft-NMS, down-weights) the others that overlap it by more than an IoU threshold. These
functions wrap TensorFlow's own kernels — `tf.image.non_max_suppression_with_scores` (greedy and
soft-NMS, Bodla et al. 2017: score·exp(−IoU²/(2σ)) per kept box) and
`tf.image.combined_non_max_suppression` (per class, batched, padded) — so a SavedModel carries
NMS in its graph, and give them one box convention: (x0, y0, x1, y1), the library's (TF's
kernels are symmetric in the two axes, so their (y0, x0, y1, x1) order changes nothing).

Outputs are padded to `max_detections` with a count of the valid ones, the TF Object Detection
API's convention (`detection_boxes`, `detection_scores`, `detection_classes`, `num_detections`),
so shapes stay static for XLA and serving.

Example::

    kept, scores = non_max_suppression(boxes, scores, max_detections=100, iou_threshold=0.5)
    found = batched_non_max_suppression(boxes [B, N, 4], class_scores [B, N, C], max_detections=100)
    found.boxes, found.scores, found.classes, found.count
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf


class Detections(NamedTuple):
    """Padded detections of a batch: boxes [B, K, 4], scores [B, K], classes [B, K] (int32), count [B] (int32)."""

    boxes: tf.Tensor
    scores: tf.Tensor
    classes: tf.Tensor
    count: tf.Tensor


def non_max_suppression(boxes, scores, max_detections: int, iou_threshold: float = 0.5, score_threshold: float = float("-inf"),
                        soft_sigma: float = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
    """Greedy NMS (or soft-NMS when `soft_sigma` > 0) of one image's boxes [N, 4]: (kept indices [K], their scores [K]).

    Kept boxes come in falling (re-scored) order; K ≤ max_detections. With soft-NMS every box
    overlapping a kept one has its score multiplied by exp(−IoU²/(2·soft_sigma)) instead of being
    dropped, and boxes still fall away once below `score_threshold` (or above `iou_threshold`).
    """
    indices, kept_scores = tf.image.non_max_suppression_with_scores(
        boxes, scores, max_detections, iou_threshold=iou_threshold, score_threshold=score_threshold, soft_nms_sigma=soft_sigma)
    return indices, kept_scores


def batched_non_max_suppression(boxes, class_scores, max_detections: int, max_per_class: int | None = None,
                                iou_threshold: float = 0.5, score_threshold: float = 0.0,
                                class_agnostic: bool = False) -> Detections:
    """Per-class NMS over a batch: boxes [B, N, 4] shared by the classes (or [B, N, C, 4]), class_scores [B, N, C].

    Each class is suppressed on its own (a cat box never removes a dog box), then the best
    `max_detections` of all classes are kept per image (`tf.image.combined_non_max_suppression`).
    `class_agnostic`: each box keeps only its best class and NMS runs once across classes — one
    box per object whatever its label (YOLO's and DETR's evaluation style).
    """
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    class_scores = tf.convert_to_tensor(class_scores, tf.float32)
    if class_agnostic:
        best = tf.reduce_max(class_scores, axis=-1)
        labels = tf.argmax(class_scores, axis=-1, output_type=tf.int32)
        boxes = boxes if boxes.shape.rank == 3 else tf.gather(boxes, labels, axis=2, batch_dims=2)

        def one(args):
            image_boxes, image_scores, image_labels = args
            kept, scores = non_max_suppression(image_boxes, image_scores, max_detections, iou_threshold, score_threshold)
            count = tf.shape(kept)[0]
            pad = [[0, max_detections - count]]
            return (tf.pad(tf.gather(image_boxes, kept), pad + [[0, 0]]), tf.pad(scores, pad),
                    tf.pad(tf.gather(image_labels, kept), pad), count)

        found = tf.map_fn(one, (boxes, best, labels), fn_output_signature=(
            tf.TensorSpec([max_detections, 4], tf.float32), tf.TensorSpec([max_detections], tf.float32),
            tf.TensorSpec([max_detections], tf.int32), tf.TensorSpec([], tf.int32)))
        return Detections(*found)
    per_box = boxes[:, :, None, :] if boxes.shape.rank == 3 else boxes
    found = tf.image.combined_non_max_suppression(
        per_box, class_scores, max_output_size_per_class=max_per_class or max_detections, max_total_size=max_detections,
        iou_threshold=iou_threshold, score_threshold=score_threshold, clip_boxes=False)
    return Detections(found.nmsed_boxes, found.nmsed_scores, tf.cast(found.nmsed_classes, tf.int32), found.valid_detections)


__all__ = ["Detections", "non_max_suppression", "batched_non_max_suppression"]
