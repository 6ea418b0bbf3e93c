"""Texture synthesis and style transfer (`kerascv_suite.viz.style`) on a tiny random-weight conv net of 32×32 images.

Random filters already make Gram matching meaningful (Ustyuzhaninov et al., 2016), so without a
trained model the tests check what each optimisation promises: the Gram loss of texture
synthesis falls at least tenfold, style transfer lowers both its content and its style loss,
results stay in the clip range, and the reports draw their pictures and refuse bad keys.
"""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from kerascv_suite.spec.errors import UserError
from kerascv_suite.viz import style


def _net() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = keras.layers.Activation("relu", name="c1_act")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="c2")(x)
    x = keras.layers.Activation("relu", name="c2_act")(x)   # same resolution as c1_act: not a default
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="c3")(x)
    x = keras.layers.Activation("relu", name="c3_act")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


@pytest.fixture(scope="module")
def net():
    return _net()


@pytest.fixture(scope="module")
def brick():
    return style.skimage_image("brick", 32, scale=2)


def test_skimage_textures_are_grayscale_crops_in_unit_range(brick):
    assert brick.shape == (32, 32, 1) and 0 <= brick.min() < brick.max() <= 1
    assert style.skimage_image("chelsea", 16).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="unknown scikit-image picture 'bricks'; allowed: brick, grass"):
        style.skimage_image("bricks", 16)


def test_match_channels_repeats_grey_and_averages_colour():
    grey = np.random.default_rng(0).random((1, 4, 4, 1), np.float32)
    colour = style.match_channels(grey, 3).numpy()
    assert colour.shape == (1, 4, 4, 3) and np.all(colour == grey)
    np.testing.assert_allclose(style.match_channels(colour * [1, 2, 3], 1).numpy(), 2 * grey, rtol=1e-6)
    with pytest.raises(ValueError, match="2-channel"):
        style.match_channels(np.zeros((1, 2, 2, 2), np.float32), 3)


def test_default_layers_are_the_first_activation_at_each_resolution(net):
    assert style.default_layers(net) == ["c1_act", "c3_act"]
    assert style.default_layers(net, count=1) == ["c1_act"]


def test_texture_synthesis_lowers_the_gram_loss_tenfold(net, brick):
    image, losses = style.texture_synthesis(net, brick, ["c1_act", "c3_act"], steps=60, learning_rate=0.05, size=(24, 24))
    assert image.shape == (24, 24, 1) and 0 <= image.min() and image.max() <= 1   # the texture's channels, clipped
    assert losses.shape == (60,) and losses[0] >= 10 * losses[-1]


def test_style_transfer_lowers_content_and_style_losses(net, brick):
    content = style.skimage_image("chelsea", 32)
    result, histories = style.style_transfer(net, content, brick, ["c3_act"], ["c1_act", "c3_act"], steps=40,
                                             learning_rate=0.05)
    assert result.shape == (32, 32, 3) and set(histories) == {"content", "style", "tv"}
    assert histories["content"][-1] < 0.25 * histories["content"][0]
    assert histories["style"][-1] < 0.25 * histories["style"][0]


def test_style_transfer_from_the_content_image_starts_at_zero_content_loss(net, brick):
    content = style.skimage_image("coffee", 32)
    _, histories = style.style_transfer(net, content, brick, ["c3_act"], ["c1_act"], steps=3, start="content")
    assert histories["content"][0] == pytest.approx(0.0, abs=1e-9) and histories["content"][-1] > 0


def test_a_layer_not_in_the_model_is_named(net, brick):
    with pytest.raises(ValueError, match=r"layers \['conv9'\] are not in model"):
        style.texture_synthesis(net, brick, ["c1_act", "conv9"], steps=1)
    with pytest.raises(ValueError, match="one per layer"):
        style.texture_synthesis(net, brick, ["c1_act"], steps=1, weights=[1.0, 2.0])


def _pipeline(preprocess):
    return SimpleNamespace(data=SimpleNamespace(preprocess=preprocess))


def test_the_reports_draw_their_pictures(net, tmp_path):
    rescale = [{"name": "rescale", "scale": 1 / 255, "offset": 0.0}]
    textures = style.TextureSynthesis(textures=["grass"], steps=2, size=32)
    transfer = style.StyleTransfer(content="astronaut", style="gravel", steps=2, size=32)
    written = textures.write(net, _pipeline(rescale), tmp_path, "00-texture_synthesis", "run: model (t)")
    written += transfer.write(net, _pipeline(rescale), tmp_path, "01-style_transfer", "run: model (t)")
    assert [p.name for p in written] == ["00-texture_synthesis.png", "01-style_transfer.png"]
    assert all(p.stat().st_size > 0 for p in written)


def test_the_reports_refuse_bad_keys_and_unknown_input_ranges(net, tmp_path):
    with pytest.raises(UserError, match=r"report texture_synthesis: textures \['marble'\] are not scikit-image pictures; allowed"):
        style.TextureSynthesis(textures=["brick", "marble"])
    with pytest.raises(UserError, match="report style_transfer: content"):
        style.StyleTransfer(content="dog")
    standardised = [{"name": "standardize"}]
    with pytest.raises(ValueError, match="input range unknown"):
        style.TextureSynthesis(steps=1).write(net, _pipeline(standardised), tmp_path, "t", "")
