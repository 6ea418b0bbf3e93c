"""initializer: each name's spread against its closed form, its distribution's shape, seeds, and errors."""

import math

import numpy as np
import pytest

from kerascv_suite.layers.initializers import (
    COMPARED,
    NAMES,
    SMALL_GAUSSIAN_STDDEV,
    initializer,
)

FAN_IN, FAN_OUT = 400, 300
GLOROT = math.sqrt(2 / (FAN_IN + FAN_OUT))
HE = math.sqrt(2 / FAN_IN)
STDDEVS = {"small_gaussian": 0.01, "gaussian(1.0)": 1.0, "gaussian(2.5e-2)": 0.025, "glorot_normal": GLOROT,
           "glorot_uniform": GLOROT, "he_normal": HE, "he_uniform": HE}


def sample(kind, seed=0):
    return np.asarray(initializer(kind, seed=seed)((FAN_IN, FAN_OUT)), dtype="float64")


def test_every_name_has_a_closed_form():
    assert set(STDDEVS) | {"zeros"} >= set(NAMES)
    assert SMALL_GAUSSIAN_STDDEV == 0.01
    assert set(COMPARED) <= set(STDDEVS) | {"zeros"}


def test_zeros_is_all_zero():
    assert not sample("zeros").any()


@pytest.mark.parametrize("kind", sorted(STDDEVS))
def test_standard_deviation_matches_the_closed_form(kind):
    w = sample(kind)
    assert w.shape == (FAN_IN, FAN_OUT)
    assert abs(w.mean()) < 0.02 * STDDEVS[kind]            # 120,000 draws: the mean's std is 0.3% of σ
    assert w.std() == pytest.approx(STDDEVS[kind], rel=0.03)


@pytest.mark.parametrize("kind", ["glorot_uniform", "he_uniform"])
def test_uniform_kinds_fill_the_interval_of_sqrt3_sigma(kind):
    w = sample(kind)
    limit = math.sqrt(3) * STDDEVS[kind]           # glorot: sqrt(6/(fan_in+fan_out)), he: sqrt(6/fan_in)
    assert np.abs(w).max() <= limit * (1 + 1e-6)
    assert np.abs(w).max() > 0.999 * limit
    counts, _ = np.histogram(w, bins=10, range=(-limit, limit))   # flat: each tenth of the interval holds ~10%
    np.testing.assert_allclose(counts / w.size, 0.1, atol=0.005)


@pytest.mark.parametrize("kind", ["glorot_normal", "he_normal"])
def test_normal_kinds_are_truncated_at_two_of_their_untruncated_sigmas(kind):
    # Keras draws from a normal truncated at ±2σ₀ with σ₀ = σ / 0.8796 so that the result's std is σ
    w = sample(kind)
    bound = 2 * STDDEVS[kind] / 0.87962566103423978
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * bound
    c = 0.87962566103423978                                         # the std of a standard normal truncated at ±2
    expected = 1 - math.erf(c / math.sqrt(2)) / math.erf(2 / math.sqrt(2))   # P(|Z| > c | |Z| < 2) ≈ 0.349
    assert np.mean(np.abs(w) > STDDEVS[kind]) == pytest.approx(expected, abs=0.005)


@pytest.mark.parametrize("kind, sigma", [("small_gaussian", 0.01), ("gaussian(1.0)", 1.0)])
def test_gaussians_are_not_truncated(kind, sigma):
    w = sample(kind)
    assert np.mean(np.abs(w) > 2 * sigma) == pytest.approx(1 - math.erf(2 / math.sqrt(2)), abs=0.003)   # P(|Z| > 2) ≈ 0.0455


@pytest.mark.parametrize("kind", sorted(STDDEVS))
def test_seeds_reproduce_and_differ(kind):
    np.testing.assert_array_equal(sample(kind, seed=3), sample(kind, seed=3))
    assert not np.array_equal(sample(kind, seed=3), sample(kind, seed=4))


@pytest.mark.parametrize("name", ["xavier", "gaussian(-1)", "gaussian()", "gaussian(1.0"])
def test_unknown_name_is_refused(name):
    with pytest.raises(ValueError, match=r"unknown initializer .*allowed: zeros, small_gaussian.*or gaussian\(σ\)"):
        initializer(name)


def test_a_spec_takes_a_gaussian_of_any_sigma_and_refuses_a_malformed_one():
    from kerascv_suite.spec import validate_spec

    spec = validate_spec({"name": "t", "model": {"name": "mlp", "kernel_initializer": "gaussian(0.5)"}})
    assert spec.model.kernel_initializer == "gaussian(0.5)"
    with pytest.raises(Exception, match="kernel_initializer"):
        validate_spec({"name": "t", "model": {"name": "mlp", "kernel_initializer": "gaussian(big)"}})


@pytest.mark.parametrize("kind, identical", [("zeros", True), ("he_normal", False)])
def test_zero_weights_never_break_the_symmetry_between_units(kind, identical):
    import keras

    from kerascv_suite.models.linear import mlp

    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(64, 4, 4, 1)).astype("float32"), rng.integers(0, 3, 64)
    model = mlp((4, 4, 1), 3, hidden=[8], activation="sigmoid", kernel_initializer=kind)
    model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    w1, b1 = model.get_layer("hidden1").get_weights()
    w2 = model.get_layer("logits").get_weights()[0]
    assert np.abs(w2).max() > 1e-3  # training did move the weights
    # every hidden unit (a column of W1, a row of W2) is still the same as unit 0
    assert np.allclose(w1, w1[:, :1], atol=1e-6) == identical
    assert np.allclose(w2, w2[:1], atol=1e-6) == identical
