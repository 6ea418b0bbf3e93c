"""LeNet-5 (LeCun et al., 1998): the first convolutional network of the syllabus.

conv 6@5×5 → pool → conv 16@5×5 → pool → dense 120 → dense 84 → classes, on 32×32 inputs
(61,706 parameters for 10 classes and one input channel). The paper's C5 is a 5×5
convolution over a 5×5 map, i.e. a dense layer; C3's partial connection table is replaced by
full connections, as every modern reimplementation does.
"""

from __future__ import annotations

from typing import Annotated, Literal

import keras
from pydantic import Field

from kerascv_suite.layers.activations import Activation, activation_layer
from kerascv_suite.layers.fractional_pooling import FractionalMaxPooling2D
from kerascv_suite.registry import MODELS


@MODELS.register("lenet5")
def lenet5(
    input_shape: tuple,
    num_classes: int,
    activation: Activation = "tanh",
    pooling: Literal["average", "max", "fractional_max"] = "average",
    fractional_ratio: Annotated[float, Field(gt=1, lt=2)] = 1.414,
) -> keras.Model:
    """LeNet-5: two conv/pool stages and three dense layers; needs at least 32×32 input.

    Args:
        activation: hidden activation, any of `kerascv_suite.layers.activations` but maxout (the
            paper's scaled tanh ≈ "tanh"; "relu" trains faster). Layers `c1_act` … `f6_act` hold it.
        pooling: "average" (the paper's subsampling), "max", or "fractional_max" (Graham, 2014:
            random pooling cells that shrink the map by `fractional_ratio`, a regulariser;
            `kerascv_suite.layers.fractional_pooling`).
        fractional_ratio: the map's shrink factor per fractional pool (√2 halves the area).

    Example::

        model = lenet5((32, 32, 1), 10)
        model.count_params()   # 61706
    """
    if input_shape[0] < 32 or input_shape[1] < 32:
        raise ValueError(f"lenet5 needs at least 32×32 input, got {input_shape[0]}×{input_shape[1]}; add a resize op to data.preprocess")
    if activation == "maxout":
        raise ValueError("lenet5 takes elementwise activations; maxout is an mlp option")
    pools = {"average": keras.layers.AveragePooling2D, "max": keras.layers.MaxPooling2D,
             "fractional_max": lambda size, name: FractionalMaxPooling2D(fractional_ratio, name=name)}
    pool = pools[pooling]
    inputs = keras.Input(input_shape, name="images")
    x = activation_layer(activation, name="c1_act", feature_maps=True)(keras.layers.Conv2D(6, 5, name="c1")(inputs))
    x = pool(2, name="s2")(x)
    x = activation_layer(activation, name="c3_act", feature_maps=True)(keras.layers.Conv2D(16, 5, name="c3")(x))
    x = pool(2, name="s4")(x)
    x = keras.layers.Flatten(name="flatten")(x)   # named: transfer learning reads features here by name
    x = activation_layer(activation, name="c5_act")(keras.layers.Dense(120, name="c5")(x))
    x = activation_layer(activation, name="f6_act")(keras.layers.Dense(84, name="f6")(x))
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="lenet5")
