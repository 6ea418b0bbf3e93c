"""basic_block and bottleneck_block: shapes, shortcut kinds, parameter arithmetic, v1/v2 layouts, SE and zero init."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers.fused_batch_norm import FusedBatchNormalization
from kerascv_suite.layers.grouped_conv import GroupedConv2D
from kerascv_suite.layers.residual import ZeroPadChannels, basic_block, bottleneck_block

SE = {"ratio": 1 / 16, "divisor": 1}


def block_model(block, input_shape, **kwargs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, block(inputs, name="b", **kwargs))


def layer_names(model):
    return {layer.name for layer in model.layers}


def bn(channels):
    return 4 * channels  # γ, β, moving mean, moving variance


@pytest.mark.parametrize("block, filters, out", [(basic_block, 32, 32), (bottleneck_block, 16, 64)])
@pytest.mark.parametrize("preactivation", [False, True])
@pytest.mark.parametrize("strides", [1, 2])
def test_output_shape(block, filters, out, preactivation, strides):
    model = block_model(block, (8, 8, 16), filters=filters, strides=strides, preactivation=preactivation)
    assert model.output_shape == (None, 8 // strides, 8 // strides, out)
    assert model(np.zeros((2, 8, 8, 16), "float32")).shape == (2, 8 // strides, 8 // strides, out)


@pytest.mark.parametrize("block, filters, channels", [(basic_block, 16, 16), (bottleneck_block, 16, 64)])
def test_identity_shortcut_when_the_shape_is_kept(block, filters, channels):
    model = block_model(block, (8, 8, channels), filters=filters)
    assert not any("shortcut" in name for name in layer_names(model))
    assert model.get_layer("b_add").input[0] is model.input


@pytest.mark.parametrize("preactivation", [False, True])
@pytest.mark.parametrize("channels, strides", [(16, 2), (8, 1), (8, 2)])
def test_projection_shortcut_when_the_shape_changes(preactivation, channels, strides):
    model = block_model(basic_block, (8, 8, channels), filters=16, strides=strides, preactivation=preactivation)
    conv = model.get_layer("b_shortcut_conv")
    assert conv.kernel_size == (1, 1) and conv.strides == (strides, strides) and conv.filters == 16
    # v1 normalises the projection (option B); v2 projects the pre-activated input and adds no BatchNorm
    assert ("b_shortcut_bn" in layer_names(model)) is (not preactivation)
    if preactivation:
        assert conv.input is model.get_layer("b_preact_act").output


def test_basic_block_parameter_count():
    c, f = 16, 32
    model = block_model(basic_block, (8, 8, c), filters=f, strides=2)
    branch = 9 * c * f + bn(f) + 9 * f * f + bn(f)
    projection = c * f + bn(f)
    assert model.count_params() == branch + projection


def test_zero_pad_shortcut_has_no_parameters_and_computes_option_a():
    c, f = 8, 16
    model = block_model(basic_block, (8, 8, c), filters=f, strides=2, shortcut="zero_pad")
    assert model.count_params() == 9 * c * f + bn(f) + 9 * f * f + bn(f)   # the branch alone
    assert {"b_shortcut_pool", "b_shortcut_pad"} <= layer_names(model)
    # with the branch's last BatchNorm set to output 0, the block returns ReLU(shortcut) = shortcut for x ≥ 0
    norm = model.get_layer("b_conv2_bn")
    norm.set_weights([np.zeros(f), np.zeros(f), *norm.get_weights()[2:]])
    x = np.random.default_rng(0).uniform(size=(2, 8, 8, c)).astype("float32")
    expected = np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 4, 4, f - c), "float32")], axis=-1)
    np.testing.assert_allclose(model(x, training=False), expected, atol=1e-6)


def test_zero_pad_shortcut_keeps_the_output_size_of_the_branch_on_odd_maps():
    model = block_model(basic_block, (7, 7, 8), filters=16, strides=2, shortcut="zero_pad")
    assert model.output_shape == (None, 4, 4, 16)


def test_zero_pad_shortcut_cannot_drop_channels():
    with pytest.raises(ValueError, match="cannot reduce"):
        block_model(basic_block, (8, 8, 32), filters=16, shortcut="zero_pad")


def test_zero_pad_channels_round_trips_through_config_and_saving(tmp_path):
    layer = ZeroPadChannels(3, name="pad")
    assert ZeroPadChannels.from_config(layer.get_config()).extra == 3
    model = block_model(basic_block, (8, 8, 4), filters=8, strides=2, shortcut="zero_pad")
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 4)).astype("float32")
    model.save(tmp_path / "block.keras")
    reloaded = keras.saving.load_model(tmp_path / "block.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("groups, width_per_group", [(1, 64), (32, 4), (8, 16), (1, 128)])
def test_bottleneck_widths_and_grouped_convolution_parameters(groups, width_per_group):
    c, filters = 256, 64
    model = block_model(bottleneck_block, (8, 8, c), filters=filters, groups=groups, width_per_group=width_per_group)
    width = int(filters * width_per_group / 64) * groups
    conv = model.get_layer("b_conv2_conv")
    assert conv.groups == groups and conv.filters == width
    assert isinstance(conv, GroupedConv2D) is (groups > 1)
    assert conv.count_params() == 3 * 3 * (width // groups) * width   # k²·(C_in/g)·C_out
    out = 4 * filters
    expected = c * width + bn(width) + 9 * (width // groups) * width + bn(width) + width * out + bn(out)
    assert model.count_params() == expected


def test_resnext_first_block_matches_torchvision_widths():
    # ResNeXt-50 32×4d, conv2_x: 256 → 128 → 128 (32 groups of 4) → 256, Xie et al. (2017) Table 1
    model = block_model(bottleneck_block, (8, 8, 64), filters=64, groups=32, width_per_group=4)
    assert [model.get_layer(f"b_conv{i}_conv").filters for i in (1, 2, 3)] == [128, 128, 256]


@pytest.mark.parametrize("stride_in_1x1", [False, True])
def test_stride_on_the_3x3_or_the_first_1x1(stride_in_1x1):
    model = block_model(bottleneck_block, (8, 8, 64), filters=32, strides=2, stride_in_1x1=stride_in_1x1)
    assert model.get_layer("b_conv1_conv").strides == ((2, 2) if stride_in_1x1 else (1, 1))
    assert model.get_layer("b_conv2_conv").strides == ((1, 1) if stride_in_1x1 else (2, 2))
    assert model.get_layer("b_shortcut_conv").strides == (2, 2)


@pytest.mark.parametrize("block, kwargs", [(basic_block, {"filters": 16}), (bottleneck_block, {"filters": 4})])
def test_v1_applies_relu_after_the_add_and_v2_does_not(block, kwargs):
    v1 = block_model(block, (6, 6, 16), **kwargs)
    assert v1.output is v1.get_layer("b_out").output
    assert v1.get_layer("b_out").get_config()["activation"] == "relu"
    assert v1.get_layer("b_out").input is v1.get_layer("b_add").output
    v2 = block_model(block, (6, 6, 16), preactivation=True, **kwargs)
    assert v2.output is v2.get_layer("b_add").output        # the sum is the block's output
    assert "b_out" not in layer_names(v2)
    assert v2.get_layer("b_preact_bn").input is v2.input   # BN-ReLU comes first


@pytest.mark.parametrize("block, kwargs", [(basic_block, {"filters": 16}), (bottleneck_block, {"filters": 4})])
def test_zero_init_makes_the_block_an_identity_at_initialisation(block, kwargs):
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 16)).astype("float32")
    v2 = block_model(block, (6, 6, 16), preactivation=True, zero_init_last_norm=True, **kwargs)
    np.testing.assert_allclose(v2(x, training=False), x, atol=1e-6)               # v2: exactly the input
    v1 = block_model(block, (6, 6, 16), zero_init_last_norm=True, **kwargs)
    np.testing.assert_allclose(v1(x, training=False), np.maximum(x, 0), atol=1e-6)  # v1: ReLU of the input
    last = "b_conv2_bn" if block is basic_block else "b_conv3_bn"
    assert np.all(np.asarray(v1.get_layer(last).gamma) == 0)
    assert np.all(np.asarray(block_model(block, (6, 6, 16), **kwargs).get_layer(last).gamma) == 1)


@pytest.mark.parametrize("preactivation", [False, True])
def test_squeeze_excite_scales_the_branch_before_the_add(preactivation):
    model = block_model(bottleneck_block, (8, 8, 256), filters=64, se=SE, preactivation=preactivation)
    assert model.get_layer("b_se_reduce").filters == 16        # 256 / 16
    assert model.get_layer("b_se_expand").filters == 256
    assert model.get_layer("b_se_gate").get_config()["activation"] == "sigmoid"
    assert model.get_layer("b_add").input[1] is model.get_layer("b_se_scale").output
    plain = block_model(bottleneck_block, (8, 8, 256), filters=64, preactivation=preactivation)
    assert model.count_params() - plain.count_params() == (256 * 16 + 16) + (16 * 256 + 256)


def test_dropout_sits_between_the_two_convolutions():
    model = block_model(basic_block, (8, 8, 16), filters=16, preactivation=True, dropout=0.3)
    dropout = model.get_layer("b_dropout")
    assert dropout.rate == 0.3
    assert dropout.input is model.get_layer("b_conv1_act").output
    assert model.get_layer("b_conv2_conv").input is dropout.output


def test_convolutions_have_no_bias():
    model = block_model(bottleneck_block, (8, 8, 32), filters=16, strides=2, preactivation=True)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 4 and not any(conv.use_bias for conv in convs)


def test_grouped_block_trains_with_and_without_xla():
    inputs = keras.Input((8, 8, 64))
    x = bottleneck_block(inputs, 32, strides=2, groups=32, width_per_group=2, name="b")
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    weights = model.get_weights()
    x = np.random.default_rng(3).normal(size=(4, 8, 8, 64)).astype("float32")
    y = np.array([0, 1, 2, 0])
    losses = []
    for jit in (False, True):
        model.set_weights(weights)
        model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit)
        losses.append(model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False).history["loss"])
    assert np.all(np.isfinite(losses))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def layers_of(model, kind):
    return [layer for layer in model.layers if type(layer) is kind]


@pytest.mark.parametrize("block, kwargs, norms", [
    (basic_block, {"filters": 16, "strides": 2}, ["conv1", "conv2", "shortcut"]),
    (bottleneck_block, {"filters": 8, "strides": 2}, ["conv1", "conv2", "conv3", "shortcut"]),
])
def test_group_norm_replaces_every_batchnorm_with_the_same_trainable_parameters(block, kwargs, norms):
    batch = block_model(block, (8, 8, 8), **kwargs)
    group = block_model(block, (8, 8, 8), norm="group", **kwargs)
    assert not layers_of(group, FusedBatchNormalization)
    assert sorted(layer.name for layer in layers_of(group, keras.layers.GroupNormalization)) == [f"b_{n}_gn" for n in norms]
    assert all(layer.groups == min(32, layer.gamma.shape[0]) for layer in layers_of(group, keras.layers.GroupNormalization))
    assert trainable_count(group) == trainable_count(batch)          # γ, β per channel in both
    assert group.count_params() == batch.count_params() - 2 * sum(layer.gamma.shape[0] for layer in layers_of(batch, FusedBatchNormalization))


@pytest.mark.parametrize("norm", ["layer", "instance"])
def test_v2_pre_activations_use_the_chosen_norm(norm):
    model = block_model(basic_block, (6, 6, 8), filters=16, preactivation=True, norm=norm)
    suffix = {"layer": "ln", "instance": "in"}[norm]
    assert {f"b_preact_{suffix}", f"b_conv1_{suffix}"} <= layer_names(model)
    assert model.get_layer(f"b_preact_{suffix}").input is model.input
    assert not layers_of(model, FusedBatchNormalization)


@pytest.mark.parametrize("block, kwargs", [(basic_block, {"filters": 16}), (bottleneck_block, {"filters": 4})])
def test_zero_init_last_norm_with_group_norm(block, kwargs):
    model = block_model(block, (6, 6, 16), zero_init_last_norm=True, norm="group", **kwargs)
    last = "b_conv2_gn" if block is basic_block else "b_conv3_gn"
    assert np.all(np.asarray(model.get_layer(last).gamma) == 0)
    assert np.all(np.asarray(model.get_layer("b_conv1_gn").gamma) == 1)
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 16)).astype("float32")
    np.testing.assert_allclose(model(x, training=True), np.maximum(x, 0), atol=1e-6)   # v1: ReLU(x + 0)


@pytest.mark.parametrize("block, kwargs", [(basic_block, {"filters": 16, "se": SE}), (bottleneck_block, {"filters": 4})])
def test_drop_path_sits_on_the_branch_just_before_the_add(block, kwargs):
    model = block_model(block, (6, 6, 16), drop_path=0.3, **kwargs)
    drop = model.get_layer("b_drop_path")
    assert drop.rate == 0.3
    assert model.get_layer("b_add").input[1] is drop.output
    assert model.get_layer("b_add").input[0] is model.input
    if "se" in kwargs:
        assert drop.input is model.get_layer("b_se_scale").output
    assert "b_drop_path" not in layer_names(block_model(block, (6, 6, 16), **kwargs))


@pytest.mark.parametrize("preactivation", [False, True])
def test_drop_path_keeps_or_drops_each_example_branch_in_training_and_is_inert_at_inference(preactivation):
    # layer norm keeps no batch statistics, so the branch f(x) is the same in training and at inference
    keras.utils.set_random_seed(0)
    kwargs = {"filters": 8, "preactivation": preactivation, "norm": "layer"}
    plain = block_model(basic_block, (4, 4, 8), **kwargs)
    dropping = block_model(basic_block, (4, 4, 8), drop_path=0.5, **kwargs)
    dropping.set_weights(plain.get_weights())
    x = np.random.default_rng(5).normal(size=(32, 4, 4, 8)).astype("float32")
    np.testing.assert_array_equal(dropping(x, training=False), plain(x, training=False))
    branch = np.asarray(keras.Model(plain.input, plain.get_layer("b_add").output)(x)) - x   # f(x), before v1's final ReLU
    finish = (lambda s: s) if preactivation else (lambda s: np.maximum(s, 0))
    y = np.asarray(dropping(x, training=True))
    kept = np.array([np.allclose(y[i], finish(x[i] + 2 * branch[i]), atol=1e-4) for i in range(len(x))])
    dropped = np.array([np.allclose(y[i], finish(x[i]), atol=1e-6) for i in range(len(x))])
    assert np.all(kept ^ dropped)                              # every example is one or the other
    assert 4 <= dropped.sum() <= 28                            # rate 0.5 over 32 examples


@pytest.mark.parametrize("strides, channels", [(1, 16), (2, 8)])
def test_plain_block_is_the_residual_branch_without_the_add(strides, channels):
    x = np.random.default_rng(1).normal(size=(2, 8, 8, channels)).astype("float32")
    residual = block_model(basic_block, (8, 8, channels), filters=16, strides=strides, shortcut="projection")
    plain = block_model(basic_block, (8, 8, channels), filters=16, strides=strides, shortcut="none")
    assert not any("add" in name or "shortcut" in name for name in layer_names(plain))
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(residual.get_layer(layer.name).get_weights())
    branch = keras.Model(residual.input, residual.get_layer("b_conv2_bn").output)
    np.testing.assert_allclose(plain(x), np.maximum(branch(x), 0), rtol=1e-5, atol=1e-5)
    assert not np.allclose(plain(x), residual(x))


def test_plain_block_refuses_stochastic_depth():
    with pytest.raises(ValueError, match="drop_path needs a shortcut"):
        block_model(basic_block, (8, 8, 16), filters=16, shortcut="none", drop_path=0.1)
