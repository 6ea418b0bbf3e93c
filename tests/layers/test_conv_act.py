"""conv_act: bias and activation without BatchNorm, conv_norm_act's layers with it, integer padding and groups."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers.conv_act import conv_act


def build(input_shape=(9, 9, 4), **kwargs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, conv_act(inputs, **kwargs))


def test_plain_convolution_has_a_bias_and_its_activation():
    model = build(filters=6, kernel_size=3, name="conv1")
    assert model.output_shape == (None, 9, 9, 6)                  # "same" by default
    assert model.get_layer("conv1_conv").count_params() == 3 * 3 * 4 * 6 + 6
    assert model.get_layer("conv1_act").get_config()["activation"] == "relu"
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_batch_norm_replaces_the_bias():
    model = build(filters=6, kernel_size=3, batch_norm=True, norm_momentum=0.8, norm_epsilon=1e-5, name="block1_conv1")
    assert model.get_layer("block1_conv1_conv").use_bias is False
    bn = model.get_layer("block1_conv1_bn")
    assert (bn.momentum, bn.epsilon) == (0.8, 1e-5)
    assert [layer.name for layer in model.layers[1:]] == ["block1_conv1_conv", "block1_conv1_bn", "block1_conv1_act"]


@pytest.mark.parametrize("size, kernel, strides, padding, expected", [
    (224, 11, 4, 2, 55),      # AlexNet's conv1: ⌊(224 + 4 − 11)/4⌋ + 1
    (224, 7, 2, 1, 110),      # ZFNet's conv1
    (55, 5, 2, 0, 26),        # ZFNet's conv2
    (27, 5, 1, 2, 27),
    (9, 3, 2, "same", 5),
    (9, 3, 2, "valid", 4),
])
def test_integer_padding_is_pytorch_padding(size, kernel, strides, padding, expected):
    model = build((size, size, 1), filters=2, kernel_size=kernel, strides=strides, padding=padding, name="c")
    assert model.output_shape[1:3] == (expected, expected)
    assert ("c_pad" in {layer.name for layer in model.layers}) == (isinstance(padding, int) and padding > 0)


def test_groups_split_the_channels():
    model = build((5, 5, 4), filters=6, kernel_size=3, groups=2, activation=None, name="g")
    assert model.get_layer("g_conv").count_params() == 3 * 3 * 2 * 6 + 6   # each output sees 4/2 inputs
    x = np.zeros((1, 5, 5, 4), "float32")
    x[..., 2:] = 1.0                                                       # only the second group's inputs
    conv = model.get_layer("g_conv")
    conv.set_weights([np.ones_like(conv.kernel.numpy()), np.zeros(6, "float32")])
    y = model(x).numpy()
    assert np.all(y[..., :3] == 0) and np.all(y[0, 2, 2, 3:] == 9 * 2)    # outputs 0–2 see inputs 0–1 only
