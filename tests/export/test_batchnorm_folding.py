"""BatchNorm folded into convolutions: the same inference outputs, the pairs gone, everything else kept.

The statistics are random (γ, β, μ, σ² far from their initial 1, 0, 0, 1), so a wrong fold — a
dropped BatchNorm, a scale on the wrong kernel axis, a forgotten bias — changes the outputs by
far more than float32 rounding.
"""

import functools

import keras
import numpy as np
import pytest

import kerascv_suite.models  # noqa: F401  (registers the families)
from kerascv_suite.export.batchnorm_folding import fold_batchnorm, foldable_pairs, folded_weights
from kerascv_suite.layers.fused_batch_norm import FusedBatchNormalization
from kerascv_suite.layers.grouped_conv import GroupedConv2D
from kerascv_suite.registry import MODELS

IMAGES = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")


def randomise_statistics(model: keras.Model, seed: int = 0) -> keras.Model:
    """Give every BatchNorm (nested ones included) random γ, β, moving mean and moving variance."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            randomise_statistics(layer, seed + 1)
        elif isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            values = {"gamma": rng.uniform(0.5, 1.5, c), "beta": rng.normal(0, 0.3, c),
                      "moving_mean": rng.normal(0, 0.3, c), "moving_variance": rng.uniform(0.3, 2.0, c)}
            layer.set_weights([values[w.name] for w in layer.weights])
    return model


def batch_norms(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def assert_same_inference(folded, model, images=IMAGES):
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded(images, training=False)), expected, rtol=1e-5, atol=1e-5)


@functools.cache
def registered(name: str, **kwargs) -> tuple[keras.Model, keras.Model]:
    model = randomise_statistics(MODELS.get(name)((32, 32, 3), 10, **kwargs))
    return model, fold_batchnorm(model)


def test_folded_weights_are_the_closed_form():
    images = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(2, 1, kernel_initializer="ones", bias_initializer="ones")
    norm = keras.layers.BatchNormalization(epsilon=1.0)
    norm(conv(images))
    norm.set_weights([np.array([4.0, 1.0]), np.array([0.5, -1.0]), np.array([1.0, 3.0]), np.array([3.0, 0.0])])
    kernel, bias = folded_weights(conv, norm)
    # s = γ/√(σ² + ε) = (4/2, 1/1); W' = W·s; b' = (b − μ)·s + β = (0·2 + 0.5, −2·1 − 1)
    np.testing.assert_allclose(kernel, [[[[2.0, 1.0]]]])
    np.testing.assert_allclose(bias, [0.5, -3.0])


@pytest.mark.parametrize("name, kwargs", [
    ("cifar_resnet", {"depth": 20}),
    ("mobilenet_v2", {}),  # depthwise convolutions
    ("vgg", {"depth": 11, "batch_norm": True, "hidden_units": 32}),
])
def test_registered_models_lose_every_batch_norm_and_keep_their_outputs(name, kwargs):
    model, folded = registered(name, **kwargs)
    folded_count = len(batch_norms(model))
    assert folded_count == len(foldable_pairs(model)) > 0
    assert batch_norms(folded) == [] and len(folded.layers) == len(model.layers) - folded_count
    assert_same_inference(folded, model)
    assert len(batch_norms(model)) == folded_count  # the original is left alone


def test_pre_activation_batch_norms_after_an_add_are_kept():
    model, folded = registered("cifar_resnet", depth=20, preactivation=True)
    kept = [n for n in batch_norms(model) if n.endswith("preact_bn") or n == "head_bn"]
    # Only conv1 → BN inside each of the 9 blocks folds: the pre-activations read an Add (or the
    # stem convolution, whose output is also the first block's identity shortcut).
    assert len(kept) == 10 and batch_norms(folded) == kept
    assert len(folded.layers) == len(model.layers) - 9
    assert_same_inference(folded, model)


def test_only_batch_norms_alone_after_a_linear_convolution_fold():
    images = keras.Input((8, 8, 4))
    conv = GroupedConv2D(4, 3, padding="same", groups=2, bias_initializer="random_normal", name="conv")(images)  # a Conv2D
    x = keras.layers.BatchNormalization(name="conv_bn")(conv)
    depthwise = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False, name="dw")(x)
    x = FusedBatchNormalization(scale=False, name="dw_bn")(depthwise)
    x = keras.layers.Add(name="add")([x, keras.layers.Conv2D(8, 1, name="side")(images)])
    x = keras.layers.BatchNormalization(name="add_bn")(x)                          # after an Add
    relu_conv = keras.layers.Conv2D(8, 1, activation="relu", name="relu_conv")(x)
    x = keras.layers.BatchNormalization(name="relu_conv_bn")(relu_conv)            # after the conv's own ReLU
    shared = keras.layers.Conv2D(8, 1, name="shared")(x)
    x = keras.layers.Add(name="add2")([keras.layers.BatchNormalization(name="shared_bn")(shared), shared])  # conv read twice
    x = keras.layers.GroupNormalization(4, name="gn")(x)
    x = keras.layers.LayerNormalization(name="ln")(x)
    inner = keras.Input((8, 8, 8))
    head = keras.layers.Dense(5, name="dense")(keras.layers.GlobalAveragePooling2D()(inner))
    head = keras.Model(inner, keras.layers.BatchNormalization(center=False, name="dense_bn")(head), name="head")
    model = randomise_statistics(keras.Model(images, head(x)))

    assert foldable_pairs(model) == {"conv_bn": "conv", "dw_bn": "dw"}
    folded = fold_batchnorm(model)
    assert batch_norms(folded) == ["add_bn", "relu_conv_bn", "shared_bn"]
    assert [layer.name for layer in folded.get_layer("head").layers][-1] == "dense"  # the nested Dense + BN folded
    assert folded.get_layer("dw").use_bias and len(folded.layers) == len(model.layers) - 2
    assert_same_inference(folded, model, np.random.default_rng(1).normal(size=(2, 8, 8, 4)).astype("float32"))


def test_a_trained_compiled_sequential_model_folds_into_a_compiled_functional_one():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, use_bias=False, name="conv"),
                              FusedBatchNormalization(momentum=0.0, name="bn"), keras.layers.ReLU(name="relu"),
                              keras.layers.Flatten(name="flatten"), keras.layers.Dense(3, name="logits")])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(IMAGES[:, :8, :8], np.ones((2, 3)), epochs=1, verbose=0)  # momentum 0: the moving statistics are the batch's
    folded = fold_batchnorm(model)
    assert not isinstance(folded, keras.Sequential) and folded.compiled
    assert [layer.name for layer in folded.layers[1:]] == ["conv", "relu", "flatten", "logits"]
    assert_same_inference(folded, model, IMAGES[:, :8, :8])


def test_the_folded_model_saves_and_reloads(tmp_path):
    model, folded = registered("cifar_resnet", depth=20)
    folded.save(tmp_path / "folded.keras")
    assert_same_inference(keras.saving.load_model(tmp_path / "folded.keras"), model)
