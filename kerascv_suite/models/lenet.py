"""LeNet-5 (LeCun et al., 1998): the first convolutional network of the syllabus.

conv 6@5×5 → pool → conv 16@5×5 → pool → dense 120 → dense 84 → classes, on 32×32 inputs
(61,706 parameters for 10 classes and one input channel). The paper's C5 is a 5×5
convolution over a 5×5 map, i.e. a dense layer; C3's partial connection table is replaced by
full connections, as every modern reimplementation does.
"""

from __future__ import annotations

from typing import Literal

import keras

from kerascv_suite.registry import MODELS


@MODELS.register("lenet5")
def lenet5(
    input_shape: tuple,
    num_classes: int,
    activation: str = "tanh",
    pooling: Literal["average", "max"] = "average",
) -> keras.Model:
    """LeNet-5: two conv/pool stages and three dense layers; needs at least 32×32 input.

    Args:
        activation: hidden activation (the paper's scaled tanh ≈ "tanh"; "relu" trains faster).
        pooling: "average" (the paper's subsampling) or "max".

    Example::

        model = lenet5((32, 32, 1), 10)
        model.count_params()   # 61706
    """
    if input_shape[0] < 32 or input_shape[1] < 32:
        raise ValueError(f"lenet5 needs at least 32×32 input, got {input_shape[0]}×{input_shape[1]}; add a resize op to data.preprocess")
    pool = keras.layers.AveragePooling2D if pooling == "average" else keras.layers.MaxPooling2D
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Conv2D(6, 5, activation=activation, name="c1")(inputs)
    x = pool(2, name="s2")(x)
    x = keras.layers.Conv2D(16, 5, activation=activation, name="c3")(x)
    x = pool(2, name="s4")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(120, activation=activation, name="c5")(x)
    x = keras.layers.Dense(84, activation=activation, name="f6")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="lenet5")
