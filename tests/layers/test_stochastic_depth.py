"""DropPath: the identity at inference, per-example drops with inverted scaling in training, unchanged expectation."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers.stochastic_depth import DropPath, stochastic_depth_rates


def branch(examples=4000, seed=0):
    return np.random.default_rng(seed).normal(size=(examples, 2, 2, 3)).astype("float32")


def test_inference_is_the_identity():
    layer, x = DropPath(0.5, seed=1), branch(8)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_training_drops_whole_examples_at_rate_and_scales_the_rest():
    rate, x = 0.3, branch()
    y = np.asarray(DropPath(rate, seed=1)(x, training=True))
    dropped = np.all(y == 0.0, axis=(1, 2, 3))
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - rate), rtol=1e-6)   # kept: the whole example, scaled
    # 4000 Bernoulli(0.3) draws: the dropped fraction lies within 0.3 ± 0.03 (4 standard deviations)
    assert abs(dropped.mean() - rate) < 0.03
    assert 0 < dropped.sum() < len(x)   # per example, not one draw for the batch


def test_expectation_is_unchanged():
    rate, examples = 0.5, 4000
    x = np.broadcast_to(branch(1), (examples, 2, 2, 3))
    y = np.asarray(DropPath(rate, seed=2)(x, training=True))
    # each output is x/(1 − p) with probability 1 − p, else 0: mean x, standard deviation |x|·√(p/(1 − p))
    std_error = np.abs(x[0]) * np.sqrt(rate / (1 - rate) / examples)
    assert np.all(np.abs(y.mean(0) - x[0]) < 5 * std_error)


def test_draws_change_between_calls_and_follow_the_seed():
    x = branch(64)
    first, second = (np.asarray(DropPath(0.5, seed=3)(x, training=True)) for _ in range(2))
    np.testing.assert_array_equal(first, second)   # same seed, fresh layers: the same draws
    layer = DropPath(0.5, seed=3)
    assert not np.array_equal(layer(x, training=True), layer(x, training=True))


def test_rate_zero_is_the_identity_in_training_and_invalid_rates_are_refused():
    x = branch(8)
    layer = DropPath(0.0)
    np.testing.assert_array_equal(layer(x, training=True), x)
    assert not hasattr(layer, "seed_generator")
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="rate"):
            DropPath(rate)


def test_linear_decay_rule():
    np.testing.assert_allclose(stochastic_depth_rates(0.2, 4), [0.05, 0.1, 0.15, 0.2])
    assert stochastic_depth_rates(0.5, 1) == [0.5]


def test_config_round_trips():
    layer = DropPath(0.2, seed=4, name="drop")
    clone = DropPath.from_config(layer.get_config())
    assert (clone.rate, clone.seed, clone.name) == (0.2, 4, "drop")


def test_residual_model_saves_reloads_and_trains(tmp_path):
    inputs = keras.Input((2, 2, 3))
    residual = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    outputs = keras.layers.Add(name="add")([inputs, DropPath(0.5, seed=5, name="drop_path")(residual)])
    model = keras.Model(inputs, outputs)
    x = branch(8)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.get_layer("drop_path").rate == 0.5
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model(x), x + np.asarray(model.get_layer("conv")(x)), rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, np.zeros_like(x), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
