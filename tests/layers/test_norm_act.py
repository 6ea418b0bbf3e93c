"""conv_norm_act, depthwise_norm_act, norm_act: shapes, parameters, names and settings."""

import math

import keras
import numpy as np
import pytest

from kerascv_suite.layers import FusedBatchNormalization, conv_norm_act, depthwise_norm_act, norm_act
from kerascv_suite.layers.norm_act import normalization


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


NORM_SUFFIXES = {"batch": "bn", "layer": "ln", "instance": "in", "group": "gn"}


@pytest.mark.parametrize("norm, channels, groups", [
    ("layer", 8, 1), ("instance", 8, 8), ("group", 8, 8), ("group", 64, 32), ("group", 48, 16), ("group", 12, 4), ("instance", 3, 3),
])
def test_normalization_kinds_are_group_norms_with_the_right_group_count(norm, channels, groups):
    model = build(normalization, input_shape=(4, 4, channels), norm=norm, name="x")
    layer = model.get_layer(f"x_{NORM_SUFFIXES[norm]}")
    assert type(layer) is keras.layers.GroupNormalization
    assert layer.groups == groups == {"layer": 1, "instance": channels, "group": math.gcd(32, channels)}[norm]
    assert layer.count_params() == 2 * channels     # γ and β per channel, no moving statistics


def test_batch_normalization_keeps_its_settings():
    model = build(normalization, input_shape=(4, 4, 8), norm_momentum=0.8, norm_epsilon=1e-4, gamma_initializer="zeros", name="x")
    layer = model.get_layer("x_bn")
    assert type(layer) is FusedBatchNormalization
    assert (layer.momentum, layer.epsilon) == (0.8, 1e-4)
    assert np.all(np.asarray(layer.gamma) == 0)


def numpy_group_norm(x, groups, epsilon):
    n, h, w, c = x.shape
    g = x.reshape(n, h, w, groups, c // groups)
    mean = g.mean(axis=(1, 2, 4), keepdims=True)
    var = g.var(axis=(1, 2, 4), keepdims=True)
    return ((g - mean) / np.sqrt(var + epsilon)).reshape(x.shape)


def skewed_input(channels, seed=0):
    """Random (2, 4, 4, channels) maps with a different offset and scale per example and per channel."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 3, size=(2, 1, 1, channels))
    offset = rng.uniform(-5, 5, size=(2, 1, 1, channels))
    return (rng.normal(size=(2, 4, 4, channels)) * scale + offset).astype("float32")


@pytest.mark.parametrize("norm, channels, axes", [
    ("layer", 8, (1, 2, 3)),       # per example over pixels and channels
    ("instance", 8, (1, 2)),       # per example and channel over the pixels
    ("group", 8, (1, 2)),          # gcd(32, 8) = 8 groups of one channel: instance norm
])
def test_normalized_maps_have_zero_mean_and_unit_variance_over_the_right_axes(norm, channels, axes):
    x = skewed_input(channels)
    model = build(normalization, input_shape=(4, 4, channels), norm=norm, norm_epsilon=1e-3)
    y = np.asarray(model(x, training=False), dtype="float64")
    groups = {"layer": 1, "instance": channels, "group": 8}[norm]
    np.testing.assert_allclose(y, numpy_group_norm(x.astype("float64"), groups, 1e-3), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-4)
    var = x.astype("float64").var(axis=axes)
    np.testing.assert_allclose(y.var(axis=axes), var / (var + 1e-3), rtol=1e-4)    # ≈ 1, less the epsilon's share
    if norm == "layer":   # layer norm leaves each channel's own mean off zero
        assert np.abs(y.mean(axis=(1, 2))).max() > 0.5
    np.testing.assert_allclose(model(x, training=True), y, rtol=1e-6, atol=1e-6)   # no batch statistics


def test_group_norm_with_64_channels_normalises_32_groups_of_2():
    x = skewed_input(64, seed=1)
    model = build(normalization, input_shape=(4, 4, 64), norm="group", norm_epsilon=1e-3)
    y = np.asarray(model(x), dtype="float64")
    np.testing.assert_allclose(y, numpy_group_norm(x.astype("float64"), 32, 1e-3), rtol=1e-4, atol=1e-4)
    pairs = y.reshape(2, 4, 4, 32, 2)
    np.testing.assert_allclose(pairs.mean(axis=(1, 2, 4)), 0, atol=1e-4)
    np.testing.assert_allclose(pairs.var(axis=(1, 2, 4)), 1, atol=0.01)
    assert np.abs(y.mean(axis=(1, 2))).max() > 0.1     # a single channel is not centred on its own


@pytest.mark.parametrize("norm", ["batch", "layer", "instance", "group"])
def test_norm_reaches_the_layer_names_of_every_block(norm):
    suffix = NORM_SUFFIXES[norm]
    norm_class = FusedBatchNormalization if norm == "batch" else keras.layers.GroupNormalization
    for block, kwargs in [(conv_norm_act, {"filters": 8}), (depthwise_norm_act, {}), (norm_act, {})]:
        model = build(block, norm=norm, name="blk", **kwargs)
        names = {layer.name for layer in model.layers}
        assert f"blk_{suffix}" in names and "blk_act" in names
        assert not {f"blk_{s}" for s in NORM_SUFFIXES.values() if s != suffix} & names
        assert type(model.get_layer(f"blk_{suffix}")) is norm_class
