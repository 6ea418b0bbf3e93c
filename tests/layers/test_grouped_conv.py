"""GroupedConv2D computes, counts and saves exactly as Conv2D(groups=g)."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers.grouped_conv import GroupedConv2D
from kerascv_suite.models.arithmetic import layer_macs


@pytest.mark.parametrize("groups, strides", [(4, 1), (8, 2)])
def test_grouped_conv_computes_what_conv2d_groups_computes(groups, strides):
    x = np.random.default_rng(4).normal(size=(2, 9, 9, 16)).astype("float32")
    native = keras.layers.Conv2D(32, 3, strides=strides, padding="same", groups=groups, use_bias=False)
    ours = GroupedConv2D.from_config(native.get_config())
    symbolic = keras.Input((9, 9, 16))
    native(symbolic), ours(symbolic)
    ours.set_weights(native.get_weights())
    assert ours.kernel.shape == (3, 3, 16 // groups, 32) and ours.count_params() == 9 * (16 // groups) * 32
    np.testing.assert_allclose(ours(x), native(x), rtol=1e-5, atol=1e-5)
    side = -(-9 // strides)
    assert layer_macs(ours) == layer_macs(native) == side * side * 9 * (16 // groups) * 32


def test_grouped_conv_round_trips_through_saving(tmp_path):
    inputs = keras.Input((8, 8, 16))
    model = keras.Model(inputs, GroupedConv2D(16, 3, padding="same", groups=4)(inputs))
    x = np.random.default_rng(5).normal(size=(2, 8, 8, 16)).astype("float32")
    model.save(tmp_path / "g.keras")
    reloaded = keras.saving.load_model(tmp_path / "g.keras")
    assert isinstance(reloaded.layers[1], GroupedConv2D) and reloaded.layers[1].groups == 4
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)
