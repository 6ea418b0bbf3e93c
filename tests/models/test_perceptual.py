"""Perceptual losses (`kerascv_suite.models.perceptual`) against NumPy references on tiny random conv nets."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.models import perceptual


def _net() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))


def test_gram_matrix_matches_numpy():
    f = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(np.float32)
    flat = f.reshape(2, 15, 4)
    expected = np.einsum("bpc,bpd->bcd", flat, flat) / 15
    np.testing.assert_allclose(perceptual.gram_matrix(f).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_style_loss_is_zero_for_the_same_image_and_weighted_otherwise():
    net = perceptual.feature_model(_net(), ["c1", "c2"])
    rng = np.random.default_rng(1)
    a, b = rng.random((1, 8, 8, 3), np.float32), rng.random((1, 8, 8, 3), np.float32)
    targets = [perceptual.gram_matrix(f) for f in perceptual.layer_features(net, a)]
    assert perceptual.style_loss(perceptual.layer_features(net, a), targets).numpy() == pytest.approx([0.0], abs=1e-12)
    fb, ga = perceptual.layer_features(net, b), targets
    per_layer = [np.mean((perceptual.gram_matrix(f).numpy() - g.numpy()) ** 2) for f, g in zip(fb, ga)]
    assert min(per_layer) > 0
    np.testing.assert_allclose(perceptual.style_loss(fb, ga, weights=[2.0, 0.5]).numpy(),
                               [2.0 * per_layer[0] + 0.5 * per_layer[1]], rtol=1e-5)


def test_style_loss_broadcasts_one_target_over_the_batch():
    f = tf.random.stateless_normal((3, 4, 4, 2), seed=(1, 2))
    target = perceptual.gram_matrix(f[:1])
    loss = perceptual.style_loss([f], [target]).numpy()
    assert loss.shape == (3,) and loss[0] == pytest.approx(0.0, abs=1e-12) and np.all(loss[1:] > 0)


def test_style_loss_needs_one_target_and_weight_per_layer():
    f = tf.zeros((1, 2, 2, 1))
    with pytest.raises(ValueError, match="one per layer"):
        perceptual.style_loss([f, f], [perceptual.gram_matrix(f)])


def test_content_loss_is_the_mean_squared_difference_per_image():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 3, 4)), rng.standard_normal((2, 3, 3, 4))
    np.testing.assert_allclose(perceptual.content_loss(a, b).numpy(), ((a - b) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_feature_model_is_frozen_and_names_unknown_layers():
    model = _net()
    net = perceptual.feature_model(model, ["c2", "c1"])
    assert not net.trainable and net.trainable_weights == []
    assert [tuple(o.shape[1:]) for o in perceptual.layer_features(net, np.zeros((1, 8, 8, 3), np.float32))] == [(8, 8, 6), (8, 8, 4)]
    with pytest.raises(ValueError, match=r"\['c9'\] are not in model .*its layers: .*c1, c2"):
        perceptual.feature_model(model, ["c1", "c9"])


def test_feature_model_reads_other_sizes_with_the_same_weights():
    model = _net()
    x = np.random.default_rng(3).random((1, 8, 8, 3), np.float32)
    fixed = perceptual.feature_model(model, ["c2"])
    any_size = perceptual.feature_model(model, ["c2"], input_shape=(None, None, 3))
    [wanted], [found] = perceptual.layer_features(fixed, x), perceptual.layer_features(any_size, x)   # one layer: still a list
    np.testing.assert_allclose(found.numpy(), wanted.numpy(), rtol=1e-6)
    assert tuple(perceptual.layer_features(any_size, np.zeros((2, 16, 12, 3), np.float32))[0].shape) == (2, 16, 12, 6)


@pytest.mark.parametrize("power", [1, 2])
def test_total_variation_matches_numpy(power):
    x = np.random.default_rng(2).standard_normal((3, 5, 6, 2)).astype(np.float32)
    down, across = np.diff(x, axis=1), np.diff(x, axis=2)
    expected = (np.abs(down) ** power).sum(axis=(1, 2, 3)) + (np.abs(across) ** power).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(perceptual.total_variation(x, power).numpy(), expected, rtol=1e-5)
    if power == 1:   # the anisotropic L1 form is what TensorFlow calls total variation
        np.testing.assert_allclose(perceptual.total_variation(x, 1).numpy(), tf.image.total_variation(tf.constant(x)).numpy(), rtol=1e-5)


def test_total_variation_refuses_other_powers():
    with pytest.raises(ValueError, match="power"):
        perceptual.total_variation(np.zeros((1, 2, 2, 1)), 3)
