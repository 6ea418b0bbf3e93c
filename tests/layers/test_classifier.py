"""AdaptiveAveragePool2D against a NumPy rendering of PyTorch's windows; dense_classifier's layers and counts."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers.classifier import (
    AdaptiveAveragePool2D,
    adaptive_pooling_matrix,
    dense_classifier,
    pooled_classifier,
)


def torch_adaptive_average(x, out_h, out_w):
    """torch.nn.AdaptiveAvgPool2d's definition, one window at a time."""
    n, h, w, c = x.shape
    y = np.zeros((n, out_h, out_w, c), "float32")
    for i in range(out_h):
        r0, r1 = (i * h) // out_h, math.ceil((i + 1) * h / out_h)
        for j in range(out_w):
            c0, c1 = (j * w) // out_w, math.ceil((j + 1) * w / out_w)
            y[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return y


@pytest.mark.parametrize("size, output", [((13, 13), 6), ((14, 14), 4), ((7, 7), 7), ((1, 1), 7), ((2, 3), (7, 6)), ((3, 3), 6)])
def test_adaptive_average_pool_matches_torch_windows(size, output):
    x = np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32")
    layer = AdaptiveAveragePool2D(output)
    out = (output, output) if isinstance(output, int) else output
    expected = torch_adaptive_average(x, *out)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tf.function(layer.__call__, jit_compile=True)(x), expected, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, *size, 3)) == (None, *out, 3)


def test_pooling_matrix_rows_average():
    np.testing.assert_allclose(adaptive_pooling_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(adaptive_pooling_matrix(13, 6).sum(axis=1), np.ones(6), rtol=1e-6)
    assert adaptive_pooling_matrix(14, 4)[1].nonzero()[0].tolist() == [3, 4, 5, 6]    # windows overlap by one cell


def test_adaptive_average_pool_config_round_trip():
    layer = AdaptiveAveragePool2D((7, 5), name="avgpool")
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, AdaptiveAveragePool2D) and clone.output_size == (7, 5)


def head(map_shape, **kwargs):
    inputs = keras.Input(map_shape)
    return keras.Model(inputs, dense_classifier(inputs, **kwargs))


def test_dense_classifier_parameters_and_layers():
    model = head((7, 7, 512), num_classes=1000, pooled_size=7, dropout=0.5)
    assert model.count_params() == (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)  # VGG's head
    assert [layer.name for layer in model.layers[1:]] == ["avgpool", "flatten", "fc1", "fc1_dropout", "fc2", "fc2_dropout", "logits"]
    assert model.get_layer("fc1_dropout").rate == 0.5


def test_dense_classifier_builds_for_any_map_and_can_be_linear():
    assert head((1, 1, 512), num_classes=10, pooled_size=7, hidden_units=64).count_params() == head(
        (9, 9, 512), num_classes=10, pooled_size=7, hidden_units=64).count_params()
    linear = head((1, 1, 512), num_classes=10, pooled_size=1, hidden_units=0)
    assert linear.count_params() == 512 * 10 + 10
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in head((3, 3, 8), num_classes=2, pooled_size=3).layers)


def test_pooled_classifier_averages_the_map_and_names_its_layers():
    inputs = keras.Input((5, 3, 8))
    model = keras.Model(inputs, pooled_classifier(inputs, 4, dropout=0.2))
    assert [layer.name for layer in model.layers[1:]] == ["pool", "dropout", "logits"] and model.count_params() == 8 * 4 + 4
    x = np.random.default_rng(0).normal(size=(2, 5, 3, 8)).astype("float32")
    kernel, bias = model.get_layer("logits").get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x.mean(axis=(1, 2)) @ kernel + bias, rtol=1e-5, atol=1e-5)
    plain = keras.Model(inputs, pooled_classifier(inputs, 4))
    assert [layer.name for layer in plain.layers[1:]] == ["pool", "logits"]


def test_classifier_features_is_the_input_of_the_logits_layer_not_of_the_last_weighted_one():
    from kerascv_suite.layers.classifier import classifier_features

    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="side_pool")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    logits = pooled_classifier(keras.layers.Conv2D(4, 3, name="conv2")(inputs), 5)
    # A weighted layer after the classifier (a learned calibration): "the last weighted layer's input" would be the logits.
    calibrated = keras.layers.Dense(5, name="calibration")(logits)
    network = keras.Model(inputs, [calibrated, pooled])
    assert classifier_features(network) is network.get_layer("logits").input
    assert classifier_features(network).shape == (None, 4)
    with pytest.raises(ValueError, match="has no classifier layer named logits or transfer_logits"):
        classifier_features(keras.Model(inputs, pooled, name="outside"))
