"""The fast style network (Johnson et al.) and its trainer, on tiny images and a tiny loss network."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers.instance_norm import ConditionalInstanceNormalization
from kerascv_suite.models.perceptual import content_loss, gram_matrix, style_loss, total_variation
from kerascv_suite.models.style_network import FastStyleTrainer, style_network
from kerascv_suite.registry import MODELS

RNG = np.random.default_rng(0)
CONTENT = tf.constant(RNG.uniform(size=(8, 16, 16, 3)), tf.float32)
# two noise textures, warm and cool: different Gram matrices, and styles a tiny network learns in a few steps
STYLES = np.clip(RNG.uniform(size=(2, 16, 16, 3)) * 0.3 + [[[[0.8, 0.4, 0.1]]], [[[0.1, 0.3, 0.8]]]], 0, 1).astype("float32")


def tiny_loss_network():
    images = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(images)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    return keras.Model(images, x, name="tiny")


def randomise_styles(network):
    """Give every conditional normalisation distinct per-style γ, β (they start equal: 1 and 0)."""
    rng = np.random.default_rng(1)
    for layer in network.layers:
        if isinstance(layer, ConditionalInstanceNormalization):
            layer.gamma.assign(rng.uniform(0.5, 2.0, size=layer.gamma.shape))
            layer.beta.assign(rng.normal(size=layer.beta.shape))
    return network


def test_registered_and_shapes_values_and_norm_layers():
    assert MODELS.get("style_network") is style_network
    one = style_network((16, 16, 3), filters=4, residual_blocks=2)
    y = one(CONTENT[:2]).numpy()
    assert y.shape == (2, 16, 16, 3) and 0.0 <= y.min() and y.max() <= 1.0 and y.std() > 1e-3
    assert [type(layer) for layer in one.layers if "norm" in layer.name] == [keras.layers.GroupNormalization] * 9   # 3 + 2 per block + 2
    assert all(layer.groups == layer.gamma.shape[0] for layer in one.layers if isinstance(layer, keras.layers.GroupNormalization))  # a group per channel
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in one.layers)
    three = style_network((None, None, 3), styles=3, filters=4, residual_blocks=1)
    assert [i.name for i in three.inputs] == ["images", "style"]
    assert sum(isinstance(layer, ConditionalInstanceNormalization) for layer in three.layers) == 7
    assert three([CONTENT[:2, :8, :12], tf.one_hot([0, 2], 3)]).shape == (2, 8, 12, 3)   # any size dividing by 4


def test_the_style_input_changes_the_output_and_round_trips(tmp_path):
    network = randomise_styles(style_network((16, 16, 3), styles=2, filters=4, residual_blocks=1))
    first, second = (network([CONTENT[:2], tf.one_hot([s, s], 2)]).numpy() for s in (0, 1))
    assert np.abs(first - second).mean() > 1e-2
    # per image: image 0 in style 0 and image 1 in style 1 in one batch
    np.testing.assert_allclose(network([CONTENT[:2], tf.one_hot([0, 1], 2)]), np.stack([first[0], second[1]]), atol=1e-5)
    network.save(tmp_path / "style.keras")
    loaded = keras.models.load_model(tmp_path / "style.keras")
    mixture = tf.constant([[0.3, 0.7], [0.5, 0.5]])
    np.testing.assert_allclose(loaded([CONTENT[:2], mixture]), network([CONTENT[:2], mixture]), atol=1e-5)


def test_losses_use_each_images_own_style_targets():
    network = style_network((16, 16, 3), styles=2, filters=4, residual_blocks=1)
    loss_network = tiny_loss_network()
    trainer = FastStyleTrainer(network, loss_network, ["c2"], ["c1", "c2"], STYLES, content_weight=2.0,
                               style_weight=30.0, tv_weight=0.01, style_layer_weights=[1.0, 0.5])
    style = tf.one_hot([1, 0, 1], 2)
    losses = trainer.losses_of(CONTENT[:3], style)
    stylised = network([CONTENT[:3], style])
    c1, c2 = keras.Model(loss_network.input, [loss_network.get_layer(n).output for n in ("c1", "c2")])(stylised)
    s1, s2 = keras.Model(loss_network.input, [loss_network.get_layer(n).output for n in ("c1", "c2")])(STYLES[[1, 0, 1]])
    expected_style = 30.0 * np.mean(style_loss([c1, c2], [gram_matrix(s1), gram_matrix(s2)], [1.0, 0.5]))
    np.testing.assert_allclose(losses["style_loss"], expected_style, rtol=1e-4)
    np.testing.assert_allclose(losses["content_loss"], 2.0 * np.mean(content_loss(c2, loss_network(CONTENT[:3]))), rtol=1e-4)
    np.testing.assert_allclose(losses["tv_loss"], 0.01 * np.mean(total_variation(stylised)), rtol=1e-4)
    np.testing.assert_allclose(losses["loss"], losses["content_loss"] + losses["style_loss"] + losses["tv_loss"], rtol=1e-6)


def test_a_few_steps_lower_the_total_loss_and_log_every_term():
    keras.utils.set_random_seed(0)
    network = style_network((16, 16, 3), styles=2, filters=4, residual_blocks=1)
    trainer = FastStyleTrainer(network, tiny_loss_network(), ["c2"], ["c1", "c2"], STYLES, style_weight=10.0, tv_weight=1e-3)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01))
    before, both_styles = network.get_weights(), tf.one_hot([0, 1] * 4, 2)   # batches draw styles at random: judge on fixed ones
    start = trainer.losses_of(CONTENT, both_styles)["loss"].numpy()
    history = trainer.fit(CONTENT, batch_size=4, epochs=12, verbose=0).history
    assert set(history) == {"loss", "content_loss", "style_loss", "tv_loss"}
    assert trainer.losses_of(CONTENT, both_styles)["loss"].numpy() < 0.6 * start
    assert trainer.features.trainable_weights == [] and trainer.optimizer.iterations.numpy() == 24
    assert all(not np.allclose(a, b) for a, b in zip(before, network.get_weights()) if a.shape[0] == 2)   # every style's γ, β moved


@pytest.mark.parametrize("precision, jit_compile", [("float32", True), ("mixed_bfloat16", False)])
def test_trains_under_xla_and_mixed_precision(precision, jit_compile):
    # tests/models/test_every_model.py checks this for models a spec's task trains; this one trains by its own trainer
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        network = style_network((16, 16, 3), styles=2, filters=4, residual_blocks=1)
    finally:
        keras.config.set_dtype_policy(previous)
    assert network.get_layer("down1_norm").compute_dtype == precision.removeprefix("mixed_")
    trainer = FastStyleTrainer(network, tiny_loss_network(), ["c2"], ["c1"], STYLES)
    trainer.compile(optimizer="adam", jit_compile=jit_compile)
    logs = trainer.fit(CONTENT[:4], batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and trainer.jit_compile == jit_compile
    assert network([CONTENT[:1], tf.one_hot([0], 2)]).dtype == tf.float32


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (18, 16, 3)}, "divide by 4"),
    ({"input_shape": (16, 16)}, "height, width, channels"),
    ({"styles": 0}, "styles must be an integer ≥ 1"),
    ({"filters": 2.5}, "filters must be an integer"),
    ({"residual_blocks": -1}, "residual_blocks must be an integer ≥ 0"),
])
def test_bad_network_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        style_network(**{"input_shape": (16, 16, 3), **kwargs})


@pytest.mark.parametrize("kwargs, message", [
    ({"style_images": STYLES[:1]}, r"style_images must be \[styles=2, H, W, C\]"),
    ({"style_layers": []}, "at least one content layer and one style layer"),
    ({"style_layers": ["c9"]}, r"layers \['c9'\] are not in model tiny"),
    ({"style_layer_weights": [1.0, 2.0]}, "2 style_layer_weights for 1 style layers"),
])
def test_bad_trainer_arguments(kwargs, message):
    network = style_network((16, 16, 3), styles=2, filters=4, residual_blocks=0)
    arguments = {"content_layers": ["c2"], "style_layers": ["c1"], "style_images": STYLES, **kwargs}
    with pytest.raises(ValueError, match=message):
        FastStyleTrainer(network, tiny_loss_network(), **arguments)
