"""conv_dropout: spatial dropout zeroes whole (example, channel) maps and rescales the rest; standard dropout single activations."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers.spatial_dropout import conv_dropout

B, SIZE, C = 8, 6, 64


def dropout_model(rate, kind):
    inputs = keras.Input((SIZE, SIZE, C))
    return keras.Model(inputs, conv_dropout(inputs, rate, kind=kind, name="drop"))


def test_spatial_dropout_drops_whole_channels_and_scales_the_kept_ones():
    x = np.random.default_rng(0).uniform(0.5, 1.5, (B, SIZE, SIZE, C)).astype("float32")
    out = np.asarray(dropout_model(0.5, "spatial")(x, training=True))
    dropped = out == 0.0
    per_map = dropped.reshape(B, SIZE * SIZE, C)
    assert (per_map.all(axis=1) | ~per_map.any(axis=1)).all()   # every (example, channel) map is all dropped or all kept
    np.testing.assert_allclose(out[~dropped], 2.0 * x[~dropped], rtol=1e-6)   # kept maps: x / (1 − 0.5)
    channel_dropped = per_map.all(axis=1)   # [B, C]
    # 512 Bernoulli(0.5) maps: the dropped fraction lies within 0.5 ± 0.1 (4.5 standard deviations)
    assert abs(channel_dropped.mean() - 0.5) < 0.1
    assert not (channel_dropped == channel_dropped[:1]).all()   # each example draws its own channels


def test_standard_dropout_drops_single_activations():
    x = np.ones((B, SIZE, SIZE, C), "float32")
    out = np.asarray(dropout_model(0.5, "standard")(x, training=True))
    per_map = (out == 0.0).reshape(B, SIZE * SIZE, C)
    assert per_map.any(axis=1).all() and not per_map.all(axis=1).any()   # with 36 pixels, every map is partly dropped


@pytest.mark.parametrize("kind", ["standard", "spatial"])
def test_inference_is_the_identity_and_rate_zero_adds_no_layer(kind):
    x = np.random.default_rng(1).normal(size=(2, SIZE, SIZE, C)).astype("float32")
    model = dropout_model(0.5, kind)
    np.testing.assert_array_equal(np.asarray(model(x)), x)
    expected = keras.layers.SpatialDropout2D if kind == "spatial" else keras.layers.Dropout
    assert type(model.get_layer("drop")) is expected
    assert len(dropout_model(0.0, kind).layers) == 1   # the input alone


@pytest.mark.parametrize("model, kwargs", [("densenet", {"depth": 121, "growth_rate": 4}), ("wide_resnet", {"depth": 10, "widen_factor": 1})])
def test_a_spec_chooses_spatial_dropout_in_the_families_that_drop_inside_their_blocks(model, kwargs):
    from kerascv_suite.registry import MODELS, load_components

    load_components()
    built = MODELS.get(model)((32, 32, 1), 10, dropout=0.2, dropout_kind="spatial", **kwargs)
    spatial = [layer for layer in built.layers if isinstance(layer, keras.layers.SpatialDropout2D)]
    plain = [layer for layer in built.layers if type(layer) is keras.layers.Dropout]
    assert spatial and not plain and all(layer.rate == 0.2 for layer in spatial)
