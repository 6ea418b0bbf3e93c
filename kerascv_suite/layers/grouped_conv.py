"""Grouped convolution that runs fast on TensorFlow's CPU.

`keras.layers.Conv2D(groups=g)` trains on TensorFlow's CPU with and without XLA (TF 2.21 /
Keras 3.15), but TensorFlow's CPU kernels for it are very slow: a 3×3, 128 → 128, g = 32
convolution on 8×32×32 inputs takes 180 ms forward and 14.6 s forward + backward (11 s under XLA),
where g separate convolutions on channel slices, concatenated, take 21 ms and 47 ms. A ResNeXt-50
training step at 32×32, batch 8, took 53 s instead of ~1.5 s. So the grouped convolutions here
(ResNeXt's 3×3, AlexNet's two-GPU layers) are a `GroupedConv2D`: a `Conv2D` subclass with
Conv2D's grouped kernel, config, parameter count and MAC count, which on TensorFlow without a GPU
runs as g convolutions and a concatenation, and elsewhere (a visible GPU, or another Keras
backend) as the native grouped convolution, which cuDNN implements directly (the GPU path was not
timed here: no GPU was available when this was written).

Example::

    y = GroupedConv2D(128, 3, padding="same", groups=32, use_bias=False)(x)   # ResNeXt's 32×4d 3×3
"""

from __future__ import annotations

import keras


def _native_grouped_convolution() -> bool:
    """False on TensorFlow without a visible GPU, whose CPU grouped-convolution kernels are ~300× too slow."""
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


@keras.saving.register_keras_serializable(package="kerascv_suite")
class GroupedConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` with `groups` > 1 that runs fast on TensorFlow's CPU.

    The weights, config, output and parameter count are exactly those of ``Conv2D(groups=g)``: one
    (k, k, C_in/g, C_out) kernel whose output channels [i·C_out/g, (i+1)·C_out/g) see only input
    channels [i·C_in/g, (i+1)·C_in/g). Only the computation differs: on TensorFlow without a GPU
    it splits the input and the kernel into g slices, convolves each and concatenates (see the
    module docstring for the measured speed-up); with a GPU, or another backend, it is Conv2D's
    own grouped convolution. Being a Conv2D, `kerascv_suite.models.arithmetic` counts its MACs
    as H'·W'·k²·(C_in/g)·C_out.

    Args: those of `keras.layers.Conv2D`.

    Example::

        y = GroupedConv2D(128, 3, padding="same", groups=32, use_bias=False)(x)   # ResNeXt's 32×4d 3×3
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1 or _native_grouped_convolution():
            return super().convolution_op(inputs, kernel)
        axis = -1 if self.data_format == "channels_last" else 1
        slices = zip(keras.ops.split(inputs, self.groups, axis=axis), keras.ops.split(kernel, self.groups, axis=-1))
        outputs = [keras.ops.conv(x, k, strides=list(self.strides), padding=self.padding, dilation_rate=self.dilation_rate,
                                  data_format=self.data_format) for x, k in slices]
        return keras.ops.concatenate(outputs, axis=axis)


__all__ = ["GroupedConv2D"]
