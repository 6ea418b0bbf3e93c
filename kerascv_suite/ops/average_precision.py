"""Detection average precision in NumPy: COCO's AP@[0.5:0.95] with its size ranges, and PASCAL VOC's AP.

Both score ranked detections against ground-truth boxes per image and class: a detection is a
true positive when it overlaps a not-yet-matched ground truth of its class by IoU ≥ a threshold
(the highest-scoring detections choose first), precision and recall are read down the ranking
over all images, and AP summarises the precision–recall curve.

- `coco_average_precision`: exactly the algorithm of pycocotools' `COCOeval` for boxes (the
  reference the tests check against to 1e-6): IoU thresholds 0.50:0.05:0.95, at most
  `max_detections` per image and class, areas small < 32² ≤ medium < 96² ≤ large (a ground truth
  outside the range is ignored, and so is an unmatched detection outside it), precision made
  monotone from the right and read at 101 recall points. Returns AP, AP50, AP75, AP_small,
  AP_medium, AP_large, AR@1/10/100 and the per-class AP.
- `voc_average_precision`: VOC's rule, one IoU threshold (0.5, a match needs IoU > it as in the
  devkit), all-point interpolation (VOC 2010 and later) or 11-point (VOC 2007).

Why not pycocotools itself: it wants COCO JSON dictionaries and prints as it goes; this runs on
arrays, per epoch, in a few milliseconds for the shapes test split, and is checked against it.
Boxes are (x0, y0, x1, y1) in pixels, continuous coordinates (no +1), as COCO's.

Example::

    truths = [(np.array([[10, 10, 50, 40]]), np.array([2]))]                      # per image: boxes, classes
    found = [(np.array([[12, 9, 49, 41]]), np.array([0.9]), np.array([2]))]       # boxes, scores, classes
    coco_average_precision(truths, found, num_classes=3)["AP50"]                  # 1.0
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)         # COCO's, computed as pycocotools does
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
MAX_DETECTIONS = (1, 10, 100)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU [N, M] of boxes a [N, 4] and b [M, 4], (x0, y0, x1, y1); 0 where a union is empty."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = width * height
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_area(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _checked(truths, detections) -> None:
    if len(truths) != len(detections):
        raise ValueError(f"{len(truths)} images of ground truth but {len(detections)} of detections; give one entry per image to both")
    for i, (boxes, classes) in enumerate(truths):
        if np.shape(boxes) not in ((len(classes), 4), (0,)) and np.size(boxes):
            raise ValueError(f"image {i}: ground-truth boxes must be [N, 4] with one class each, got {np.shape(boxes)} and {len(classes)} classes")
    for i, (boxes, scores, classes) in enumerate(detections):
        if np.size(boxes) and (np.shape(boxes) != (len(scores), 4) or len(scores) != len(classes)):
            raise ValueError(f"image {i}: detections must be boxes [N, 4], scores [N] and classes [N], "
                             f"got {np.shape(boxes)}, {np.shape(scores)}, {np.shape(classes)}")


def _match(ious: np.ndarray, ignored: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.evaluateImg's greedy matching at one threshold: (detection matched [D], matched truth ignored [D]).

    Detections (rows, by falling score) take the best-IoU free truth (columns, not-ignored ones
    first); a detection already holding a regular truth does not move to an ignored one.
    """
    matched = np.zeros(ious.shape[0], bool)
    on_ignored = np.zeros(ious.shape[0], bool)
    taken = np.zeros(ious.shape[1], bool)
    for d in range(ious.shape[0]):
        best, m = min(threshold, 1 - 1e-10), -1
        for g in range(ious.shape[1]):
            if taken[g]:
                continue
            if m > -1 and not ignored[m] and ignored[g]:
                break
            if ious[d, g] < best:
                continue
            best, m = ious[d, g], g
        if m > -1:
            matched[d], on_ignored[d], taken[m] = True, ignored[m], True
    return matched, on_ignored


def coco_average_precision(truths: Sequence, detections: Sequence, num_classes: int,
                           max_detections: int = 100) -> dict:
    """COCO box AP of detections against ground truths; see the module docstring.

    Args:
        truths: per image, (boxes [N, 4], classes [N]); no crowd annotations.
        detections: per image, (boxes [D, 4], scores [D], classes [D]).
        num_classes: classes 0 … num_classes − 1; a class with no ground truth anywhere is left out of the means, as in COCO.
        max_detections: the largest of COCO's per-image limits (AR is also reported at 1 and 10).

    Returns:
        {"AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "per_class"}:
        −1 where nothing could be measured (no ground truth of that size), as pycocotools reports.
    """
    _checked(truths, detections)
    limits = tuple(sorted({*(m for m in MAX_DETECTIONS if m < max_detections), max_detections}))
    areas = list(AREA_RANGES.values())
    precision = -np.ones((len(IOU_THRESHOLDS), len(RECALL_POINTS), num_classes, len(areas), len(limits)))
    recall = -np.ones((len(IOU_THRESHOLDS), num_classes, len(areas), len(limits)))
    for c in range(num_classes):
        per_image = []
        for (t_boxes, t_classes), (d_boxes, d_scores, d_classes) in zip(truths, detections):
            t = np.asarray(t_boxes, np.float64).reshape(-1, 4)[np.asarray(t_classes) == c]
            keep = np.asarray(d_classes) == c
            d = np.asarray(d_boxes, np.float64).reshape(-1, 4)[keep]
            scores = np.asarray(d_scores, np.float64)[keep]
            order = np.argsort(-scores, kind="mergesort")[:max_detections]
            if len(t) or len(order):
                per_image.append((t, d[order], scores[order]))
        for a, (low, high) in enumerate(areas):
            images = []
            for t, d, scores in per_image:
                t_area, d_area = box_area(t), box_area(d)
                ignored = (t_area < low) | (t_area > high)
                t_order = np.argsort(ignored, kind="mergesort")
                ious = box_iou(d, t[t_order])
                ignored = ignored[t_order]
                matches = [_match(ious, ignored, threshold) for threshold in IOU_THRESHOLDS]
                matched = np.stack([m for m, _ in matches]).reshape(len(IOU_THRESHOLDS), -1)                # [T, D]
                outside = (d_area < low) | (d_area > high)
                skipped = np.stack([on | (~m & outside) for m, on in matches]).reshape(len(IOU_THRESHOLDS), -1)   # [T, D]
                images.append((scores, matched, skipped, int(np.sum(~ignored))))
            positives = sum(n for *_, n in images)
            if positives == 0:
                continue
            for k, limit in enumerate(limits):
                scores = np.concatenate([s[:limit] for s, *_ in images]) if images else np.zeros(0)
                order = np.argsort(-scores, kind="mergesort")
                matched = np.concatenate([m[:, :limit] for _, m, _, _ in images], axis=1)[:, order]
                skipped = np.concatenate([s[:, :limit] for _, _, s, _ in images], axis=1)[:, order]
                tp = np.cumsum(matched & ~skipped, axis=1, dtype=np.float64)
                fp = np.cumsum(~matched & ~skipped, axis=1, dtype=np.float64)
                for i in range(len(IOU_THRESHOLDS)):
                    rc = tp[i] / positives
                    pr = tp[i] / (fp[i] + tp[i] + np.spacing(1))
                    recall[i, c, a, k] = rc[-1] if len(rc) else 0.0
                    pr = np.maximum.accumulate(pr[::-1])[::-1]          # monotone from the right
                    at = np.searchsorted(rc, RECALL_POINTS, side="left")
                    points = np.zeros(len(RECALL_POINTS))
                    valid = at < len(pr)
                    points[valid] = pr[at[valid]]
                    precision[i, :, c, a, k] = points

    def mean(values):
        values = values[values > -1]
        return float(values.mean()) if values.size else -1.0

    last, names = len(limits) - 1, list(AREA_RANGES)
    result = {
        "AP": mean(precision[:, :, :, 0, last]),
        "AP50": mean(precision[0, :, :, 0, last]),
        "AP75": mean(precision[5, :, :, 0, last]),
        **{f"AP_{name}": mean(precision[:, :, :, names.index(name), last]) for name in ("small", "medium", "large")},
        **{f"AR{limit}": mean(recall[:, :, 0, k]) for k, limit in enumerate(limits)},
        "per_class": [mean(precision[:, :, c, 0, last]) for c in range(num_classes)],
    }
    return result


def voc_ap(recall: np.ndarray, precision: np.ndarray, eleven_point: bool = False) -> float:
    """The VOC devkit's AP of one class's precision–recall points (ranked order): all-point or 11-point interpolation."""
    recall, precision = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    if eleven_point:
        return float(np.mean([precision[recall >= t].max() if np.any(recall >= t) else 0.0 for t in np.linspace(0, 1, 11)]))
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def voc_average_precision(truths: Sequence, detections: Sequence, num_classes: int, iou_threshold: float = 0.5,
                          eleven_point: bool = False) -> dict:
    """PASCAL VOC AP per class and its mean (mAP): detections ranked over all images, greedy matching at IoU > threshold.

    Each detection, by falling score, matches the ground truth of its image and class it overlaps
    most; it is a true positive if that IoU exceeds the threshold and the truth is still free,
    otherwise a false positive (a duplicate). No "difficult" flags: every truth counts.

    Returns {"mAP": mean over classes with ground truth, "per_class": [AP or −1 per class]}.
    """
    _checked(truths, detections)
    per_class = []
    for c in range(num_classes):
        entries, positives = [], 0
        for image, ((t_boxes, t_classes), (d_boxes, d_scores, d_classes)) in enumerate(zip(truths, detections)):
            positives += int(np.sum(np.asarray(t_classes) == c))
            keep = np.asarray(d_classes) == c
            entries += [(s, image, b) for s, b in zip(np.asarray(d_scores)[keep], np.asarray(d_boxes).reshape(-1, 4)[keep])]
        if positives == 0:
            per_class.append(-1.0)
            continue
        order = np.argsort(-np.array([s for s, _, _ in entries]), kind="stable")
        taken = {i: np.zeros(int(np.sum(np.asarray(t[1]) == c)), bool) for i, t in enumerate(truths)}
        tp = np.zeros(len(entries))
        for rank, e in enumerate(order):
            _, image, box = entries[e]
            t_boxes, t_classes = truths[image]
            mine = np.asarray(t_boxes, np.float64).reshape(-1, 4)[np.asarray(t_classes) == c]
            if len(mine):
                ious = box_iou(box[None], mine)[0]
                best = int(np.argmax(ious))
                if ious[best] > iou_threshold and not taken[image][best]:
                    taken[image][best], tp[rank] = True, 1.0
        tp_sum, fp_sum = np.cumsum(tp), np.cumsum(1.0 - tp)
        per_class.append(voc_ap(tp_sum / positives, tp_sum / np.maximum(tp_sum + fp_sum, np.finfo(np.float64).eps), eleven_point))
    measured = [ap for ap in per_class if ap > -1]
    return {"mAP": float(np.mean(measured)) if measured else -1.0, "per_class": per_class}


__all__ = ["box_iou", "box_area", "coco_average_precision", "voc_ap", "voc_average_precision", "IOU_THRESHOLDS", "AREA_RANGES"]
