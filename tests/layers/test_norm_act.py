"""conv_norm_act, depthwise_norm_act, norm_act: shapes, parameters, names and settings."""

import keras
import numpy as np

from kerascv_suite.layers import conv_norm_act, depthwise_norm_act, norm_act


def build(block, input_shape=(9, 9, 4), **kwargs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, block(inputs, **kwargs))


def test_conv_norm_act_shapes_and_parameters():
    model = build(conv_norm_act, filters=6, kernel_size=3, strides=2, name="stem")
    assert model.output_shape == (None, 5, 5, 6)   # "same" padding rounds 9/2 up
    conv = model.get_layer("stem_conv")
    assert conv.use_bias is False                   # BatchNorm's beta is the bias
    assert conv.count_params() == 3 * 3 * 4 * 6
    assert model.get_layer("stem_bn").count_params() == 4 * 6
    assert model.get_layer("stem_act").get_config()["activation"] == "relu"


def test_depthwise_norm_act_has_one_filter_per_channel():
    model = build(depthwise_norm_act, kernel_size=5, strides=1, activation="hard_swish", name="dw")
    assert model.output_shape == (None, 9, 9, 4)
    assert model.get_layer("dw_conv").count_params() == 5 * 5 * 4


def test_norm_settings_and_linear_output():
    model = build(conv_norm_act, filters=3, kernel_size=1, activation=None, norm_momentum=0.8, norm_epsilon=1e-5, name="project")
    bn = model.get_layer("project_bn")
    assert (bn.momentum, bn.epsilon) == (0.8, 1e-5)
    assert not any(isinstance(layer, keras.layers.Activation) for layer in model.layers)


def test_norm_act_matches_numpy_at_inference():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    model = build(norm_act, input_shape=(3, 3, 4), activation="relu6", norm_epsilon=1e-3, name="pre")
    bn = model.get_layer("pre_bn")
    gamma, beta, mean, var = (np.full(4, v, "float32") for v in (2.0, 0.5, 0.1, 4.0))
    bn.set_weights([gamma, beta, mean, var])
    expected = np.clip(gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, 0, 6)
    np.testing.assert_allclose(model(x, training=False), expected, rtol=1e-5, atol=1e-5)
