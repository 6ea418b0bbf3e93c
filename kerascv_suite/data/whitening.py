"""Data preprocessing from the notes (chapter 7): mean-image subtraction, PCA and ZCA whitening.

Each image is flattened to a vector x of D values. Fitted on the training split (the pipeline
calls `adapt` there, as for `normalize`):

- ``mean_image``: x − μ, with μ the mean *image* (one value per pixel and channel, AlexNet's
  preprocessing), not one mean per channel as `normalize` subtracts.
- ``whiten`` with ``method: pca``: rotate into the eigenbasis of the covariance Σ = UΛUᵀ and
  divide each coordinate by its standard deviation, x ↦ Λ^(−1/2)·Uᵀ(x − μ). The coordinates
  are decorrelated and of unit variance, ordered by decreasing variance and laid out in the
  image's shape (they are no longer pixels).
- ``whiten`` with ``method: zca``: rotate back afterwards, x ↦ U·Λ^(−1/2)·Uᵀ(x − μ), the
  whitening closest to the input (Bell & Sejnowski, 1997): the result still looks like an image,
  with edges emphasised, and has identity covariance.

ε is added to every eigenvalue before the inverse square root, so the directions in which the
training split hardly varies (the digits' empty borders; all directions beyond N − 1 when there
are fewer images than values) are not blown up into noise.

Why the library's own: Keras's `Normalization` is per-feature, and scikit-learn's
`PCA(whiten=True)` has no ZCA and is no Keras layer; this one keeps μ and the D×D matrix as
weights, so a SavedModel or TFLite export applies exactly the training split's whitening. The
eigendecomposition is NumPy's `eigh` of the covariance, which limits D to `MAX_VALUES`.

Example (YAML)::

    preprocess: [rescale, {name: whiten, method: zca, epsilon: 0.01}]
"""

from __future__ import annotations

from typing import Literal

import keras
import numpy as np
import tensorflow as tf
from pydantic import PositiveFloat

from kerascv_suite.registry import OPS
from kerascv_suite.spec.errors import DataError

# Values per image the covariance may have (D×D float64: 4,096 values → 134 MB, eigh in seconds).
MAX_VALUES = 4096


@keras.saving.register_keras_serializable(package="kerascv_suite")
class Whitening(keras.layers.Layer):
    """x ↦ (x − μ)·W on each flattened image, μ and W fitted by `adapt` (see the module docstring).

    Args:
        method: "mean" (subtract the mean image; W is the identity and not stored), "pca" or "zca".
        epsilon: added to the covariance's eigenvalues before their inverse square root.

    Takes one image [H, W, C] or a batch [B, H, W, C]; returns the same shape in the layer's dtype.
    """

    def __init__(self, method: Literal["mean", "pca", "zca"] = "zca", epsilon: float = 1e-2, **kwargs):
        super().__init__(**kwargs)
        if method not in ("mean", "pca", "zca"):
            raise ValueError(f"whitening method must be 'mean', 'pca' or 'zca', got '{method}'")
        self.method = method
        self.epsilon = epsilon

    def build(self, input_shape):
        image_shape = tuple(input_shape[-3:])
        values = int(np.prod(image_shape))
        if self.method != "mean" and values > MAX_VALUES:
            raise DataError(f"data.preprocess: whiten: a {'×'.join(map(str, image_shape))} image has {values:,} values; whitening's "
                             f"covariance allows at most {MAX_VALUES:,} (resize the images first, or use mean_image)")
        self.mean = self.add_weight(shape=(values,), initializer="zeros", trainable=False, name="mean")
        self.matrix = (None if self.method == "mean" else
                       self.add_weight(shape=(values, values), initializer="identity", trainable=False, name="matrix"))

    def adapt(self, dataset):
        """Fit μ and W on batches of images [B, H, W, C] (the training split)."""
        x = np.concatenate([np.asarray(batch, np.float64).reshape(len(batch), -1) for batch in dataset])
        if not self.built:
            self.build(next(iter(dataset)).shape)
        mean = x.mean(axis=0)
        self.mean.assign(mean.astype(self.mean.dtype))
        if self.matrix is not None:
            self.matrix.assign(whitening_matrix(x - mean, self.method, self.epsilon).astype(self.matrix.dtype))

    def call(self, inputs):
        shape = tf.shape(inputs)
        flat = tf.reshape(tf.cast(inputs, self.compute_dtype), (-1, self.mean.shape[0])) - self.mean
        if self.matrix is not None:
            flat = tf.matmul(flat, self.matrix)
        return tf.reshape(flat, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "method": self.method, "epsilon": self.epsilon}


def principal_axes(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A covariance's eigenvalues in decreasing order (rounding's tiny negatives clipped to 0) and eigenvectors (columns).

    What whitening and AlexNet's PCA colour noise (`data.ops.pca_colour`) both start from.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    return np.clip(eigenvalues[::-1], 0.0, None), eigenvectors[:, ::-1]


def whitening_matrix(centred: np.ndarray, method: Literal["pca", "zca"], epsilon: float) -> np.ndarray:
    """The D×D matrix W with (x − μ)·W whitened, from N centred rows [N, D] (row-vector convention).

    Σ = XᵀX / N = UΛUᵀ (eigenvalues in decreasing order); PCA: W = U·Λ^(−1/2); ZCA: W = U·Λ^(−1/2)·Uᵀ.
    """
    eigenvalues, eigenvectors = principal_axes(centred.T @ centred / len(centred))
    pca = eigenvectors / np.sqrt(eigenvalues + epsilon)
    return pca if method == "pca" else pca @ eigenvectors.T


@OPS.register("mean_image")
def mean_image(input_shape: tuple):
    """Subtract the training split's mean image (per pixel and channel), fitted on the training split."""
    return _built(Whitening("mean"), input_shape)


@OPS.register("whiten")
def whiten(input_shape: tuple, method: Literal["pca", "zca"] = "zca", epsilon: PositiveFloat = 1e-2):
    """PCA or ZCA whitening fitted on the training split (images of at most 4,096 values).

    Args:
        method: "zca" (decorrelated, unit variance, still an image) or "pca" (the eigenbasis
            coordinates, by decreasing variance, in the image's shape).
        epsilon: added to each eigenvalue; larger keeps low-variance directions quieter (on
            pixels in [0, 1], 1e-2 to 1e-1 is usual).
    """
    return _built(Whitening(method, epsilon), input_shape)


def _built(layer: Whitening, input_shape: tuple) -> Whitening:
    """Build eagerly: built lazily inside a tf.data trace, its weights would belong to that graph."""
    layer.build((None, *input_shape))
    return layer
