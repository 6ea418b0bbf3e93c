"""ShuffleNetV2: the unit, stage widths and the small-input stem (reference counts: test_zoo.py)."""

import keras
import numpy as np
import pytest

from kerascv_suite.models.shufflenet import STAGE_WIDTHS, shuffle_unit, shufflenet_v2
from kerascv_suite.spec import validate_spec

IMAGENET = ((224, 224, 3), 1000)


def last_feature_map(model):
    return tuple(model.get_layer("last_conv_act").output.shape[1:])


def test_output_shapes():
    imagenet = shufflenet_v2(*IMAGENET)
    assert imagenet.output_shape == (None, 1000)
    assert last_feature_map(imagenet) == (7, 7, 1024)                # 224 / 32
    digits = shufflenet_v2((32, 32, 1), 10, width_multiplier=2.0)
    assert digits.output_shape == (None, 10)
    assert last_feature_map(digits) == (4, 4, 2048)                  # small input: 32 / 8
    assert digits(np.zeros((2, 32, 32, 1), "float32")).shape == (2, 10)


@pytest.mark.parametrize("size, small_input, expected", [
    (32, None, 4), (32, False, 1), (48, None, 6), (64, None, 2), (224, True, 28),
])
def test_small_input_stem(size, small_input, expected):
    model = shufflenet_v2((size, size, 3), 10, width_multiplier=0.5, small_input=small_input)
    assert last_feature_map(model)[:2] == (expected, expected)
    small = small_input or (small_input is None and size < 64)
    assert model.get_layer("stem_conv").strides == ((1, 1) if small else (2, 2))
    assert ("stem_pool" in {layer.name for layer in model.layers}) is not small


@pytest.mark.parametrize("width", STAGE_WIDTHS)
def test_stage_widths_and_repeats_follow_table_5(width):
    model = shufflenet_v2((32, 32, 3), 10, width_multiplier=width)
    units = {}
    for layer in model.layers:
        if layer.name.endswith("_shuffle"):
            stage = layer.name.split("_")[0]
            units.setdefault(stage, []).append(layer.output.shape[-1])
    assert units == {f"stage{i + 2}": [c] * n for i, (c, n) in enumerate(zip(STAGE_WIDTHS[width][:3], (4, 8, 4)))}
    assert model.get_layer("last_conv_conv").filters == STAGE_WIDTHS[width][3]


def unit_model(channels, filters, strides):
    inputs = keras.Input((8, 8, channels))
    return keras.Model(inputs, shuffle_unit(inputs, filters, strides, {"norm_momentum": 0.9, "norm_epsilon": 1e-5}, name="u"))


def test_stride_one_unit_passes_half_the_channels_and_shuffles():
    model = unit_model(16, 16, 1)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype("float32")
    y = np.asarray(model(x, training=False))
    np.testing.assert_array_equal(y[..., 0::2], x[..., :8])      # the passed half, interleaved by the shuffle
    branch = keras.Model(model.input, model.get_layer("u_branch2_project_act").output)
    np.testing.assert_allclose(y[..., 1::2], branch(x, training=False), rtol=1e-6)
    assert model.get_layer("u_branch2_pointwise_conv").input.shape[-1] == 8   # the branch sees the other half only
    # 1×1 conv, depthwise 3×3 and 1×1 conv on 8 channels, each with BatchNorm (4 weights per channel)
    assert model.count_params() == (8 * 8 + 4 * 8) + (9 * 8 + 4 * 8) + (8 * 8 + 4 * 8)


def test_stride_two_unit_doubles_width_from_two_branches():
    model = unit_model(24, 48, 2)
    assert model.output_shape == (None, 4, 4, 48)
    assert model.get_layer("u_branch1_depthwise_conv").strides == (2, 2)
    assert model.get_layer("u_branch2_depthwise_conv").strides == (2, 2)
    assert not any(layer.name.startswith("u_split") for layer in model.layers)
    branch1 = (9 * 24 + 4 * 24) + (24 * 24 + 4 * 24)
    branch2 = (24 * 24 + 4 * 24) + (9 * 24 + 4 * 24) + (24 * 24 + 4 * 24)
    assert model.count_params() == branch1 + branch2


def test_save_and_reload_round_trip(tmp_path):
    model = shufflenet_v2((32, 32, 1), 10, width_multiplier=0.5, dropout=0.2)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)
    assert reloaded.get_layer("dropout").rate == 0.2


def test_spec_keys_are_the_constructor_arguments():
    spec = validate_spec({"name": "t", "model": {"name": "shufflenet_v2", "width_multiplier": 0.5, "small_input": True}})
    assert spec.model.width_multiplier == 0.5 and spec.model.small_input is True
    for bad in ({"width_multiplier": 0.75}, {"dropout": 1.0}):
        with pytest.raises(Exception, match="width_multiplier|dropout"):
            validate_spec({"name": "t", "model": {"name": "shufflenet_v2", **bad}})
