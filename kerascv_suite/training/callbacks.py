"""Callbacks a spec can add to `fit` (`train.callbacks`), and `LearningRateLogger`, one of the trainer's defaults.

Example (YAML)::

    train: {callbacks: [{name: early_stopping, patience: 5}]}
"""

from __future__ import annotations

import keras
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from kerascv_suite.registry import CALLBACKS


def monitor_mode(monitor: str) -> str:
    """"max" for an accuracy ("val_accuracy", "top_k_accuracy"), else "min" (losses, −ELBO terms).

    Keras infers the direction only for metrics it knows; the library's own accuracy (which also
    takes mixed labels) it does not, so a checkpoint or early stop on `val_accuracy` would fail.
    """
    return "max" if "acc" in monitor else "min"


@CALLBACKS.register("early_stopping")
def early_stopping(monitor: str = "val_loss", patience: PositiveInt = 5, min_delta: NonNegativeFloat = 0.0, restore_best_weights: bool = True):
    """Stop when `monitor` has not improved for `patience` epochs."""
    return keras.callbacks.EarlyStopping(monitor=monitor, mode=monitor_mode(monitor), patience=patience, min_delta=min_delta,
                                         restore_best_weights=restore_best_weights)


@CALLBACKS.register("reduce_lr_on_plateau")
def reduce_lr_on_plateau(monitor: str = "val_loss", factor: PositiveFloat = 0.1, patience: PositiveInt = 3, min_lr: NonNegativeFloat = 0.0):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""
    return keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=monitor_mode(monitor), factor=factor, patience=patience, min_lr=min_lr)


class LearningRateLogger(keras.callbacks.Callback):
    """Add `learning_rate` to each epoch's logs: the rate the epoch's first step used.

    With a schedule the rate changes every step; the value at the start of each epoch is what
    history.csv, TensorBoard and the curves show. Keras logs the rate only when a callback
    such as `ReduceLROnPlateau` changes it, so the trainer puts this callback first, before
    the loggers read the epoch's logs. Optimizers that choose their steps by line search
    (L-BFGS) have no learning rate to log.

    Example::

        model.fit(x, y, epochs=3, callbacks=[LearningRateLogger(), keras.callbacks.CSVLogger("h.csv")])
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and not getattr(self.model.optimizer, "line_search", False):  # L-BFGS has no rate
            logs["learning_rate"] = self._rate
