"""Detection AP against its references: pycocotools' COCOeval itself, and a loop transcription of the VOC devkit."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from kerascv_suite.ops.average_precision import box_iou, coco_average_precision, voc_ap, voc_average_precision

CLASSES = 4


def random_problem(seed: int, images: int = 40, size: float = 320.0, clutter: int = 6):
    """Ground truths of every size range and detections: jittered truths (some lost, some duplicated) plus clutter."""
    rng = np.random.default_rng(seed)
    truths, detections = [], []
    for _ in range(images):
        n = int(rng.integers(0, 7))
        side = rng.choice([rng.uniform(8, 31), rng.uniform(33, 95), rng.uniform(97, 200)], size=n) if n else np.zeros(0)
        x0, y0 = rng.uniform(0, size - side), rng.uniform(0, size - side)
        boxes = np.stack([x0, y0, x0 + side * rng.uniform(0.6, 1.4, n), y0 + side], -1) if n else np.zeros((0, 4))
        classes = rng.integers(0, CLASSES, n)
        found = rng.random(n) < 0.8
        jitter = rng.normal(0, 0.08, (n, 4)) * (boxes[:, 2:] - boxes[:, :2]).repeat(2, axis=1) if n else np.zeros((0, 4))
        d_boxes, d_classes = boxes[found] + jitter[found], np.where(rng.random(n) < 0.9, classes, rng.integers(0, CLASSES, n))[found]
        duplicates = rng.random(len(d_boxes)) < 0.2
        extras = int(rng.integers(0, clutter))
        corner = rng.uniform(0, size - 60, (extras, 2))
        extra = np.concatenate([corner, corner + rng.uniform(5, 60, (extras, 2))], -1)
        d_boxes = np.concatenate([d_boxes, d_boxes[duplicates] + 3.0, extra])
        d_classes = np.concatenate([d_classes, d_classes[duplicates], rng.integers(0, CLASSES, extras)])
        scores = np.round(rng.random(len(d_boxes)), 2)                  # rounded: ties, which both must break alike
        truths.append((boxes, classes))
        detections.append((d_boxes, scores, d_classes))
    return truths, detections


def pycocotools_stats(truths, detections) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    annotations = [{"id": len(annotations_so_far) + 1, "image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b),
                    "area": float((b[2] - b[0]) * (b[3] - b[1])), "iscrowd": 0}
                   for annotations_so_far in [[]] for i, (boxes, classes) in enumerate(truths) for b, c in zip(boxes, classes)
                   if not annotations_so_far.append(0)]
    dataset = {"images": [{"id": i + 1, "width": 320, "height": 320} for i in range(len(truths))], "annotations": annotations,
               "categories": [{"id": c + 1, "name": str(c)} for c in range(CLASSES)]}
    results = [{"image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b), "score": float(s)}
               for i, (boxes, scores, classes) in enumerate(detections) for b, s, c in zip(boxes, scores, classes)]
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = dataset
        ground.createIndex()
        evaluation = COCOeval(ground, ground.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


@pytest.mark.parametrize("seed, clutter", [(0, 6), (1, 6), (2, 6), (5, 400)])   # 400: beyond the 100 kept per image and class
def test_coco_ap_equals_pycocotools(seed, clutter):
    truths, detections = random_problem(seed, images=40 if clutter < 100 else 8, clutter=clutter)
    ours = coco_average_precision(truths, detections, CLASSES)
    stats = pycocotools_stats(truths, detections)
    keys = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100"]
    reference = dict(zip(keys, stats[[0, 1, 2, 3, 4, 5, 6, 7, 8]]))
    for key in keys:
        assert ours[key] == pytest.approx(reference[key], abs=1e-6), key
    assert 0.0 < ours["AP"] < 0.95                 # a problem where matching decides the number, not a trivial 0 or 1


def test_coco_ap_of_perfect_detections_is_one_and_of_none_is_zero():
    truths, _ = random_problem(3, images=10)
    perfect = [(boxes, np.linspace(1, 0.5, len(boxes)), classes) for boxes, classes in truths]
    assert coco_average_precision(truths, perfect, CLASSES)["AP"] == pytest.approx(1.0)
    empty = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)) for _ in truths]
    assert coco_average_precision(truths, empty, CLASSES)["AP"] == 0.0


def devkit_voc_ap(rec, prec, use_07_metric):
    """voc_eval.py's voc_ap, transcribed with its loops."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def devkit_voc_eval(truths, detections, c, use_07_metric):
    """voc_eval.py's per-class loop (no difficult flags; continuous IoU, no +1)."""
    records = {i: {"bbox": t[0][t[1] == c], "det": [False] * int(np.sum(t[1] == c))} for i, t in enumerate(truths)}
    npos = sum(len(r["det"]) for r in records.values())
    ids, confidence, boxes = [], [], []
    for i, (b, s, k) in enumerate(detections):
        for box, score in zip(b[k == c], s[k == c]):
            ids.append(i), confidence.append(score), boxes.append(box)
    order = np.argsort(-np.array(confidence), kind="stable")
    tp, fp = np.zeros(len(ids)), np.zeros(len(ids))
    for d, index in enumerate(order):
        record, bb = records[ids[index]], boxes[index]
        ovmax, jmax = -np.inf, -1
        if len(record["bbox"]):
            gt = record["bbox"]
            iw = np.maximum(np.minimum(gt[:, 2], bb[2]) - np.maximum(gt[:, 0], bb[0]), 0.0)
            ih = np.maximum(np.minimum(gt[:, 3], bb[3]) - np.maximum(gt[:, 1], bb[1]), 0.0)
            inters = iw * ih
            uni = (bb[2] - bb[0]) * (bb[3] - bb[1]) + (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]) - inters
            overlaps = inters / uni
            ovmax, jmax = np.max(overlaps), np.argmax(overlaps)
        if ovmax > 0.5 and not record["det"][jmax]:
            tp[d], record["det"][jmax] = 1.0, True
        else:
            fp[d] = 1.0
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    return devkit_voc_ap(tp / float(npos), tp / np.maximum(tp + fp, np.finfo(np.float64).eps), use_07_metric)


@pytest.mark.parametrize("eleven_point", [False, True])
def test_voc_ap_equals_the_devkit_algorithm(eleven_point):
    truths, detections = random_problem(4)
    ours = voc_average_precision(truths, detections, CLASSES, eleven_point=eleven_point)
    reference = [devkit_voc_eval(truths, detections, c, eleven_point) for c in range(CLASSES)]
    np.testing.assert_allclose(ours["per_class"], reference, rtol=1e-12)
    assert ours["mAP"] == pytest.approx(np.mean(reference))


def test_voc_ap_of_a_hand_computed_ranking():
    # ranked TP, FP, TP with 2 positives: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert voc_ap(recall, precision) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert voc_ap(recall, precision, eleven_point=True) == pytest.approx((6 * 1.0 + 5 * 2 / 3) / 11)


def test_box_iou_and_bad_input():
    assert box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 2, 2]]).tolist() == [[1 / 7, 0.0, 1.0]]
    with pytest.raises(ValueError, match="2 images of ground truth but 1 of detections"):
        coco_average_precision([(np.zeros((0, 4)), np.zeros(0))] * 2, [(np.zeros((0, 4)), np.zeros(0), np.zeros(0))], 2)
