"""Anchor boxes and the matching that turns ground-truth boxes into per-anchor training targets.

Anchor-based detectors (Faster R-CNN's RPN, SSD, RetinaNet, YOLOv2+) predict, for every anchor —
a fixed box of some size and aspect ratio centred on a feature-map cell — a class and a small
correction (deltas) to the anchor. Training needs, per anchor, which ground truth (if any) it
is responsible for:

- `anchor_grid`: the anchors of every level of a feature pyramid, (x0, y0, x1, y1) in image
  pixels, level by level, then row by row, column by column, and the (size, ratio) pairs of a
  cell innermost — the order a head's reshaped outputs have. An anchor of area size² and ratio
  r = h/w has w = size/√r, h = size·√r (Detectron's convention); `scales` multiply the sizes
  (RetinaNet's 2^0, 2^(1/3), 2^(2/3)).
- `match_anchors`: IoU-threshold matching with an ignore band: IoU ≥ `positive` → positive of
  its best ground truth; < `negative` → background; in between → ignored (no loss); and the
  best-anchor rule (`allow_low_quality`): each ground truth's highest-IoU anchors become
  positive for it even below `positive`, so no object goes without an anchor (Faster R-CNN).

Box deltas themselves are Keras's: `keras.utils.bounding_boxes.encode_box_to_deltas` /
`decode_deltas_to_boxes`, and so is the IoU (`compute_iou`). Both functions here are TensorFlow ops on static shapes, usable
inside `tf.data` maps and graphs.

Example::

    anchors = anchor_grid((128, 128), strides=(8, 16), sizes=(32, 64), ratios=(0.5, 1.0, 2.0))   # [(16²+8²)·3, 4]
    matched = match_anchors(anchors, boxes, positive=0.5, negative=0.4)                          # [A]: index, −1 or −2
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from keras.utils import bounding_boxes

BACKGROUND, IGNORED = -1, -2


def anchor_grid(image_size: tuple[int, int], strides: tuple[int, ...], sizes: tuple[float, ...],
                ratios: tuple[float, ...] = (0.5, 1.0, 2.0), scales: tuple[float, ...] = (1.0,)) -> tf.Tensor:
    """Anchors [A, 4] (x0, y0, x1, y1) of a pyramid: level i has stride strides[i] and base size sizes[i].

    Cell (r, c) of a level is centred at ((c + 0.5)·stride, (r + 0.5)·stride); each cell holds
    len(scales)·len(ratios) anchors, scales outer, ratios inner. A level has
    ⌈H/stride⌉ × ⌈W/stride⌉ cells, the output size of a stride-s "same" convolution.
    """
    if len(strides) != len(sizes):
        raise ValueError(f"one anchor size per level: {len(strides)} strides but {len(sizes)} sizes")
    if not ratios or not scales or min(ratios) <= 0 or min(scales) <= 0:
        raise ValueError(f"ratios and scales must be positive and non-empty, got {ratios}, {scales}")
    height, width = image_size
    levels = []
    for stride, size in zip(strides, sizes):
        shapes = np.array([(size * s / math.sqrt(r), size * s * math.sqrt(r)) for s in scales for r in ratios])  # (w, h)
        ys = (np.arange(math.ceil(height / stride)) + 0.5) * stride
        xs = (np.arange(math.ceil(width / stride)) + 0.5) * stride
        cy, cx = np.meshgrid(ys, xs, indexing="ij")
        centres = np.stack([cx, cy], -1).reshape(-1, 1, 2)
        half = shapes[None] / 2.0
        levels.append(np.concatenate([centres - half, centres + half], -1).reshape(-1, 4))
    return tf.constant(np.concatenate(levels), tf.float32)


def match_anchors(anchors, boxes, positive: float = 0.5, negative: float = 0.4, allow_low_quality: bool = True,
                  valid=None) -> tf.Tensor:
    """Per anchor [A] (int32): the index of its ground truth in `boxes` [G, 4], BACKGROUND (−1) or IGNORED (−2).

    Args:
        positive, negative: IoU ≥ positive matches; IoU < negative is background; between is ignored
            (negative = positive: no ignore band).
        allow_low_quality: each ground truth also takes the anchors of its highest IoU (ties
            included), even below `positive` — as long as that IoU is > 0.
        valid: [G] bool, which rows of `boxes` are real (padding rows of a fixed-size box tensor are not).
    """
    if negative > positive:
        raise ValueError(f"negative ({negative}) must not exceed positive ({positive}): between them is the ignore band")
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    ious = tf.cast(bounding_boxes.compute_iou(tf.cast(anchors, tf.float32), boxes, "xyxy"), tf.float32)   # [A, G]
    if valid is not None:
        ious = tf.where(tf.convert_to_tensor(valid)[None, :], ious, -1.0)
    if boxes.shape[0] == 0:
        return tf.fill([tf.shape(ious)[0]], BACKGROUND)
    best = tf.reduce_max(ious, axis=1)
    matched = tf.argmax(ious, axis=1, output_type=tf.int32)
    result = tf.where(best >= positive, matched, tf.where(best < negative, BACKGROUND, IGNORED))
    if allow_low_quality:
        per_box = tf.reduce_max(ious, axis=0)                                   # [G]
        is_best = (ious == per_box[None, :]) & (per_box[None, :] > 0)          # [A, G]
        takes = tf.reduce_any(is_best, axis=1)
        # an anchor best for several boxes goes to the one it overlaps most, as the argmax above
        result = tf.where(takes, tf.argmax(tf.where(is_best, ious, -1.0), axis=1, output_type=tf.int32), result)
    return result


__all__ = ["anchor_grid", "match_anchors", "BACKGROUND", "IGNORED"]
