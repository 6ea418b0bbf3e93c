"""LocalResponseNormalization against TensorFlow's LRN op, under XLA and float16, and its config round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers.local_response_norm import LocalResponseNormalization


@pytest.mark.parametrize("depth_radius, bias, alpha, beta", [(2, 2.0, 1e-4, 0.75), (1, 1.0, 0.1, 0.5), (3, 1.0, 2e-5, 0.75)])
def test_matches_tensorflow_local_response_normalization(depth_radius, bias, alpha, beta):
    x = np.random.default_rng(0).normal(scale=10, size=(2, 4, 5, 9)).astype("float32")
    layer = LocalResponseNormalization(depth_radius, bias, alpha, beta)
    expected = tf.nn.local_response_normalization(x, depth_radius, bias, alpha, beta).numpy()
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)
    compiled = tf.function(layer.__call__, jit_compile=True)
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-6)


def test_matches_the_formula_at_the_edges():
    x = np.arange(1, 6, dtype="float32").reshape(1, 1, 1, 5)
    y = LocalResponseNormalization(depth_radius=1, bias=1.0, alpha=1.0, beta=1.0)(x).numpy().ravel()
    squares = x.ravel() ** 2
    window = [squares[0] + squares[1], *(squares[i - 1:i + 2].sum() for i in range(1, 4)), squares[3] + squares[4]]
    np.testing.assert_allclose(y, x.ravel() / (1.0 + np.array(window)), rtol=1e-6)


def test_large_float16_activations_do_not_overflow():
    x = np.full((1, 2, 2, 8), 300.0, "float16")           # 300² overflows float16 (max 65504)
    y = LocalResponseNormalization(dtype="mixed_float16")(x)
    assert y.dtype == "float16" and np.all(np.isfinite(np.asarray(y, "float32")))


def test_config_round_trip():
    layer = LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75, name="conv1_norm")
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, LocalResponseNormalization)
    assert (clone.depth_radius, clone.bias, clone.alpha, clone.beta, clone.name) == (2, 1.0, 2e-5, 0.75, "conv1_norm")
