"""DropConnectDense: the plain Dense at inference, a dropped and rescaled kernel in training, unchanged expectation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers.drop_connect import DropConnectDense


def built_layer(units=5, inputs=6, rate=0.5, use_bias=True, seed=1):
    layer = DropConnectDense(units, rate=rate, use_bias=use_bias, bias_initializer="random_normal", seed=seed, name="dc")
    layer.build((None, inputs))
    return layer


def test_inference_is_the_plain_dense_layer():
    layer = built_layer()
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    expected = x @ np.asarray(layer.kernel) + np.asarray(layer.bias)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-6, atol=1e-6)


def test_training_drops_about_rate_of_the_kernel_entries_and_rescales_the_rest():
    """With the identity as input and no bias, the output rows are the rows of the masked kernel."""
    layer = built_layer(units=32, inputs=64, use_bias=False)
    kernel = np.asarray(layer.kernel)
    masked = np.asarray(layer(np.eye(64, dtype="float32"), training=True))
    dropped = masked == 0.0
    np.testing.assert_allclose(masked[~dropped], 2.0 * kernel[~dropped], rtol=1e-6)   # kept entries: W / (1 − 0.5)
    # 2048 Bernoulli(0.5) entries: the dropped fraction lies within 0.5 ± 0.05 (4.5 standard deviations)
    assert abs(dropped.mean() - 0.5) < 0.05
    # one mask per call: every example of the batch sees the same kernel
    batch = np.stack([np.eye(64, dtype="float32")[3]] * 4)
    rows = np.asarray(layer(batch, training=True))
    assert all(np.array_equal(row, rows[0]) for row in rows)


def test_each_training_call_draws_a_new_mask_and_the_bias_is_kept():
    layer = built_layer()
    x = np.zeros((1, 6), "float32")
    np.testing.assert_allclose(layer(x, training=True), layer(x), rtol=1e-6)   # x = 0: only the (undropped) bias remains
    x = np.ones((2, 6), "float32")
    first, second = layer(x, training=True), layer(x, training=True)
    assert not np.allclose(first, second)
    assert not np.allclose(first, layer(x))


def test_training_output_has_the_inference_output_as_its_expectation():
    rate, draws = 0.3, 4000
    layer = built_layer(rate=rate)
    x = np.random.default_rng(2).normal(size=(2, 6)).astype("float32")
    kernel, mean = np.asarray(layer.kernel), np.asarray(layer(x))
    sample = tf.function(lambda: tf.stack([layer(x, training=True) for _ in range(100)]))
    outputs = np.concatenate([sample().numpy() for _ in range(draws // 100)])
    # each entry y_j = Σ_i x_i W_ij m_ij / (1 − p): variance Σ_i x_i² W_ij² · p / (1 − p)
    std_error = np.sqrt((x[:, :, None] ** 2 * kernel[None] ** 2).sum(1) * rate / (1 - rate) / draws)
    assert np.all(np.abs(outputs.mean(0) - mean) < 5 * std_error + 1e-6)


def test_rate_zero_is_dense_and_invalid_rates_are_refused():
    layer = built_layer(rate=0.0)
    x = np.ones((2, 6), "float32")
    np.testing.assert_array_equal(layer(x, training=True), layer(x))
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="rate"):
            DropConnectDense(4, rate=rate)


def test_config_round_trips():
    layer = DropConnectDense(7, rate=0.25, activation="relu", use_bias=False, kernel_initializer="he_normal", seed=3, name="dc")
    clone = DropConnectDense.from_config(layer.get_config())
    assert (clone.units, clone.rate, clone.seed, clone.use_bias, clone.name) == (7, 0.25, 3, False, "dc")
    assert clone.activation is keras.activations.relu
    assert isinstance(clone.kernel_initializer, keras.initializers.HeNormal)


def test_model_saves_reloads_and_trains(tmp_path):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, DropConnectDense(3, rate=0.5, seed=0, name="dc")(inputs))
    x = np.random.default_rng(3).normal(size=(8, 6)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.get_layer("dc"), DropConnectDense) and reloaded.get_layer("dc").rate == 0.5
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, np.zeros((8, 3), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
