"""DenseNet-121/169/201 against keras.applications; dense layers, transitions and the small-input stem (reference counts: test_zoo.py)."""

import keras
import numpy as np
import pytest

from kerascv_suite.models.densenet import (
    BLOCK_LAYERS,
    dense_layer,
    densenet,
    transition,
)
from kerascv_suite.spec import validate_spec

IMAGENET = ((224, 224, 3), 1000)
NORM = {"norm_momentum": 0.9, "norm_epsilon": 1.001e-5}


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_densenet121_equals_keras_applications_built_here():
    reference = keras.applications.DenseNet121(weights=None)
    model = densenet(*IMAGENET)
    assert model.count_params() == reference.count_params()
    assert trainable_params(model) == trainable_params(reference)


def test_depth_counts_the_convolutions_and_the_classifier():
    for depth, layers in BLOCK_LAYERS.items():
        model = densenet((32, 32, 3), 10, depth=depth)
        weighted = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
        assert len(weighted) == depth == 2 * sum(layers) + 3 + 2    # dense layers, transitions, stem, classifier


def block_model(block, input_shape, *args):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, block(inputs, *args, NORM, name="b"))


def test_dense_layer_concatenates_k_new_channels_to_its_unchanged_input():
    c, k, bn_size = 24, 12, 4
    model = block_model(dense_layer, (6, 6, c), k, bn_size, 0.0)
    assert model.output_shape == (None, 6, 6, c + k)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, c)).astype("float32")
    y = np.asarray(model(x, training=False))
    np.testing.assert_array_equal(y[..., :c], x)                   # features are reused, not recomputed
    new = keras.Model(model.input, model.get_layer("b_conv2").output)
    np.testing.assert_allclose(y[..., c:], new(x, training=False), rtol=1e-6)
    # pre-activation BN (4 per channel) → 1×1 conv → BN → 3×3 conv, convolutions without bias
    assert model.count_params() == 4 * c + c * bn_size * k + 4 * bn_size * k + 9 * bn_size * k * k
    assert model.get_layer("b_norm1_bn").input.shape[-1] == c      # BN → ReLU → conv: the activation comes first


@pytest.mark.parametrize("channels, compression, expected", [(256, 0.5, 128), (250, 0.5, 125), (100, 1.0, 100), (99, 0.5, 49)])
def test_transition_compresses_and_halves(channels, compression, expected):
    model = block_model(transition, (8, 8, channels), compression)
    assert model.output_shape == (None, 4, 4, expected)
    assert model.count_params() == 4 * channels + channels * expected


def last_feature_map(model):
    return tuple(model.get_layer("last_act").output.shape[1:])


def test_output_shapes():
    imagenet = densenet(*IMAGENET)
    assert imagenet.output_shape == (None, 1000)
    assert last_feature_map(imagenet) == (7, 7, 1024)                # 224 / 32; 512 + 16·32 channels
    digits = densenet((32, 32, 1), 10)
    assert digits.output_shape == (None, 10)
    assert last_feature_map(digits) == (4, 4, 1024)                  # small input: 32 / 8
    assert digits(np.zeros((2, 32, 32, 1), "float32")).shape == (2, 10)


@pytest.mark.parametrize("size, small_input, expected", [(32, None, 4), (32, False, 1), (48, None, 6), (64, None, 2), (224, True, 28)])
def test_small_input_stem(size, small_input, expected):
    model = densenet((size, size, 3), 10, growth_rate=8, small_input=small_input)
    assert last_feature_map(model)[:2] == (expected, expected)
    small = small_input or (small_input is None and size < 64)
    stem = model.get_layer("stem_conv")
    assert (stem.kernel_size, stem.strides) == (((3, 3), (1, 1)) if small else ((7, 7), (2, 2)))
    assert stem.filters == 16                                        # 2k
    assert ("stem_pool" in {layer.name for layer in model.layers}) is not small


def test_growth_rate_bottleneck_and_compression_set_the_widths():
    model = densenet((32, 32, 1), 10, growth_rate=12, bn_size=2, compression=1.0)
    assert model.get_layer("block1_layer1_conv1").filters == 24      # bn_size·k
    assert model.get_layer("block1_layer1_conv2").filters == 12      # k
    assert model.get_layer("transition1_conv").filters == 24 + 6 * 12   # θ = 1 keeps every channel
    assert last_feature_map(model)[-1] == 24 + 12 * sum(BLOCK_LAYERS[121])


def test_batchnorm_and_dropout_arguments_are_applied():
    model = densenet((32, 32, 1), 10, growth_rate=4, bn_momentum=0.8, dropout=0.2)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == 0.8 and layer.epsilon == 1.001e-5 for layer in norms)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(dropouts) == sum(BLOCK_LAYERS[121]) and all(layer.rate == 0.2 for layer in dropouts)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in densenet((32, 32, 1), 10, growth_rate=4).layers)


def test_save_and_reload_round_trip(tmp_path):
    model = densenet((32, 32, 1), 10, growth_rate=4)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)


def test_spec_keys_are_the_constructor_arguments():
    spec = validate_spec({"name": "t", "model": {"name": "densenet", "depth": 169, "growth_rate": 12}})
    assert spec.model.depth == 169 and spec.model.growth_rate == 12 and spec.model.compression == 0.5
    for bad in ({"depth": 100}, {"compression": 0}, {"growth_rate": 0}):
        with pytest.raises(Exception, match="depth|compression|growth_rate"):
            validate_spec({"name": "t", "model": {"name": "densenet", **bad}})
