"""ChannelShuffle and ChannelSplit: a NumPy reference, shapes, configs and a save/reload round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers.channel_shuffle import ChannelShuffle, ChannelSplit


def numpy_shuffle(x, groups):
    *lead, channels = x.shape
    return x.reshape(*lead, groups, channels // groups).swapaxes(-1, -2).reshape(x.shape)


@pytest.mark.parametrize("channels, groups", [(6, 2), (12, 3), (8, 4), (116, 2)])
def test_shuffle_matches_numpy_reference(channels, groups):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, channels)).astype("float32")
    np.testing.assert_array_equal(ChannelShuffle(groups)(x), numpy_shuffle(x, groups))


def test_shuffle_interleaves_the_groups():
    x = np.arange(6.0, dtype="float32").reshape(1, 1, 1, 6)
    assert np.asarray(ChannelShuffle(2)(x)).ravel().tolist() == [0, 3, 1, 4, 2, 5]      # channel i·n + j → j·g + i
    assert np.asarray(ChannelShuffle(3)(x)).ravel().tolist() == [0, 2, 4, 1, 3, 5]


@pytest.mark.parametrize("groups", [2, 3])
def test_split_parts_concatenate_back_to_the_input(groups):
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 12)).astype("float32")
    parts = [np.asarray(ChannelSplit(groups, i)(x)) for i in range(groups)]
    assert all(part.shape == (2, 3, 3, 12 // groups) for part in parts)
    np.testing.assert_array_equal(np.concatenate(parts, axis=-1), x)


def test_channels_must_divide():
    with pytest.raises(ValueError, match="do not split"):
        ChannelShuffle(2)(keras.Input((4, 4, 5)))
    with pytest.raises(ValueError, match="do not split"):
        ChannelSplit(3, 0)(keras.Input((4, 4, 8)))
    with pytest.raises(ValueError, match="index"):
        ChannelSplit(2, 2)


def test_configs_round_trip():
    for layer in (ChannelShuffle(3, name="s"), ChannelSplit(4, 1, name="p")):
        clone = type(layer).from_config(layer.get_config())
        assert (clone.name, clone.groups, getattr(clone, "index", None)) == (layer.name, layer.groups, getattr(layer, "index", None))


def test_model_with_both_layers_saves_reloads_and_compiles_under_xla(tmp_path):
    inputs = keras.Input((4, 4, 8))
    halves = [ChannelSplit(2, i, name=f"split{i}")(inputs) for i in range(2)]
    x = keras.layers.Concatenate()([halves[0], keras.layers.Conv2D(4, 1, name="conv")(halves[1])])
    model = keras.Model(inputs, ChannelShuffle(2, name="shuffle")(x))
    assert model.output_shape == (None, 4, 4, 8)
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 8)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-6)
    np.testing.assert_allclose(tf.function(model, jit_compile=True)(x), model(x), rtol=1e-5, atol=1e-6)
