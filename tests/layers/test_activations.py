"""Maxout and activation_layer: NumPy references, shapes, errors, configs and a save/reload round trip."""

import math

import keras
import numpy as np
import pytest

from kerascv_suite.layers.activations import (
    LEAKY_RELU_SLOPE,
    Activation,
    Maxout,
    activation_layer,
)


def numpy_maxout(x, pieces):
    *lead, features = x.shape
    return x.reshape(*lead, features // pieces, pieces).max(axis=-1)


@pytest.mark.parametrize("shape, pieces", [((3, 12), 2), ((3, 12), 3), ((3, 12), 4), ((2, 3, 4, 10), 5), ((2, 3, 4, 6), 2)])
def test_maxout_matches_numpy_reference(shape, pieces):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    out = np.asarray(Maxout(pieces)(x))
    assert out.shape == (*shape[:-1], shape[-1] // pieces)
    np.testing.assert_array_equal(out, numpy_maxout(x, pieces))


def test_maxout_groups_consecutive_features():
    x = np.array([[1.0, 5.0, -2.0, -3.0, 0.5, 0.25]], "float32")
    assert np.asarray(Maxout(2)(x)).tolist() == [[5.0, -2.0, 0.5]]
    assert np.asarray(Maxout(3)(x)).tolist() == [[5.0, 0.5]]


def test_maxout_output_shape():
    layer = Maxout(3)
    assert layer.compute_output_shape((None, 12)) == (None, 4)
    assert layer.compute_output_shape((None, 5, 5, 9)) == (None, 5, 5, 3)
    assert layer.compute_output_shape((None, None)) == (None, None)
    assert Maxout(4)(keras.Input((7, 7, 8))).shape == (None, 7, 7, 2)


def test_maxout_errors():
    with pytest.raises(ValueError, match="do not split"):
        Maxout(3)(keras.Input((10,)))
    for pieces in (1, 0, -2):
        with pytest.raises(ValueError, match="at least 2 pieces"):
            Maxout(pieces)


def test_maxout_config_round_trip_and_save_reload(tmp_path):
    layer = Maxout(4, name="mx")
    clone = Maxout.from_config(layer.get_config())
    assert (clone.name, clone.pieces) == ("mx", 4)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, Maxout(3, name="mx")(keras.layers.Dense(12, name="dense")(inputs)))
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.get_layer("mx").pieces == 3
    assert reloaded.output_shape == (None, 4)
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-6)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


SELU_LAMBDA, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772
erf = np.vectorize(math.erf)
REFERENCES = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, LEAKY_RELU_SLOPE * x),
    "prelu": lambda x: np.maximum(x, 0),                      # the learned slope starts at 0
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),   # keras.activations.gelu's default is the exact (erf) form
    "swish": lambda x: x * sigmoid(x),
    "softplus": lambda x: np.log1p(np.exp(x)),
}


def test_every_elementwise_name_has_a_reference():
    assert set(REFERENCES) == set(Activation.__args__) - {"maxout"}
    assert LEAKY_RELU_SLOPE == 0.01


@pytest.mark.parametrize("kind", sorted(REFERENCES))
def test_activation_layer_matches_numpy_formula(kind):
    x = np.linspace(-4, 4, 24, dtype="float32").reshape(2, 12)
    layer = activation_layer(kind, name=f"{kind}_act")
    assert layer.name == f"{kind}_act"
    np.testing.assert_allclose(np.asarray(layer(x)), REFERENCES[kind](x.astype("float64")), rtol=1e-5, atol=1e-6)


def test_leaky_relu_uses_the_cs231n_slope_not_the_keras_default():
    x = np.array([[-100.0, 3.0]], "float32")
    np.testing.assert_allclose(np.asarray(activation_layer("leaky_relu")(x)), [[-1.0, 3.0]], rtol=1e-6)


def test_gelu_is_not_the_tanh_approximation():
    x = np.array([[-2.0, -1.0, 1.0, 2.0]], "float32")
    approximate = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    out = np.asarray(activation_layer("gelu")(x))
    assert np.max(np.abs(out - approximate)) > 1e-4
    np.testing.assert_allclose(out, REFERENCES["gelu"](x), rtol=1e-5)


def test_prelu_slope_is_trainable_and_applies_to_negative_inputs():
    layer = activation_layer("prelu")
    x = np.array([[-2.0, -1.0, 3.0]], "float32")
    layer(x)
    assert [w.name for w in layer.trainable_weights] == ["alpha"]
    alpha = np.array([0.5, 0.25, 0.1], "float32")
    layer.set_weights([alpha])
    np.testing.assert_allclose(np.asarray(layer(x)), [[-1.0, -0.25, 3.0]], rtol=1e-6)


def test_prelu_learns_one_slope_per_channel_on_feature_maps():
    # "prelu: the negative slope is learned, one per channel (He et al., 2015)" (activations.py docstring)
    layer = activation_layer("prelu", feature_maps=True)
    layer(np.zeros((1, 5, 5, 3), "float32"))
    assert layer.count_params() == 3
    x = np.full((1, 2, 2, 3), -1.0, "float32")
    layer.set_weights([np.array([[[0.1, 0.2, 0.3]]], "float32")])
    np.testing.assert_allclose(np.asarray(layer(x)), np.broadcast_to([-0.1, -0.2, -0.3], x.shape), rtol=1e-6)


def test_unknown_and_maxout_names_are_refused():
    with pytest.raises(ValueError, match="unknown activation 'mish'.*allowed: sigmoid"):
        activation_layer("mish")
    with pytest.raises(ValueError, match="maxout.*Maxout\\(pieces\\)"):
        activation_layer("maxout")
