"""Semantic segmentation: a class for every pixel (CS231n lecture 11; Long et al., 2015).

The task trains a model whose output is per-pixel class scores [B, H, W, K] (K = the source's
classes + background, e.g. the `fcn` model) on the example's `semantic_mask` (0 background,
c + 1 for class c) with per-pixel softmax cross-entropy. It logs ``pixel_accuracy`` and
``mean_iou`` (`keras.metrics.MeanIoU` over the K classes, background included). The report
draws predicted class maps beside the true ones over test images (masks.png), the confusion
matrix of pixels (confusion_matrix.png), and gives per-class IoU in metrics.json.

The serving signatures take uint8 images of any size and return ``class_map``, uint8 [N, H, W]
at the request's size (the scores are resized back bilinearly before the arg-max), and
``probabilities`` [N, H, W, K]; a TFLite file keeps both.

Example (YAML)::

    task: segmentation
    data: {source: {name: shapes}}
    model: {name: fcn, backbone: {name: cifar_resnet, depth: 8}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import keras
import numpy as np
from pydantic import PositiveInt

from kerascv_suite.data.examples import IMAGES, SEMANTIC_MASK
from kerascv_suite.registry import TASKS
from kerascv_suite.tasks.base import Task
from kerascv_suite.viz.plots import annotated_grid, plot_confusion_matrix


def per_class_iou(confusion: np.ndarray) -> np.ndarray:
    """IoU of each class from a pixel confusion matrix (rows true, columns predicted): TP / (TP + FP + FN); NaN if absent."""
    true_positive = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positive / union, np.nan)


@TASKS.register("segmentation")
class Segmentation(Task):
    """Semantic segmentation: per-pixel cross-entropy, pixel accuracy and mean IoU, predicted masks and per-class IoU.

    Args:
        shown: how many test images masks.png shows (each beside its true mask).
    """

    requires = frozenset({IMAGES, SEMANTIC_MASK})
    tflite_outputs = ("probabilities", "class_map")
    # An arg-max may flip where two classes tie to float precision; a pixel then differs by its class ids' gap.
    serving_tolerances = {"probabilities": 1e-5, "class_map": 0.0}

    def __init__(self, num_classes: Optional[int] = None, shown: PositiveInt = 8):
        self.num_classes, self.shown = num_classes, shown

    @property
    def classes(self) -> int:
        """K: the source's object classes and background."""
        if self.num_classes is None:
            raise ValueError("segmentation: the task needs the data's class count (built by compile_model)")
        return self.num_classes + 1

    def targets(self, batch: dict):
        import tensorflow as tf

        return batch[IMAGES], tf.cast(batch[SEMANTIC_MASK], tf.int32)

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="pixel_cross_entropy")

    def metrics(self) -> list:
        return [keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
                keras.metrics.MeanIoU(self.classes, sparse_y_pred=False, name="mean_iou")]

    def serving_outputs(self, outputs, class_names: list[str], image_size) -> dict:
        import tensorflow as tf

        scores = tf.image.resize(tf.cast(outputs, tf.float32), image_size)
        probabilities = tf.nn.softmax(scores, axis=-1)
        return {"class_map": tf.cast(tf.argmax(scores, axis=-1), tf.uint8), "probabilities": probabilities}

    def report(self, model: keras.Model, examples: dict, class_names: list[str], run_dir: Path) -> dict:
        """masks.png (true and predicted class maps), confusion_matrix.png (pixels), per-class IoU for metrics.json."""
        images, truth = examples[IMAGES], examples[SEMANTIC_MASK].astype(np.int64)
        predicted = model.predict(images, batch_size=64, verbose=0).argmax(axis=-1)
        names = ["background", *class_names]
        confusion = np.bincount(truth.ravel() * len(names) + predicted.ravel(), minlength=len(names) ** 2).reshape(len(names), -1)
        iou = per_class_iou(confusion)
        run_dir = Path(run_dir)
        plot_confusion_matrix(confusion, names, run_dir / "confusion_matrix.png",
                              title=f"pixels; mean IoU {np.nanmean(iou):.4f}")
        shown = np.arange(min(self.shown, len(images)))
        triples = np.repeat(shown, 3)   # each test image, its true class map, the predicted one
        maps = [None if k % 3 == 0 else (truth[i] if k % 3 == 1 else predicted[i]) for k, i in enumerate(triples)]
        titles = [("test image", "true", f"predicted (IoU {_image_iou(truth[i], predicted[i]):.2f})")[k % 3]
                  for k, i in enumerate(triples)]
        annotated_grid(images[triples], titles, run_dir / "masks.png", masks=maps, mask_classes=len(names), columns=9,
                       mask_alpha=1.0)
        return {"segmentation": {
            "pixel_accuracy": float(np.trace(confusion) / confusion.sum()),
            "mean_iou": float(np.nanmean(iou)),
            "per_class_iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(names, iou)},
            "examples": int(len(images)),
        }}


def _image_iou(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean IoU over the classes present in one image's true or predicted map."""
    classes = np.union1d(np.unique(truth), np.unique(predicted))
    return float(np.mean([np.sum((truth == c) & (predicted == c)) / np.sum((truth == c) | (predicted == c)) for c in classes]))


__all__ = ["Segmentation", "per_class_iou"]
