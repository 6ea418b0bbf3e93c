"""EfficientNet against keras.applications; compound scaling, MBConv's SE, small inputs (reference counts: test_zoo.py)."""

import math

import keras
import numpy as np
import pytest

from kerascv_suite.layers.inverted_residual import inverted_residual
from kerascv_suite.layers.squeeze_excite import squeeze_excite
from kerascv_suite.models.efficientnet import B0_STAGES, efficientnet
from kerascv_suite.spec import validate_spec

KERAS_NORMALIZATION_WEIGHTS = 3 + 3 + 1   # keras.applications' Normalization layer: mean, variance (3 channels), count


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_b0_equals_keras_applications_built_here():
    reference = keras.applications.EfficientNetB0(weights=None)
    model = efficientnet((224, 224, 3), 1000)
    assert model.count_params() == reference.count_params() - KERAS_NORMALIZATION_WEIGHTS
    assert trainable_params(model) == trainable_params(reference)


def test_coefficients_are_the_variants():
    # B3 is B0 with width 1.2 and depth 1.4: the same code, two numbers
    b3 = efficientnet((64, 64, 3), 1000, variant="b3")
    b0_scaled = efficientnet((64, 64, 3), 1000, variant="b0", width_coefficient=1.2, depth_coefficient=1.4)
    assert b0_scaled.count_params() == b3.count_params()
    assert [layer.name for layer in b0_scaled.layers] == [layer.name for layer in b3.layers]


def blocks_per_stage(model):
    counts = {}
    for layer in model.layers:
        if layer.name.endswith("_project_conv"):
            stage = layer.name.split("_")[0]
            counts[stage] = counts.get(stage, 0) + 1
    return counts


@pytest.mark.parametrize("width, depth", [(1.0, 1.0), (2.0, 3.1), (0.5, 0.5)])
def test_compound_scaling_rounds_widths_to_8_and_repeats_up(width, depth):
    model = efficientnet((32, 32, 3), 10, width_coefficient=width, depth_coefficient=depth)
    assert blocks_per_stage(model) == {f"stage{i}": math.ceil(s.repeats * depth) for i, s in enumerate(B0_STAGES, start=1)}
    for i, stage in enumerate(B0_STAGES, start=1):
        filters = model.get_layer(f"stage{i}_block1_project_conv").filters
        assert filters % 8 == 0 and 0.9 * stage.filters * width <= filters <= 1.1 * stage.filters * width + 4
    assert model.get_layer("stem_conv").filters == {1.0: 32, 2.0: 64, 0.5: 16}[width]
    assert model.get_layer("last_conv_conv").filters == {1.0: 1280, 2.0: 2560, 0.5: 640}[width]


def test_squeeze_excite_is_a_quarter_of_the_block_input():
    model = efficientnet((32, 32, 3), 10)
    for i, stage in enumerate(B0_STAGES, start=1):
        for b in range(1, stage.repeats + 1):
            block_input = model.get_layer(f"stage{i}_block{b}_depthwise_conv").input.shape[-1] // stage.expansion
            assert model.get_layer(f"stage{i}_block{b}_se_reduce").filters == block_input // 4
            assert model.get_layer(f"stage{i}_block{b}_se_expand").filters == block_input * stage.expansion
    assert model.get_layer("stage2_block1_se_reduce").filters == 4        # input 16, expanded 96: MobileNetV3's rule gives 24


def test_se_from_input_and_base_channels_leave_the_mobilenet_rule_unchanged():
    inputs = keras.Input((8, 8, 40))
    se = {"ratio": 0.25, "divisor": 1, "activation": "swish"}
    efficient = keras.Model(inputs, inverted_residual(inputs, 80, 6, 3, se=se, se_from_input=True, name="e"))
    mobile = keras.Model(inputs, inverted_residual(inputs, 80, 6, 3, se=se, name="m"))
    assert efficient.get_layer("e_se_reduce").filters == 10       # 40 / 4
    assert mobile.get_layer("m_se_reduce").filters == 60          # 240 / 4
    direct = keras.Model(inputs, squeeze_excite(inputs, 0.25, 1, base_channels=16, name="s"))
    assert direct.get_layer("s_reduce").filters == 4 and direct.get_layer("s_expand").filters == 40


def test_residual_only_where_shapes_are_kept_and_activations_are_swish():
    model = efficientnet((32, 32, 3), 10)
    adds = {layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)}
    expected = {f"stage{i}_block{b}_add" for i, s in enumerate(B0_STAGES, start=1) for b in range(2, s.repeats + 1)}
    assert adds == expected                                         # every first block changes width or resolution
    acts = {layer.get_config()["activation"] for layer in model.layers
            if isinstance(layer, keras.layers.Activation) and not layer.name.endswith("_gate")}
    assert acts == {"silu"}                                         # Keras serialises "swish" as its other name


def last_feature_map(model):
    return tuple(model.get_layer("last_conv_act").output.shape[1:])


def test_output_shapes():
    imagenet = efficientnet((224, 224, 3), 1000)
    assert imagenet.output_shape == (None, 1000)
    assert last_feature_map(imagenet) == (7, 7, 1280)                # 224 / 32
    digits = efficientnet((32, 32, 1), 10)
    assert digits.output_shape == (None, 10)
    assert last_feature_map(digits) == (4, 4, 1280)                  # small input: 32 / 8
    assert digits(np.zeros((2, 32, 32, 1), "float32")).shape == (2, 10)


@pytest.mark.parametrize("size, small_input, expected", [(32, None, 4), (32, False, 1), (48, None, 6), (64, None, 2), (224, True, 28)])
def test_small_input_stem(size, small_input, expected):
    model = efficientnet((size, size, 3), 10, width_coefficient=0.5, depth_coefficient=0.5, small_input=small_input)
    assert last_feature_map(model)[:2] == (expected, expected)
    small = small_input or (small_input is None and size < 64)
    assert model.get_layer("stem_conv").strides == ((1, 1) if small else (2, 2))
    assert model.get_layer("stage2_block1_depthwise_conv").strides == ((1, 1) if small else (2, 2))
    assert model.get_layer("stage3_block1_depthwise_conv").strides == (2, 2)


def test_batchnorm_and_dropout_arguments_are_applied():
    model = efficientnet((32, 32, 1), 10, bn_momentum=0.8, bn_epsilon=1e-5, dropout=0.3, depth_coefficient=0.5)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == 0.8 and layer.epsilon == 1e-5 for layer in norms)
    assert model.get_layer("dropout").rate == 0.3
    assert "dropout" not in {layer.name for layer in efficientnet((32, 32, 1), 10, depth_coefficient=0.5).layers}


def test_save_and_reload_round_trip(tmp_path):
    model = efficientnet((32, 32, 1), 10, width_coefficient=0.5, depth_coefficient=0.5)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)


def test_spec_keys_are_the_constructor_arguments():
    spec = validate_spec({"name": "t", "model": {"name": "efficientnet", "variant": "b2", "depth_coefficient": 0.5}})
    assert spec.model.variant == "b2" and spec.model.depth_coefficient == 0.5 and spec.model.width_coefficient is None
    for bad in ({"variant": "b8"}, {"width_coefficient": 0}, {"dropout": 1.0}):
        with pytest.raises(Exception, match="variant|width_coefficient|dropout"):
            validate_spec({"name": "t", "model": {"name": "efficientnet", **bad}})
