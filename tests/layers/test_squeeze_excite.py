"""squeeze_excite: shapes, bottleneck width, gate range and a NumPy reference."""

import keras
import numpy as np
import pytest

from kerascv_suite.layers import make_divisible, squeeze_excite


def se_model(channels=24, **kwargs):
    inputs = keras.Input((5, 5, channels))
    return keras.Model(inputs, squeeze_excite(inputs, name="se", **kwargs))


@pytest.mark.parametrize("channels, ratio, divisor", [(24, 0.25, 8), (96, 0.25, 8), (64, 1 / 16, 1)])
def test_shape_and_bottleneck_width(channels, ratio, divisor):
    model = se_model(channels, ratio=ratio, divisor=divisor)
    assert model.output_shape == (None, 5, 5, channels)
    assert model.get_layer("se_reduce").filters == make_divisible(channels * ratio, divisor)
    assert model.get_layer("se_expand").filters == channels


@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
def test_gate_values_lie_in_zero_one(gate):
    model = se_model(gate=gate)
    gate_model = keras.Model(model.input, model.get_layer("se_gate").output)
    x = np.random.default_rng(1).normal(scale=50.0, size=(4, 5, 5, 24)).astype("float32")  # large: saturate the gate
    values = np.asarray(gate_model(x))
    assert values.shape == (4, 1, 1, 24)
    assert values.min() >= 0.0 and values.max() <= 1.0
    if gate == "hard_sigmoid":
        assert values.min() == 0.0 and values.max() == 1.0   # hard sigmoid saturates exactly


def test_matches_numpy_reference_with_hard_sigmoid_gate():
    rng = np.random.default_rng(2)
    model = se_model(24, ratio=0.25, gate="hard_sigmoid")
    x = rng.normal(size=(3, 5, 5, 24)).astype("float32")
    w1, b1 = (np.asarray(w) for w in model.get_layer("se_reduce").get_weights())
    w2, b2 = (rng.normal(size=w.shape).astype("float32") for w in model.get_layer("se_expand").get_weights())
    model.get_layer("se_expand").set_weights([w2, b2])
    pooled = x.mean(axis=(1, 2))
    hidden = np.maximum(pooled @ w1[0, 0] + b1, 0)
    gate = np.clip(hidden @ w2[0, 0] + b2 + 3, 0, 6) / 6
    np.testing.assert_allclose(model(x), x * gate[:, None, None, :], rtol=1e-5, atol=1e-5)
