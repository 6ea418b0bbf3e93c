"""ConditionalInstanceNormalization against Keras's instance normalisation and a NumPy reference."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascv_suite.layers.instance_norm import ConditionalInstanceNormalization

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(3, 5, 4, 6)) * RNG.uniform(0.5, 4, size=(3, 1, 1, 6)) + RNG.normal(size=(3, 1, 1, 6)) * 3).astype("float32")


def layer_with_random_styles(styles=3, channels=6):
    layer = ConditionalInstanceNormalization(styles)
    layer.build([(None, 5, 4, channels), (None, styles)])
    layer.gamma.assign(RNG.uniform(0.5, 2.0, size=(styles, channels)))
    layer.beta.assign(RNG.normal(size=(styles, channels)))
    return layer


def reference(x, gamma, beta, epsilon=1e-3):
    """NumPy: each channel of each image normalised over its positions, then γ[b], β[b] per image."""
    mean, variance = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    return gamma[:, None, None, :] * (x - mean) / np.sqrt(variance + epsilon) + beta[:, None, None, :]


def test_one_hot_style_is_keras_instance_norm_with_that_styles_gamma_beta():
    layer = layer_with_random_styles()
    for s in range(3):
        keras_in = keras.layers.GroupNormalization(groups=-1, epsilon=1e-3)
        keras_in.build(X.shape)
        keras_in.gamma.assign(layer.gamma.numpy()[s])
        keras_in.beta.assign(layer.beta.numpy()[s])
        one_hot = np.eye(3, dtype="float32")[[s] * len(X)]
        np.testing.assert_allclose(layer([X, one_hot]), keras_in(X), atol=1e-5)


def test_each_channel_of_each_image_is_normalised():
    y = ConditionalInstanceNormalization(2)([X, np.eye(2, dtype="float32")[[0, 1, 1]]]).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)                  # γ = 1, β = 0 at first
    np.testing.assert_allclose(y.var(axis=(1, 2)), X.var(axis=(1, 2)) / (X.var(axis=(1, 2)) + 1e-3), rtol=1e-4)


def test_per_image_styles_and_mixtures_interpolate_gamma_and_beta():
    layer = layer_with_random_styles()
    weights = np.array([[1, 0, 0], [0.25, 0.75, 0], [0.2, 0.3, 0.5]], "float32")
    gamma, beta = weights @ layer.gamma.numpy(), weights @ layer.beta.numpy()
    np.testing.assert_allclose(layer([X, weights]), reference(X, gamma, beta), atol=1e-4)
    # normalisation is affine in (γ, β): the mixture's output is the mixture of the styles' outputs
    outputs = [layer([X, np.eye(3, dtype="float32")[[s] * 3]]).numpy() for s in range(3)]
    mixed = sum(weights[:, s, None, None, None] * outputs[s] for s in range(3))
    np.testing.assert_allclose(layer([X, weights]), mixed, atol=1e-4)


def test_serialization_round_trip_in_a_model(tmp_path):
    features, style = keras.Input((5, 4, 6)), keras.Input((3,))
    model = keras.Model([features, style], ConditionalInstanceNormalization(3, epsilon=1e-2, name="cin")([features, style]))
    model.get_layer("cin").beta.assign(RNG.normal(size=(3, 6)))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("cin").get_config()["styles"] == 3 and loaded.get_layer("cin").epsilon == 1e-2
    weights = np.eye(3, dtype="float32")[[2, 0, 1]]
    np.testing.assert_allclose(loaded([X, weights]), model([X, weights]), atol=1e-6)


def test_float16_inputs_are_normalised_from_float32_statistics():
    # variances above float16's 65504 (Keras's float16 moments clip them there) still normalise to unit variance
    styles = np.eye(2, dtype="float32")[[0, 1, 0]]
    y = ConditionalInstanceNormalization(2, dtype="mixed_float16")([X * 300.0, styles])
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    np.testing.assert_allclose(np.asarray(y, "float32"), ConditionalInstanceNormalization(2)([X * 300.0, styles]), atol=1e-2)


@pytest.mark.parametrize("styles, shapes, message", [
    (0, None, "styles must be at least 1"),
    (3, [(None, 5, 4, 6), (None, 2)], r"style \(B, 3\)"),
    (2, [(None, 5, 4, None), (None, 2)], "known C"),
])
def test_bad_arguments(styles, shapes, message):
    with pytest.raises(ValueError, match=message):
        ConditionalInstanceNormalization(styles).build(shapes)
