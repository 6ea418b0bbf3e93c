"""Image classification: integer labels in, class scores (logits) out.

The task supplies the default loss (softmax cross-entropy), the accuracy metric, and the
test-split report: per-class precision and recall, a confusion matrix, and the test images
the model gets most wrong (highest loss) with their true and predicted labels.

Example::

    task = Classification()
    model.compile(optimizer="adam", loss=task.loss(), metrics=task.metrics())
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from pydantic import PositiveInt

from kerascv_suite.data.examples import IMAGES, LABELS
from kerascv_suite.ops.softmax import stable_log_softmax
from kerascv_suite.registry import TASKS
from kerascv_suite.tasks.base import Task
from kerascv_suite.tasks.losses import cross_entropy
from kerascv_suite.tasks.metrics import accuracy
from kerascv_suite.viz.plots import image_grid, plot_confusion_matrix


@TASKS.register("classification")
class Classification(Task):
    """Image classification: cross-entropy by default, accuracy, per-class report, confusion matrix, worst images.

    Args:
        worst: how many of the highest-loss test images worst.png shows.
    """

    requires = frozenset({IMAGES, LABELS})
    tflite_outputs = ("probabilities",)
    serving_tolerances = {"probabilities": 1e-5, "class_ids": 0.0, "class_names": 0.0}

    def __init__(self, worst: PositiveInt = 16):
        self.worst = worst

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
        return {
            "per_class": {
                name: {"precision": float(p), "recall": float(r), "support": int(s)}
                for name, p, r, s in zip(class_names, precision, recall, support)
            },
        }
