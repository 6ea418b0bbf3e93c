"""Image classification: integer labels in, class scores (logits) out.

The task supplies the default loss (softmax cross-entropy), the accuracy metric, and the
test-split report: per-class precision and recall, a confusion matrix, and the test images
the model gets most wrong (highest loss) with their true and predicted labels. With
`test_crops` the report also scores the test split by multi-crop evaluation
(`multi_crop_probabilities`, AlexNet's 10-crop test), beside the single-crop accuracy.

Example::

    task = Classification(test_crops=10, test_crop_padding=4)
    model.compile(optimizer="adam", loss=task.loss(), metrics=task.metrics())
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import keras
import numpy as np
from pydantic import NonNegativeInt, PositiveInt

from kerascv_suite.data.examples import IMAGES, LABELS
from kerascv_suite.ops.softmax import stable_log_softmax, stable_softmax
from kerascv_suite.registry import TASKS
from kerascv_suite.spec.errors import UserError
from kerascv_suite.tasks.base import Task
from kerascv_suite.tasks.losses import cross_entropy
from kerascv_suite.tasks.metrics import accuracy
from kerascv_suite.viz.plots import image_grid, plot_confusion_matrix


def multi_crop_probabilities(model: keras.Model, images: np.ndarray, crops: Literal[5, 10],
                             size: Optional[tuple[int, int]] = None, padding: int = 0, batch_size: int = 256) -> np.ndarray:
    """Class probabilities averaged over 5 or 10 crops of each image (Krizhevsky et al., 2012's test-time crops).

    The images are zero-padded by `padding` on every side; then `size` = (height, width) crops
    are cut at the four corners and the centre (offset ((H − h) // 2, (W − w) // 2)), each
    resized (bilinear) to the images' own size, which the model takes, when it differs; with
    10, their horizontal mirror images too. The model's softmax probabilities are averaged over
    the crops. Padding by the training crop's padding and cutting crops of the image size is the
    CIFAR test for a `random_crop`-trained model; crops smaller than the image, resized, suit a
    `random_resized_crop`-trained one.

    Args:
        model: takes [N, H, W, C] images, returns [N, classes] logits.
        images: [N, H, W, C] model inputs (preprocessed).
        crops: 5 (corners and centre) or 10 (and their mirror images).
        size: the crops' (height, width); None: the images' size.
        padding: zeros added on every side before cropping.
        batch_size: of the model's predictions.

    Returns:
        [N, classes] float64 probabilities.

    Example::

        probabilities = multi_crop_probabilities(model, test_images, crops=10, padding=4)   # 32 × 32 crops of 40 × 40
    """
    height, width = images.shape[1:3]
    padded = np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
    crop_h, crop_w = size or (height, width)
    if crop_h > padded.shape[1] or crop_w > padded.shape[2]:
        raise UserError(f"task.test_crop_size: [{crop_h}, {crop_w}] is larger than the {padded.shape[1]}×{padded.shape[2]} "
                        f"test images (padded by {padding}); give a smaller size or more test_crop_padding")
    spare_h, spare_w = padded.shape[1] - crop_h, padded.shape[2] - crop_w
    total = 0.0
    for top, left in ((0, 0), (0, spare_w), (spare_h, 0), (spare_h, spare_w), (spare_h // 2, spare_w // 2)):
        crop = padded[:, top:top + crop_h, left:left + crop_w]
        if (crop_h, crop_w) != (height, width):
            crop = np.asarray(keras.ops.image.resize(crop, (height, width), interpolation="bilinear"))
        for view in [crop, crop[:, :, ::-1]] if crops == 10 else [crop]:
            total = total + stable_softmax(model.predict(view, batch_size=batch_size, verbose=0), axis=1)
    return total / crops


@TASKS.register("classification")
class Classification(Task):
    """Image classification: cross-entropy by default, accuracy, per-class report, confusion matrix, worst images.

    Args:
        worst: how many of the highest-loss test images worst.png shows.
        test_crops: also score the test split by averaging the probabilities of 5 crops (corners
            and centre) or 10 (and their mirror images) of each image (`multi_crop_probabilities`),
            reported in metrics.json under `test_crops` beside the single-crop accuracy; None: not.
        test_crop_size: the crops' [height, width], resized to the model's input size when they
            differ; None: the model's input size.
        test_crop_padding: zeros added on every side of the test images before cropping (4 for a
            model trained with `random_crop`'s padding 4).
    """

    requires = frozenset({IMAGES, LABELS})
    tflite_outputs = ("probabilities",)
    serving_tolerances = {"probabilities": 1e-5, "class_ids": 0.0, "class_names": 0.0}

    def __init__(self, worst: PositiveInt = 16, test_crops: Optional[Literal[5, 10]] = None,
                 test_crop_size: Optional[tuple[PositiveInt, PositiveInt]] = None, test_crop_padding: NonNegativeInt = 0):
        if test_crops is None and (test_crop_size is not None or test_crop_padding):
            raise UserError("task: test_crop_size and test_crop_padding shape the test crops; set test_crops: 5 or 10 to use them")
        if test_crops is not None and test_crop_size is None and not test_crop_padding:
            raise UserError("task: test_crops without test_crop_size or test_crop_padding would cut every crop as the whole "
                            "image; give a crop size smaller than the images, or a padding")
        self.worst = worst
        self.test_crops, self.test_crop_size, self.test_crop_padding = test_crops, test_crop_size, test_crop_padding

    def loss(self) -> keras.losses.Loss:
        return cross_entropy()

    def metrics(self) -> list:
        return [accuracy()]

    def serving_outputs(self, outputs, class_names: list[str], image_size=None) -> dict:
        """What a served classifier returns: `probabilities`, `class_ids` (int64), `class_names` (strings)."""
        import tensorflow as tf

        class_ids = tf.argmax(outputs, axis=-1)
        return {
            "probabilities": tf.nn.softmax(tf.cast(outputs, tf.float32), axis=-1),
            "class_ids": class_ids,
            "class_names": tf.gather(tf.constant(class_names), class_ids),
        }

    def report(self, model: keras.Model, examples: dict, class_names: list[str], run_dir: Path) -> dict:
        """Write confusion_matrix.png and worst.png; return per-class precision/recall for metrics.json."""
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        images, labels = examples[IMAGES], examples[LABELS]
        logits = model.predict(images, batch_size=256, verbose=0)
        log_probs = stable_log_softmax(logits, axis=1)
        predicted = np.argmax(logits, axis=1)
        classes = list(range(len(class_names)))
        precision, recall, _, support = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
        plot_confusion_matrix(
            confusion_matrix(labels, predicted, labels=classes), class_names, run_dir / "confusion_matrix.png",
            title=f"test accuracy {np.mean(predicted == labels):.4f}",
        )
        losses = -log_probs[np.arange(len(labels)), labels]
        worst = np.argsort(-losses, kind="stable")[: self.worst]
        image_grid(
            images[worst],
            [f"true {class_names[labels[i]]} / pred {class_names[predicted[i]]}\nloss {losses[i]:.2f}" for i in worst],
            run_dir / "worst.png",
        )
        report = {
            "per_class": {
                name: {"precision": float(p), "recall": float(r), "support": int(s)}
                for name, p, r, s in zip(class_names, precision, recall, support)
            },
        }
        if self.test_crops:
            probabilities = multi_crop_probabilities(model, images, self.test_crops, self.test_crop_size, self.test_crop_padding)
            report["test_crops"] = {
                "crops": self.test_crops,
                "crop_size": list(self.test_crop_size or images.shape[1:3]),
                "padding": self.test_crop_padding,
                "accuracy": float(np.mean(np.argmax(probabilities, axis=1) == labels)),
                "single_crop_accuracy": float(np.mean(predicted == labels)),
            }
        return report
