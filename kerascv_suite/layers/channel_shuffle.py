"""Channel split and channel shuffle (ShuffleNet, Zhang et al., 2018; Ma et al., 2018).

A grouped or branched network computes each output group from one input group only, so
information never crosses groups. ShuffleNet's remedy costs no multiply: after the groups
are concatenated, reorder the channels so that every group of the next layer receives a
channel from every group of this one. With g groups of n channels, view the channel axis as
a g×n matrix, transpose it and flatten it again: channel i·n + j moves to position j·g + i.

ShuffleNetV2's unit splits its input channels into two halves (`ChannelSplit`), sends one
through a branch of convolutions and passes the other unchanged, concatenates them and
shuffles with g = 2 (`ChannelShuffle`), so that half of every unit's input reaches the next
unit's convolutions.

Both are Keras layers with `get_config` (no weights, no multiply-accumulates), so a model
that uses them saves and reloads; they are registered under the package "kerascv_suite".

Example::

    passed, branch = ChannelSplit(2, 0)(x), ChannelSplit(2, 1)(x)    # (…, C) → two (…, C/2)
    x = ChannelShuffle(2)(keras.layers.Concatenate()([passed, branch]))
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_suite")
class ChannelShuffle(keras.layers.Layer):
    """Interleave the channels of `groups` equal groups: (…, g·n) → (…, n·g), channel i·n + j → j·g + i.

    Args:
        groups: g, the number of groups the channel axis is made of; must divide the channels.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Input and output shape: (batch, height, width, channels), the channels reordered.

    Example::

        ChannelShuffle(2)(np.arange(6.0).reshape(1, 1, 1, 6))   # channels 0 3 1 4 2 5
    """

    def __init__(self, groups: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def build(self, input_shape):
        if input_shape[-1] % self.groups:
            raise ValueError(f"{self.name}: {input_shape[-1]} channels do not split into {self.groups} groups")
        self.built = True

    def call(self, x):
        shape = ops.shape(x)
        channels = x.shape[-1]
        grouped = ops.reshape(x, (*shape[:-1], self.groups, channels // self.groups))
        transposed = ops.swapaxes(grouped, -1, -2)
        return ops.reshape(transposed, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="kerascv_suite")
class ChannelSplit(keras.layers.Layer):
    """One of `groups` equal consecutive parts of the channel axis: (…, g·n) → (…, n), channels index·n … index·n + n − 1.

    One layer per part (rather than one layer with a list of outputs) keeps every layer of a
    model single-output, as `kerascv_suite.models.arithmetic` expects.

    Args:
        groups: g, the number of equal parts; must divide the channels.
        index: which part, 0 ≤ index < g.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Input shape: (batch, height, width, channels); output: (batch, height, width, channels / groups).

    Example::

        passed = ChannelSplit(2, 0)(x)   # ShuffleNetV2: this half bypasses the unit's convolutions
        branch = ChannelSplit(2, 1)(x)   # and this half goes through them
    """

    def __init__(self, groups: int = 2, index: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.groups, self.index = int(groups), int(index)
        if not 0 <= self.index < self.groups:
            raise ValueError(f"index must lie in [0, {self.groups}), got {self.index}")

    def build(self, input_shape):
        if input_shape[-1] % self.groups:
            raise ValueError(f"{self.name}: {input_shape[-1]} channels do not split into {self.groups} equal parts")
        self.built = True

    def call(self, x):
        part = x.shape[-1] // self.groups
        return x[..., self.index * part:(self.index + 1) * part]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.groups)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "index": self.index}
