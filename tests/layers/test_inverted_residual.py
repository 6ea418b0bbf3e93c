"""inverted_residual and depthwise_separable: shapes, parameter arithmetic, when the skip is added."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers import depthwise_separable, inverted_residual

SE = {"ratio": 0.25, "gate": "hard_sigmoid"}


def block_model(block, input_shape, **kwargs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, block(inputs, name="b", **kwargs))


def layer_names(model):
    return {layer.name for layer in model.layers}


@pytest.mark.parametrize("channels, filters, strides, residual", [
    (16, 16, 1, True),     # shape kept: skip added
    (16, 24, 1, False),    # channels change
    (16, 16, 2, False),    # resolution changes
    (24, 40, 2, False),
])
def test_residual_only_when_shapes_match(channels, filters, strides, residual):
    model = block_model(inverted_residual, (8, 8, channels), filters=filters, strides=strides)
    assert model.output_shape == (None, 8 // strides, 8 // strides, filters)
    assert ("b_add" in layer_names(model)) is residual


def test_parameter_count_matches_the_arithmetic():
    c, t, k, out = 16, 6, 3, 24
    model = block_model(inverted_residual, (8, 8, c), filters=out, expansion=t, kernel_size=k, strides=2)
    wide = c * t
    expand = c * wide + 4 * wide          # 1×1 conv without bias, BatchNorm (γ, β, mean, var)
    depthwise = k * k * wide + 4 * wide
    project = wide * out + 4 * out
    assert model.count_params() == expand + depthwise + project


def test_expansion_one_skips_the_expand_convolution():
    model = block_model(inverted_residual, (8, 8, 16), filters=16, expansion=1)
    assert "b_expand_conv" not in layer_names(model)
    assert model.get_layer("b_depthwise_conv").input.shape[-1] == 16


def test_fractional_expansion_is_rounded_like_mobilenet_v3():
    model = block_model(inverted_residual, (8, 8, 80), filters=80, expansion=2.3, activation="hard_swish")
    assert model.get_layer("b_expand_conv").filters == 184   # make_divisible(80 × 2.3)


def test_squeeze_excite_acts_on_the_expanded_tensor():
    model = block_model(inverted_residual, (8, 8, 16), filters=24, expansion=4, kernel_size=5, se=SE)
    assert model.get_layer("b_se_expand").filters == 64
    assert model.get_layer("b_se_reduce").filters == 16


def test_projection_is_linear_and_skip_is_the_identity():
    # with the projection's BatchNorm scaled to zero the block must return its input exactly
    model = block_model(inverted_residual, (6, 6, 8), filters=8, expansion=6, se=SE)
    assert not any(name.startswith("b_project_act") for name in layer_names(model))
    bn = model.get_layer("b_project_bn")
    bn.set_weights([np.zeros_like(w) for w in bn.get_weights()[:2]] + bn.get_weights()[2:])
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 8)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), x, atol=1e-6)


def test_depthwise_separable_is_mobilenet_v1_block():
    model = block_model(depthwise_separable, (8, 8, 32), filters=64, strides=2)
    assert model.output_shape == (None, 4, 4, 64)
    assert model.count_params() == (3 * 3 * 32 + 4 * 32) + (32 * 64 + 4 * 64)
    assert model.get_layer("b_project_act").get_config()["activation"] == "relu"
