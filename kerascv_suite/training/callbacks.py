"""Callbacks a spec can add to `fit` (`train.callbacks`); the trainer adds its defaults itself.

Example (YAML)::

    train: {callbacks: [{name: early_stopping, patience: 5}]}
"""

from __future__ import annotations

import keras
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from kerascv_suite.registry import CALLBACKS


@CALLBACKS.register("early_stopping")
def early_stopping(monitor: str = "val_loss", patience: PositiveInt = 5, min_delta: NonNegativeFloat = 0.0, restore_best_weights: bool = True):
    """Stop when `monitor` has not improved for `patience` epochs."""
    return keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, min_delta=min_delta, restore_best_weights=restore_best_weights)


@CALLBACKS.register("reduce_lr_on_plateau")
def reduce_lr_on_plateau(monitor: str = "val_loss", factor: PositiveFloat = 0.1, patience: PositiveInt = 3, min_lr: NonNegativeFloat = 0.0):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""
    return keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=factor, patience=patience, min_lr=min_lr)
