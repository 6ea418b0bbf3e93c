"""Linear classifier and MLP: shapes, parameter counts, and the L2 penalty they add."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers.activations import Activation
from kerascv_suite.layers.drop_connect import DropConnectDense
from kerascv_suite.models.linear import linear, mlp


def test_linear_is_one_dense_layer_on_the_flattened_image():
    model = linear((8, 8, 1), 10)
    assert model.count_params() == 64 * 10 + 10
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    kernel, bias = model.get_layer("logits").get_weights()
    np.testing.assert_allclose(model(x).numpy(), x.reshape(3, -1) @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_l2_penalty_is_lambda_times_the_squared_weights():
    model = linear((8, 8, 1), 10, l2=0.01)
    model(np.zeros((1, 8, 8, 1), "float32"))
    kernel = model.get_layer("logits").get_weights()[0]
    np.testing.assert_allclose(float(sum(model.losses)), 0.01 * np.sum(kernel**2), rtol=1e-5)


def test_mlp_layer_widths_and_parameter_count():
    model = mlp((8, 8, 1), 10, hidden=[128, 32], dropout=0.5)
    assert model.count_params() == (64 * 128 + 128) + (128 * 32 + 32) + (32 * 10 + 10)
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [128, 32, 10]


def test_linear_l1_and_elastic_net_penalties():
    for l1, l2 in [(0.01, 0.0), (0.003, 0.02)]:
        model = linear((4, 4, 1), 3, l1=l1, l2=l2)
        model(np.zeros((1, 4, 4, 1), "float32"))
        kernel = model.get_layer("logits").get_weights()[0].astype("float64")
        np.testing.assert_allclose(float(sum(model.losses)), l1 * np.abs(kernel).sum() + l2 * np.sum(kernel**2), rtol=1e-5)
    assert linear((4, 4, 1), 3).losses == []


def hidden_layers(model):
    return [layer for layer in model.layers if layer.name.startswith("hidden")]


def test_mlp_layer_names_with_norm_and_activation():
    model = mlp((4, 4, 1), 5, hidden=[8, 6], norm="layer", activation="tanh")
    assert [layer.name for layer in hidden_layers(model)] == [
        "hidden1", "hidden1_norm", "hidden1_act", "hidden2", "hidden2_norm", "hidden2_act"]
    assert model.get_layer("hidden2").input is model.get_layer("hidden1_act").output
    assert model.get_layer("logits").input is model.get_layer("hidden2_act").output
    assert model.get_layer("hidden1_act").get_config()["activation"] == "tanh"


@pytest.mark.parametrize("norm, kind, extra", [("batch", keras.layers.BatchNormalization, 4), ("layer", keras.layers.LayerNormalization, 2)])
def test_mlp_norm_between_dense_and_activation(norm, kind, extra):
    model = mlp((4, 4, 1), 5, hidden=[8], norm=norm)
    layer = model.get_layer("hidden1_norm")
    assert type(layer) is kind
    assert layer.input is model.get_layer("hidden1").output and model.get_layer("hidden1_act").input is layer.output
    assert model.count_params() == (16 * 8 + 8) + extra * 8 + (8 * 5 + 5)   # BatchNorm also keeps moving mean and variance
    assert not any(isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LayerNormalization))
                   for layer in mlp((4, 4, 1), 5, hidden=[8]).layers)


def test_maxout_mlp_multiplies_the_dense_widths_by_the_pieces():
    model = mlp((8, 8, 1), 10, hidden=[32, 16], activation="maxout", maxout_pieces=3)
    assert [model.get_layer(f"hidden{i}").units for i in (1, 2)] == [96, 48]
    assert [model.get_layer(f"hidden{i}_act").output.shape[-1] for i in (1, 2)] == [32, 16]
    assert model.count_params() == (64 * 96 + 96) + (32 * 48 + 48) + (16 * 10 + 10)


def test_maxout_mlp_matches_numpy_forward_pass():
    model = mlp((3, 3, 1), 4, hidden=[5], activation="maxout", maxout_pieces=2)
    x = np.random.default_rng(1).normal(size=(6, 3, 3, 1)).astype("float32")
    w1, b1 = model.get_layer("hidden1").get_weights()
    w2, b2 = model.get_layer("logits").get_weights()
    hidden = (x.reshape(6, -1) @ w1 + b1).reshape(6, 5, 2).max(axis=-1)
    np.testing.assert_allclose(model(x), hidden @ w2 + b2, rtol=1e-5, atol=1e-5)


ELEMENTWISE = {
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z), "prelu": lambda z: np.maximum(z, 0),
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)), "swish": lambda z: z / (1 + np.exp(-z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
}


@pytest.mark.parametrize("activation", [a for a in Activation.__args__ if a != "maxout"])
def test_every_activation_builds_and_runs(activation):
    model = mlp((3, 3, 1), 4, hidden=[7, 5], activation=activation)
    x = np.random.default_rng(2).normal(size=(3, 3, 3, 1)).astype("float32")
    out = np.asarray(model(x))
    assert out.shape == (3, 4) and np.all(np.isfinite(out))
    extra = 7 + 5 if activation == "prelu" else 0          # PReLU: one learned slope per hidden unit
    assert model.count_params() == (9 * 7 + 7) + (7 * 5 + 5) + (5 * 4 + 4) + extra
    if activation in ELEMENTWISE:
        h = x.reshape(3, -1).astype("float64")
        for name in ("hidden1", "hidden2"):
            w, b = model.get_layer(name).get_weights()
            h = ELEMENTWISE[activation](h @ w + b)
        w, b = model.get_layer("logits").get_weights()
        np.testing.assert_allclose(out, h @ w + b, rtol=1e-4, atol=1e-5)


def test_drop_connect_hidden_layers():
    model = mlp((4, 4, 1), 5, hidden=[8, 6], drop_connect=0.5)
    assert [type(model.get_layer(f"hidden{i}")) for i in (1, 2)] == [DropConnectDense] * 2
    assert all(model.get_layer(f"hidden{i}").rate == 0.5 for i in (1, 2))
    assert type(model.get_layer("logits")) is keras.layers.Dense
    assert model.count_params() == (16 * 8 + 8) + (8 * 6 + 6) + (6 * 5 + 5)
    x = np.random.default_rng(3).normal(size=(4, 4, 4, 1)).astype("float32")
    np.testing.assert_array_equal(model(x), model(x))                        # inference: the plain weights
    assert not np.allclose(model(x, training=True), model(x))
    assert not any(isinstance(layer, DropConnectDense) for layer in mlp((4, 4, 1), 5, hidden=[8]).layers)


def test_dropout_after_each_hidden_layer():
    model = mlp((4, 4, 1), 5, hidden=[8, 6], dropout=0.25)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [d.rate for d in dropouts] == [0.25, 0.25]
    assert all(d.input is model.get_layer(f"hidden{i}_act").output for d, i in zip(dropouts, (1, 2)))
    assert model.get_layer("hidden2").input is dropouts[0].output


def test_l1_l2_penalise_every_dense_kernel():
    model = mlp((4, 4, 1), 5, hidden=[8, 6], l1=0.001, l2=0.01, activation="maxout")
    model(np.zeros((1, 4, 4, 1), "float32"))
    kernels = [model.get_layer(name).get_weights()[0].astype("float64") for name in ("hidden1", "hidden2", "logits")]
    expected = sum(0.001 * np.abs(k).sum() + 0.01 * np.sum(k**2) for k in kernels)
    assert len(model.losses) == 3
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)


def test_kernel_initializer_and_seed():
    small = mlp((20, 20, 1), 5, hidden=[300], kernel_initializer="small_gaussian")
    assert np.std(small.get_layer("hidden1").get_weights()[0]) == pytest.approx(0.01, rel=0.03)
    he = mlp((20, 20, 1), 5, hidden=[300], kernel_initializer="he_normal", seed=7)
    assert np.std(he.get_layer("hidden1").get_weights()[0]) == pytest.approx(np.sqrt(2 / 400), rel=0.03)
    again = mlp((20, 20, 1), 5, hidden=[300], kernel_initializer="he_normal", seed=7)
    other = mlp((20, 20, 1), 5, hidden=[300], kernel_initializer="he_normal", seed=8)
    for name in ("hidden1", "logits"):
        np.testing.assert_array_equal(he.get_layer(name).get_weights()[0], again.get_layer(name).get_weights()[0])
        assert not np.array_equal(he.get_layer(name).get_weights()[0], other.get_layer(name).get_weights()[0])
