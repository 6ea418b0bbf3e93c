"""Classification + localisation: what the single object in an image is, and where (CS231n lecture 11).

The task reads the example's largest object (by box area; on single-object scenes, the
object) and trains a model with two named outputs — ``class`` (logits) and ``box`` (x0, y0, x1,
y1 as fractions of the image, e.g. the `localizer` model) — on the multi-task loss

    L = cross_entropy(class) + box_weight · box_loss(box),

the box loss being L1 (default) or Huber on the corner fractions. An example whose object was
pushed out of the image by augmentation carries weight 0. It logs ``class_accuracy`` and
``box_iou``, the mean IoU of the predicted with the true box (`BoxIoU`, through
`keras.utils.bounding_boxes.compute_iou`). The report gives the test accuracy and mean IoU,
and draws the predicted (red) and true (green) boxes on the test images with the lowest IoU
(worst.png). The serving signatures take uint8 images of any size and return ``boxes``
(xyxy pixels of the request's image), ``class_ids``, ``class_names``, ``scores`` and
``probabilities``; a TFLite file keeps ``probabilities`` and ``boxes``.

Example (YAML)::

    task: {name: localization, box_weight: 5.0}
    data: {source: {name: shapes, max_objects: 1}}
    model: {name: localizer, backbone: {name: cifar_resnet, depth: 8}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import keras
import numpy as np
from keras import ops
from pydantic import PositiveFloat, PositiveInt

from kerascv_suite.data.examples import BOXES, CLASSES, IMAGES
from kerascv_suite.registry import TASKS
from kerascv_suite.tasks.base import Task
from kerascv_suite.tasks.losses import cross_entropy
from kerascv_suite.tasks.metrics import accuracy
from kerascv_suite.viz.plots import annotated_grid


def paired_iou(true_boxes, predicted_boxes):
    """IoU of each true box with the predicted box at the same index, [B, 4] xyxy → [B] (Keras's `compute_iou`, diagonal)."""
    return ops.diagonal(keras.utils.bounding_boxes.compute_iou(true_boxes, predicted_boxes, bounding_box_format="xyxy"))


@keras.saving.register_keras_serializable(package="kerascv_suite")
class BoxIoU(keras.metrics.MeanMetricWrapper):
    """Mean IoU of predicted and true boxes, one box per example, [B, 4] xyxy (any common unit)."""

    def __init__(self, name: str = "iou", dtype=None):
        super().__init__(paired_iou, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def largest_object(boxes, classes):
    """The box [.., 4] and class [..] of each example's largest real object (padding rows have class −1)."""
    areas = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    areas = ops.where(classes >= 0, areas, -1.0)
    index = ops.argmax(areas, axis=-1)
    box = ops.take_along_axis(boxes, index[..., None, None], axis=-2)[..., 0, :]
    label = ops.take_along_axis(classes, index[..., None], axis=-1)[..., 0]
    return box, label


@TASKS.register("localization")
class Localization(Task):
    """Classification + localisation of one object per image: class head + box head, weighted multi-task loss, IoU.

    Args:
        box_weight: weight of the box loss against the cross-entropy in the multi-task loss.
        box_loss: "l1" (mean absolute error of the corner fractions) or "huber" (δ = 0.1 of the image).
        worst: how many of the lowest-IoU test images worst.png shows.
    """

    requires = frozenset({IMAGES, BOXES, CLASSES})
    tflite_outputs = ("probabilities", "boxes")
    # Boxes in pixels: float rounding in a served graph moves them by far less than 1e-3 of a pixel.
    serving_tolerances = {"probabilities": 1e-5, "scores": 1e-5, "class_ids": 0.0, "class_names": 0.0, "boxes": 1e-3}

    def __init__(self, box_weight: PositiveFloat = 1.0, box_loss: Literal["l1", "huber"] = "l1", worst: PositiveInt = 16):
        self.box_weight, self.box_loss, self.worst = box_weight, box_loss, worst

    def targets(self, batch: dict):
        images = batch[IMAGES]
        height, width = images.shape[-3], images.shape[-2]
        box, label = largest_object(batch[BOXES], batch[CLASSES])
        scale = ops.convert_to_tensor([width, height, width, height], "float32")
        valid = ops.cast(label >= 0, "float32")
        return images, {"class": ops.maximum(label, 0), "box": box / scale}, valid

    def loss(self) -> dict:
        box = keras.losses.MeanAbsoluteError() if self.box_loss == "l1" else keras.losses.Huber(delta=0.1)
        return {"class": cross_entropy(), "box": box}

    def loss_weights(self) -> dict:
        return {"class": 1.0, "box": self.box_weight}

    def metrics(self) -> dict:
        return {"class": [accuracy()], "box": [BoxIoU()]}

    def serving_outputs(self, outputs, class_names: list[str], image_size) -> dict:
        import tensorflow as tf

        probabilities = tf.nn.softmax(tf.cast(outputs["class"], tf.float32), axis=-1)
        class_ids = tf.argmax(probabilities, axis=-1)
        height, width = tf.cast(image_size[0], tf.float32), tf.cast(image_size[1], tf.float32)
        return {
            "boxes": tf.cast(outputs["box"], tf.float32) * tf.stack([width, height, width, height]),
            "class_ids": class_ids,
            "class_names": tf.gather(tf.constant(class_names), class_ids),
            "scores": tf.reduce_max(probabilities, axis=-1),
            "probabilities": probabilities,
        }

    def report(self, model: keras.Model, examples: dict, class_names: list[str], run_dir: Path) -> dict:
        """worst.png (lowest-IoU test images, true box green, predicted red); test accuracy and mean IoU for metrics.json."""
        images = examples[IMAGES]
        height, width = images.shape[1:3]
        true_box, label = (np.asarray(v) for v in largest_object(examples[BOXES], examples[CLASSES]))
        predicted = model.predict(images, batch_size=256, verbose=0)
        scale = np.array([width, height, width, height], np.float32)
        predicted_box = predicted["box"] * scale
        predicted_class = predicted["class"].argmax(axis=1)
        iou = np.asarray(paired_iou(true_box, predicted_box))
        worst = np.argsort(iou, kind="stable")[: self.worst]
        annotated_grid(
            images[worst], [f"true {class_names[label[i]]} / pred {class_names[predicted_class[i]]}\nIoU {iou[i]:.2f}" for i in worst],
            Path(run_dir) / "worst.png", boxes=true_box[worst, None], predicted_boxes=predicted_box[worst, None],
        )
        return {"localization": {
            "accuracy": float(np.mean(predicted_class == label)),
            "mean_iou": float(iou.mean()),
            "iou_at_least_0.5": float(np.mean(iou >= 0.5)),
            "examples": int(len(images)),
        }}


__all__ = ["Localization", "BoxIoU", "paired_iou", "largest_object"]
