"""The task API: what a task consumes, what it trains on, how it is judged, reported and served.

A task sits between the data and the model. It names the example features it consumes
(`requires`, keys of `kerascv_suite.data.examples`), turns a batch of them into the model's
inputs and training targets (`targets`), gives the losses (one per named model output, with
weights from the spec), the metrics, the test-split report (pictures and numbers for
metrics.json), and the serving module and outputs of its exports. Classification,
generative modelling, classification + localisation and semantic segmentation are tasks;
detection, captioning, video and 3D add theirs the same way: one registered class, no edits
in the trainer or the exporter.

The spec loader refuses a task whose `requires` the data source does not provide, in one
line, before anything is built.

Example::

    @TASKS.register("my_task")
    class MyTask(Task):
        requires = frozenset({IMAGES, BOXES, CLASSES})
        def targets(self, batch): return batch[IMAGES], batch[BOXES]
        def loss(self): return keras.losses.MeanSquaredError()
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from kerascv_suite.data.examples import CLASSIC, IMAGES, LABELS


class Task:
    """Base of every task: the defaults of image classification's contract, overridden where a task differs.

    Attributes:
        requires: the example features the task consumes.
        tflite_outputs: the serving outputs a TFLite file keeps (empty: the task exports no TFLite file).
    """

    requires: frozenset = CLASSIC
    tflite_outputs: tuple = ()

    def targets(self, batch: dict):
        """A batch of example features → (model inputs, training targets), inside tf.data."""
        return batch[IMAGES], batch[LABELS]

    def loss(self):
        """The training loss: one loss, or a dict of losses keyed by the model's output names (None: the model's own)."""
        return None

    def loss_weights(self) -> dict | None:
        """Weights of a multi-output loss, keyed like `loss()` (None: all 1)."""
        return None

    def metrics(self) -> list | dict:
        """Metrics logged in training and evaluation: a list, or a dict keyed by output name."""
        return []

    def callbacks(self, model: keras.Model, run_dir: Path) -> list:
        """Callbacks the task adds to `fit` (e.g. per-epoch sample grids)."""
        return []

    def report(self, model: keras.Model, examples: dict[str, np.ndarray], class_names: list[str], run_dir: Path) -> dict:
        """Write the task's pictures for the test split (preprocessed `examples`) into `run_dir`; return entries for metrics.json."""
        return {}

    def serving_outputs(self, outputs, class_names: list[str], image_size) -> dict:
        """The model's outputs for a served batch → the named tensors a client gets; `image_size` is the request's [H, W]."""
        raise NotImplementedError

    # How far a served output may differ from the Keras model's in the fresh-process check.
    serving_tolerances: dict = {}

    def serving_module(self, model: keras.Model, pipeline):
        """What a SavedModel export serves: raw uint8 images in, `serving_outputs` out (`ServingModule`)."""
        from kerascv_suite.export.serving import ServingModule

        return ServingModule(model, pipeline, self)


__all__ = ["Task"]
