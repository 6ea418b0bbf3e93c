"""LeNet-5 against the paper's arithmetic."""

import numpy as np
import pytest

from kerascv_suite.data.pipeline import DataInfo
from kerascv_suite.layers.fractional_pooling import FractionalMaxPooling2D
from kerascv_suite.models import build_model
from kerascv_suite.models.lenet import lenet5
from kerascv_suite.spec import validate_spec
from kerascv_suite.spec.errors import UserError


def test_parameter_count_matches_the_paper_arithmetic():
    model = lenet5((32, 32, 1), 10)
    # c1 (5·5·1+1)·6, c3 (5·5·6+1)·16, c5 (400+1)·120, f6 (120+1)·84, output (84+1)·10
    expected = 156 + 2416 + 48120 + 10164 + 850
    assert model.count_params() == expected == 61706
    assert model.output_shape == (None, 10)
    assert [layer.output.shape[1:] for layer in model.layers if layer.name in ("c1", "s2", "c3", "s4")] == [
        (28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16)
    ]


def test_too_small_input_is_a_one_line_user_error():
    spec = validate_spec({"name": "t", "model": {"name": "lenet5"}})
    info = DataInfo(input_shape=(8, 8, 1), num_classes=10, class_names=list("0123456789"), split_sizes={"train": 10})
    with pytest.raises(UserError, match="lenet5.*at least 32×32.*resize"):
        build_model(spec, info)


def test_activation_layers_follow_every_weighted_layer():
    model = lenet5((32, 32, 1), 10, activation="relu")
    for name in ("c1", "c3", "c5", "f6"):
        act = model.get_layer(f"{name}_act")
        assert act.input is model.get_layer(name).output
        assert act.get_config()["activation"] == "relu"
    assert model.get_layer("c1").get_config()["activation"] == "linear"
    assert model.count_params() == 61706


def test_leaky_relu_lenet_keeps_the_parameter_count():
    model = lenet5((32, 32, 1), 10, activation="leaky_relu")
    assert model.count_params() == 61706
    assert model.get_layer("f6_act").negative_slope == pytest.approx(0.01)


def test_prelu_adds_one_learned_slope_per_channel_or_unit():
    model = lenet5((32, 32, 1), 10, activation="prelu")
    slopes = {name: model.get_layer(f"{name}_act").count_params() for name in ("c1", "c3", "c5", "f6")}
    assert slopes == {"c1": 6, "c3": 16, "c5": 120, "f6": 84}     # He et al. (2015): channel-wise slopes
    assert model.count_params() == 61706 + 6 + 16 + 120 + 84
    assert model(np.zeros((2, 32, 32, 1), "float32")).shape == (2, 10)


def test_fractional_max_pooling_lenet():
    model = lenet5((32, 32, 1), 10, pooling="fractional_max", fractional_ratio=1.414)
    for name in ("s2", "s4"):
        layer = model.get_layer(name)
        assert type(layer) is FractionalMaxPooling2D and layer.pooling_ratio == (1.414, 1.414)
    # 32 → c1 28 → s2 ⌊28/1.414⌋ = 19 → c3 15 → s4 ⌊15/1.414⌋ = 10
    assert [model.get_layer(name).output.shape[1:] for name in ("c1", "s2", "c3", "s4")] == [
        (28, 28, 6), (19, 19, 6), (15, 15, 16), (10, 10, 16)]
    assert model.count_params() == 156 + 2416 + (10 * 10 * 16 + 1) * 120 + 10164 + 850
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype("float32")
    assert model(x, training=True).shape == model(x).shape == (2, 10)
    np.testing.assert_array_equal(model(x), model(x))     # inference pools deterministically
    assert model.output_shape == (None, 10)


def test_fractional_ratio_sets_the_map_size():
    model = lenet5((32, 32, 1), 10, pooling="fractional_max", fractional_ratio=1.9)
    assert model.get_layer("s2").output.shape[1:3] == (14, 14)    # ⌊28/1.9⌋
    assert model.get_layer("s4").output.shape[1:3] == (5, 5)      # ⌊10/1.9⌋


def test_maxout_is_refused():
    with pytest.raises(ValueError, match="maxout"):
        lenet5((32, 32, 1), 10, activation="maxout")
