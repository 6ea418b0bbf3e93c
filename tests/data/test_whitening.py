"""mean_image, PCA and ZCA whitening: statistics from the training split, identity covariance, round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.decomposition import PCA

from kerascv_suite.data.whitening import Whitening, whiten
from kerascv_suite.spec.errors import DataError

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def correlated_images(n=400, seed=0):
    """4×4×1 images whose pixels are strongly correlated (a smooth random field plus a little noise).

    Every variance differs, so the covariance's eigenvectors are unique (up to sign).
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2, 2, 1)) * np.array([3.0, 2.0, 1.5, 1.0]).reshape(1, 2, 2, 1)
    smooth = np.repeat(np.repeat(base, 2, axis=1), 2, axis=2)
    noise = rng.normal(size=smooth.shape) * np.linspace(0.1, 0.5, 16).reshape(1, 4, 4, 1)
    return (smooth + noise + 3.0).astype(np.float32)


def fitted(method, images, epsilon=1e-6):
    layer = Whitening(method, epsilon)
    layer.adapt(tf.data.Dataset.from_tensor_slices(images).batch(64))
    return layer


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whitened_training_data_has_zero_mean_and_identity_covariance(method):
    images = correlated_images()
    flat = images.reshape(len(images), -1)
    assert np.abs(np.corrcoef(flat.T) - np.eye(16)).max() > 0.5  # the test can tell whitened from not
    white = np.asarray(fitted(method, images)(images)).reshape(len(images), -1)
    np.testing.assert_allclose(white.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(white.T @ white / len(white), np.eye(16), atol=1e-3)


def test_pca_whitening_equals_scikit_learn_up_to_each_component_sign():
    images = correlated_images()
    flat = images.reshape(len(images), -1).astype(np.float64)
    ours = np.asarray(fitted("pca", images)(images)).reshape(len(images), -1)
    reference = PCA(whiten=True).fit(flat).transform(flat) * np.sqrt(len(flat) / (len(flat) - 1))  # sklearn: Σ over N − 1
    signs = np.sign((ours * reference).sum(axis=0))
    np.testing.assert_allclose(ours * signs, reference, rtol=1e-3, atol=1e-3)


def test_zca_is_symmetric_and_the_whitening_nearest_the_input():
    images = correlated_images()
    layer = fitted("zca", images, epsilon=1e-2)
    matrix = layer.matrix.numpy()
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-5)
    flat = images.reshape(len(images), -1)
    centred = flat - flat.mean(axis=0)
    zca, pca = centred @ matrix, np.asarray(fitted("pca", images, 1e-2)(images)).reshape(len(images), -1)
    assert np.linalg.norm(zca - centred) < np.linalg.norm(pca - centred)   # ZCA stays closest to the data


def test_mean_image_subtracts_one_mean_per_pixel_and_keeps_one_image_one_image():
    images = correlated_images()
    images[:, 0, 0, 0] += 10.0  # one pixel brighter than the rest: a per-channel mean would not remove it
    layer = fitted("mean", images)
    assert layer.matrix is None
    np.testing.assert_allclose(np.asarray(layer(images)), images - images.mean(axis=0), atol=1e-4)
    assert layer(images[0]).shape == (4, 4, 1)


@pytest.mark.parametrize("op", ["mean_image", "whiten"])
def test_statistics_come_from_the_training_split_only(npz_pipeline, op):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (60, 4, 4, 1)).astype(np.uint8)
    images[:, :2] //= 4  # darker top half: the mean image is not flat
    pipeline = npz_pipeline(images, np.arange(60) % 3, batch_size=8, splits=FRACTIONS,
                            preprocess=[{"name": "rescale"}, {"name": op, **({"epsilon": 1e-6} if op == "whiten" else {})}])
    train = images[pipeline.indices["train"]].astype(np.float32).reshape(-1, 16) / 255
    mean = train.mean(axis=0)
    test = images[pipeline.indices["test"]].astype(np.float32).reshape(-1, 16) / 255
    expected = test - mean
    if op == "whiten":
        expected = expected @ pipeline.preprocess[-1].matrix.numpy()
        x, _ = pipeline.examples("train")
        flat = x.reshape(len(x), -1)
        np.testing.assert_allclose(flat.T @ flat / len(flat), np.eye(16), atol=1e-3)
    got, _ = pipeline.examples("test")
    np.testing.assert_allclose(got.reshape(-1, 16), expected, atol=1e-4)


def test_an_image_too_large_to_whiten_is_refused_in_one_line():
    with pytest.raises(DataError, match=r"64×64×3 image has 12,288 values.*at most 4,096.*resize"):
        whiten(input_shape=(64, 64, 3))


def test_save_and_reload_round_trip(tmp_path):
    images = correlated_images(100)
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, fitted("zca", images, 1e-2)(inputs))
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(images), model(images), atol=1e-5)
