"""MobileNetV1/V2/V3 against keras.applications, the width-multiplier rule and the small-input stem."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers import make_divisible
from kerascv_suite.models.arithmetic import summary
from kerascv_suite.models.mobilenet import (
    V1_BLOCKS,
    V2_STAGES,
    V3_SMALL_STAGES,
    mobilenet_v1,
    mobilenet_v2,
    mobilenet_v3_large,
    mobilenet_v3_small,
)
from kerascv_suite.spec import validate_spec

IMAGENET = ((224, 224, 3), 1000)
REFERENCES = {
    "v1": (mobilenet_v1, lambda **kw: keras.applications.MobileNet(weights=None, **kw), 4_253_864),
    "v2": (mobilenet_v2, lambda **kw: keras.applications.MobileNetV2(weights=None, **kw), 3_538_984),
    "v3_small": (mobilenet_v3_small, lambda **kw: keras.applications.MobileNetV3Small(weights=None, include_preprocessing=False, **kw), 2_554_968),
    "v3_large": (mobilenet_v3_large, lambda **kw: keras.applications.MobileNetV3Large(weights=None, include_preprocessing=False, **kw), 5_507_432),
}


@pytest.mark.parametrize("family", REFERENCES)
def test_imagenet_parameter_count_equals_keras_applications(family):
    ours, reference, documented = REFERENCES[family]
    assert ours(*IMAGENET).count_params() == reference().count_params() == documented


@pytest.mark.parametrize("family, alpha", [("v1", 0.25), ("v1", 0.75), ("v2", 0.35), ("v2", 1.4), ("v3_small", 0.75), ("v3_large", 0.5)])
def test_width_multiplier_parameter_count_equals_keras_applications(family, alpha):
    ours, reference, _ = REFERENCES[family]
    assert ours(*IMAGENET, width_multiplier=alpha).count_params() == reference(alpha=alpha).count_params()


def test_minimalistic_equals_keras_applications():
    reference = keras.applications.MobileNetV3Small(weights=None, include_preprocessing=False, minimalistic=True)
    assert mobilenet_v3_small(*IMAGENET, minimalistic=True).count_params() == reference.count_params()


def last_feature_map(model):
    return tuple(model.get_layer("last_conv_act").output.shape[1:3])


@pytest.mark.parametrize("builder", [mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large])
def test_output_shapes(builder):
    imagenet = builder(*IMAGENET)
    assert imagenet.output_shape == (None, 1000)
    assert last_feature_map(imagenet) == (7, 7)            # 224 / 32
    digits = builder((32, 32, 1), 10)
    assert digits.output_shape == (None, 10)
    assert last_feature_map(digits) == (4, 4)              # small-input stem: 32 / 8
    logits = digits(np.zeros((2, 32, 32, 1), "float32"))
    assert logits.shape == (2, 10)


@pytest.mark.parametrize("size, small_input, expected", [
    (32, None, 4), (32, True, 4), (32, False, 1),          # without the adapted stem 32×32 ends as one pixel
    (48, None, 6), (64, None, 2), (224, True, 28),
])
def test_small_input_stem(size, small_input, expected):
    model = mobilenet_v3_small((size, size, 3), 10, small_input=small_input)
    assert last_feature_map(model) == (expected, expected)
    assert model.get_layer("stem_conv").strides == ((1, 1) if (small_input or (small_input is None and size < 64)) else (2, 2))


def block_widths(model):
    return [layer.filters for layer in model.layers if layer.name.startswith("block") and layer.name.endswith("_project_conv")]


@pytest.mark.parametrize("alpha", [0.35, 0.5, 1.3])
def test_width_multiplier_follows_make_divisible(alpha):
    v2 = mobilenet_v2((32, 32, 3), 10, width_multiplier=alpha)
    assert v2.get_layer("stem_conv").filters == make_divisible(32 * alpha)
    assert block_widths(v2) == [make_divisible(int(s.filters * alpha)) for s in V2_STAGES for _ in range(s.repeats)]
    assert v2.get_layer("last_conv_conv").filters == (make_divisible(1280 * alpha) if alpha > 1 else 1280)
    v3 = mobilenet_v3_small((32, 32, 3), 10, width_multiplier=alpha)
    widths = [make_divisible(s.filters * alpha) for s in V3_SMALL_STAGES for _ in range(s.repeats)]
    assert block_widths(v3) == widths
    assert v3.get_layer("stem_conv").filters == 16
    assert v3.get_layer("last_conv_conv").filters == make_divisible(6 * widths[-1])


def test_batchnorm_momentum_and_dropout_are_applied():
    model = mobilenet_v3_small((32, 32, 1), 10, bn_momentum=0.8, dropout=0.3)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == 0.8 for layer in norms)
    assert model.get_layer("dropout").rate == 0.3
    assert "dropout" not in {layer.name for layer in mobilenet_v2((32, 32, 1), 10, dropout=0.0).layers}


def test_save_and_reload_round_trip(tmp_path):
    model = mobilenet_v3_small((32, 32, 1), 10, width_multiplier=0.5)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)


def test_spec_keys_are_the_constructor_arguments():
    spec = validate_spec({"name": "t", "model": {"name": "mobilenet_v3_small", "width_multiplier": 0.75, "small_input": True}})
    assert spec.model.width_multiplier == 0.75 and spec.model.small_input is True
    for bad in ({"dropout": 1.0}, {"width_multiplier": 0}, {"widht_multiplier": 1.0}):
        with pytest.raises(Exception, match="dropout|width_multiplier|widht_multiplier"):
            validate_spec({"name": "t", "model": {"name": "mobilenet_v2", **bad}})


def test_v1_multiply_accumulates_follow_the_closed_form_and_the_paper():
    def macs(alpha, size=224):
        side = size // 2
        total = side * side * 3 * 3 * 3 * int(32 * alpha)                  # stem: 3×3/2 convolution on 3 channels
        channels = int(32 * alpha)
        for filters, strides in V1_BLOCKS:
            side //= strides
            filters = int(filters * alpha)
            total += side * side * (3 * 3 * channels + channels * filters)   # depthwise 3×3 + pointwise 1×1
            channels = filters
        return total + channels * 1000                                     # classifier
    for alpha, paper in [(1.0, 569e6), (0.75, 325e6), (0.5, 149e6), (0.25, 41e6)]:   # the paper's Table 6
        counted = summary(mobilenet_v1(*IMAGENET, width_multiplier=alpha))[-1].macs
        assert counted == macs(alpha)
        assert counted == pytest.approx(paper, rel=0.01)


@pytest.mark.parametrize("size, small_input, expected", [(224, None, 7), (32, None, 4), (32, False, 1), (48, None, 6), (224, True, 28)])
def test_v1_feature_map_and_small_input_stem(size, small_input, expected):
    model = mobilenet_v1((size, size, 1), 10, width_multiplier=0.25, small_input=small_input)
    assert model.output_shape == (None, 10)
    assert tuple(model.get_layer("block13_project_act").output.shape[1:]) == (expected, expected, 256)
    small = small_input or (small_input is None and size < 64)
    assert model.get_layer("stem_conv").strides == ((1, 1) if small else (2, 2))
    assert model.get_layer("block2_depthwise_conv").strides == ((1, 1) if small else (2, 2))
    assert model.get_layer("block4_depthwise_conv").strides == (2, 2)


def test_v1_blocks_are_depthwise_separable_with_the_chosen_activation():
    model = mobilenet_v1((32, 32, 3), 10, width_multiplier=0.5, activation="relu", dropout=0.1)
    assert [model.get_layer(f"block{i}_project_conv").filters for i in range(1, 14)] == [int(f * 0.5) for f, _ in V1_BLOCKS]
    assert all(isinstance(model.get_layer(f"block{i}_depthwise_conv"), keras.layers.DepthwiseConv2D) for i in range(1, 14))
    acts = {layer.get_config()["activation"] for layer in model.layers if isinstance(layer, keras.layers.Activation)}
    assert acts == {"relu"}
    assert {layer.get_config()["activation"] for layer in mobilenet_v1((32, 32, 3), 10).layers
            if isinstance(layer, keras.layers.Activation)} == {"relu6"}
    assert model.get_layer("dropout").rate == 0.1
