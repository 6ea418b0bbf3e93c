"""FusedBatchNormalization against Keras's BatchNormalization: outputs, gradients, moving statistics, fallbacks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers import FusedBatchNormalization
from kerascv_suite.models import dtype_policy


def pair(**arguments):
    """A fused layer and Keras's, built on the same input shape with the same (non-trivial) weights."""
    fused, plain = FusedBatchNormalization(**arguments), keras.layers.BatchNormalization(**arguments)
    for layer in (fused, plain):
        layer.build((None, 5, 6, 3))
    weights = [np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.2, 0.3]), np.array([0.4, -0.1, 0.0]), np.array([1.2, 0.8, 2.0])]
    fused.set_weights(weights)
    plain.set_weights(weights)
    return fused, plain


def images(shape=(4, 5, 6, 3), seed=0):
    return tf.constant(np.random.default_rng(seed).normal(1.0, 2.0, shape).astype("float32"))


def test_a_training_step_matches_keras_outputs_gradients_and_moving_statistics():
    fused, plain = pair(momentum=0.9, epsilon=1e-3)
    x = images()
    results = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.range(3, dtype=tf.float32))  # weights the channels differently
        results.append((y, tape.gradient(loss, [x, *layer.trainable_variables]), layer.get_weights()))
    (y_fused, grads_fused, weights_fused), (y_plain, grads_plain, weights_plain) = results
    np.testing.assert_allclose(y_fused, y_plain, atol=1e-5)
    for a, b in zip(grads_fused, grads_plain):
        np.testing.assert_allclose(a, b, atol=1e-4)
    for a, b in zip(weights_fused, weights_plain):  # moving mean and (biased) variance updated as Keras does
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_inference_and_frozen_layers_take_keras_path_unchanged():
    fused, plain = pair()
    x = images(seed=1)
    np.testing.assert_array_equal(fused(x, training=False), plain(x, training=False))
    fused.trainable = plain.trainable = False  # a frozen BatchNorm normalises with its moving statistics
    np.testing.assert_array_equal(fused(x, training=True), plain(x, training=True))


@pytest.mark.parametrize("shape, axis", [((4, 7, 3), -1), ((4, 3, 5, 6), 1)])
def test_other_ranks_and_channels_first_fall_back_to_keras(shape, axis):
    fused, plain = FusedBatchNormalization(axis=axis), keras.layers.BatchNormalization(axis=axis)
    x = images(shape)
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), atol=1e-6)


def test_it_saves_and_reloads_as_itself(tmp_path):
    inputs = keras.Input((5, 6, 3))
    model = keras.Model(inputs, FusedBatchNormalization(momentum=0.8, name="bn")(inputs))
    model.save(tmp_path / "bn.keras")
    loaded = keras.saving.load_model(tmp_path / "bn.keras")
    assert isinstance(loaded.get_layer("bn"), FusedBatchNormalization) and loaded.get_layer("bn").momentum == 0.8


def test_it_computes_in_float32_under_mixed_precision_and_compiles_under_xla():
    with dtype_policy("mixed_bfloat16"):
        layer = FusedBatchNormalization()
    x = images()
    y = layer(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16 and layer.moving_mean.dtype == "float32"
    step = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    np.testing.assert_allclose(tf.cast(step(tf.cast(x, tf.bfloat16)), tf.float32), tf.cast(y, tf.float32), atol=0.05)


