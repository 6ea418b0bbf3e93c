"""Classification + localisation (CS231n lecture 11): one object per image, a class head and a box head on one backbone.

Two heads read the backbone's deepest feature map (`kerascv_suite.models.backbones`). The
``class`` head is a classifier's: global average pooling and a linear layer to class scores
(logits) — what the object is does not depend on where it is. The ``box`` head needs the
where: the map is average-pooled to a coarse `grid_size` × `grid_size` grid, flattened, and a
hidden ReLU layer gives the object's box as fractions of the image, (x0, y0, x1, y1), through
`CentreSizeBoxes`. (A hidden layer shared by both heads trained the class far more slowly
here: 0.60 training accuracy after 12 epochs, the box loss, weighted ×5, dominating it.) The task `localization` trains both with
one multi-task loss: cross-entropy + `box_weight` × the box regression loss.

Example (YAML)::

    task: {name: localization, box_weight: 5.0}
    model: {name: localizer, backbone: {name: cifar_resnet, depth: 8}, hidden_units: 128}
"""

from __future__ import annotations

from typing import Literal

import keras
from pydantic import PositiveInt

from kerascv_suite.layers.boxes import CentreSizeBoxes
from kerascv_suite.layers.classifier import AdaptiveAveragePool2D
from kerascv_suite.models.arguments import Fraction
from kerascv_suite.models.backbones import feature_extractor
from kerascv_suite.registry import MODELS, Component


@MODELS.register("localizer")
def localizer(
    input_shape: tuple,
    num_classes: int,
    backbone: Component["backbones"],
    hidden_units: PositiveInt = 256,
    pooling: Literal["grid", "flatten", "average"] = "grid",
    grid_size: PositiveInt = 4,
    dropout: Fraction = 0.0,
) -> keras.Model:
    """A backbone with a class head (pooled, linear) and a box head (grid, hidden layer): {"class": logits [B, C], "box": xyxy in [0, 1] [B, 4]}.

    Args:
        backbone: the zoo CNN whose deepest feature map the heads read (its own classifier is dropped),
            e.g. ``{name: cifar_resnet, depth: 8}``; every argument of that family applies.
        hidden_units: width of the box head's hidden ReLU layer.
        pooling: how the box head reads the map: "grid" averages it over a `grid_size` × `grid_size` grid and flattens it, which keeps
            roughly where a feature fired (what a box needs); "flatten" keeps the whole map (a 16×16×64 map
            gives 16,384 inputs to the hidden layer, where Adam's first steps, ±lr on every weight, blow the
            scores up: seen here); "average" is global average pooling, as a classifier's (position then
            survives only through padding).
        grid_size: the side of the "grid" pooling's grid.
        dropout: dropout before each head's last layer.

    Example::

        model = localizer((64, 64, 3), 3, backbone=MODELS.get("cifar_resnet")((64, 64, 3), 3, depth=8))
        model.output_shape      # {"class": (None, 3), "box": (None, 4)}
    """
    features = feature_extractor(backbone)
    deepest = list(features.outputs)[-1]
    pooled = keras.layers.GlobalAveragePooling2D(name="class_pool")(deepest)
    if dropout:
        pooled = keras.layers.Dropout(dropout, name="class_dropout")(pooled)
    logits = keras.layers.Dense(num_classes, name="class")(pooled)
    if pooling == "average":
        x = keras.layers.GlobalAveragePooling2D(name="box_pool")(deepest)
    else:
        if pooling == "grid" and deepest.shape[1] > grid_size:
            deepest = AdaptiveAveragePool2D(grid_size, name="box_grid")(deepest)
        x = keras.layers.Flatten(name="box_flatten")(deepest)
    x = keras.layers.Dense(hidden_units, activation="relu", name="box_hidden")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="box_dropout")(x)
    # Zero weights: every box starts as the centred half-size box, with the sigmoids at their steepest; random
    # ones saturated some of them at the start here (the box loss then stalled at the mean box, IoU 0.17).
    boxes = CentreSizeBoxes(name="box")(keras.layers.Dense(4, kernel_initializer="zeros", name="box_scores")(x))
    return keras.Model(features.inputs, {"class": logits, "box": boxes}, name=f"localizer_{backbone.name}")
