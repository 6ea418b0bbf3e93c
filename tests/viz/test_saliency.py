"""Saliency maps (`kerascv_suite.viz.saliency`) on tiny models whose right answer is known.

Each model is built so that a wrong method fails: a fixed 0/1 mask in front of a conv net
(pixels it provably ignores must get exactly 0), a smooth net (integrated gradients must sum to
f(x) − f(x′)), a GAP + dense network (Grad-CAM at the pooled map is CAM's positive part / h·w),
a dense ReLU net next to a NumPy guided backward pass, and a model whose score is the mean of a
fixed image region (occlusion must find that region and nothing else).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.viz import saliency


def _seeded(seed: int = 0) -> np.random.Generator:
    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ pixels a model ignores

MASK = np.ones((8, 8, 1), np.float32)
MASK[:, :3] = 0          # the left three columns
MASK[5, 6] = MASK[1, 4] = 0


@pytest.fixture(scope="module")
def masked():
    _seeded(0)
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Lambda(lambda images: images * MASK, name="mask")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


@pytest.fixture(scope="module")
def masked_images():
    return _seeded(1).uniform(0.1, 1.0, (4, 8, 8, 2)).astype(np.float32)


def test_gradient_saliency_is_exactly_zero_on_ignored_pixels(masked, masked_images):
    maps = saliency.gradient_saliency(masked, masked_images)
    assert maps.shape == (4, 8, 8)
    ignored = MASK[..., 0] == 0
    assert np.all(maps[:, ignored] == 0.0)
    assert np.all(maps[:, ~ignored].max(axis=1) > 0)
    np.testing.assert_allclose(maps, np.abs(saliency.input_gradients(masked, masked_images)).max(axis=-1))


def test_integrated_gradients_is_exactly_zero_on_ignored_pixels(masked, masked_images):
    attributions = saliency.integrated_gradients(masked, masked_images, steps=16)
    assert attributions.shape == (4, 8, 8, 2)
    assert np.all(attributions[:, MASK[..., 0] == 0] == 0.0)
    assert np.abs(attributions).sum() > 0


def test_smoothgrad_and_guided_backprop_are_zero_on_ignored_pixels(masked, masked_images):
    ignored = MASK[..., 0] == 0
    assert np.all(saliency.smoothgrad(masked, masked_images, samples=4)[:, ignored] == 0.0)
    assert np.all(saliency.guided_backprop(masked, masked_images)[:, ignored] == 0.0)


# ------------------------------------------------------------------ integrated gradients

def test_integrated_gradients_are_complete_on_a_smooth_network():
    rng = _seeded(2)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(5, 3, activation="tanh")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="softplus")(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    images = rng.uniform(0.0, 2.0, (3, 6, 6, 2)).astype(np.float32)
    baseline = rng.uniform(-0.5, 0.5, (6, 6, 2)).astype(np.float32)
    classes = saliency.target_classes(model, images)
    difference = (np.take_along_axis(saliency.logits_of(model, images), classes[:, None], 1)[:, 0]
                  - np.take_along_axis(saliency.logits_of(model, np.broadcast_to(baseline, images.shape)), classes[:, None], 1)[:, 0])
    assert np.all(np.abs(difference) > 0.05)           # a real difference to explain
    attributions = saliency.integrated_gradients(model, images, baseline=baseline, steps=64, batch_size=50)
    np.testing.assert_allclose(attributions.reshape(3, -1).sum(axis=1), difference, rtol=0.01)
    assert np.all(saliency.completeness_error(model, images, attributions, baseline=baseline) < 0.01)
    # a one-point rule is far off where the trapezoid rule is not
    coarse = saliency.integrated_gradients(model, images, baseline=baseline, steps=1, rule="left")
    assert saliency.completeness_error(model, images, coarse, baseline=baseline).max() > 0.01


def test_integrated_gradients_of_a_linear_model_are_the_weights_times_the_input():
    rng = _seeded(3)
    inputs = keras.Input((3, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    images = rng.normal(size=(2, 3, 4, 1)).astype(np.float32)
    kernel = model.layers[-1].kernel.numpy()
    for rule in saliency.RULES:
        attributions = saliency.integrated_gradients(model, images, classes=1, steps=3, rule=rule)
        np.testing.assert_allclose(attributions, images * kernel[:, 1].reshape(1, 3, 4, 1), rtol=1e-5, atol=1e-6)


def test_path_points_are_the_documented_rules():
    alphas, weights = saliency.path_points(4)
    np.testing.assert_allclose(alphas, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(weights, [0.125, 0.25, 0.25, 0.25, 0.125])
    np.testing.assert_allclose(saliency.path_points(4, "midpoint")[0], [0.125, 0.375, 0.625, 0.875])
    with pytest.raises(ValueError, match="rule must be one of"):
        saliency.path_points(4, "simpson")


# ------------------------------------------------------------------ CAM and Grad-CAM

@pytest.fixture(scope="module")
def gap_network():
    _seeded(4)
    inputs = keras.Input((10, 10, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.3)(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))
    model.get_layer("logits").bias.assign(np.array([0.3, -0.2, 0.1, 0.5], np.float32))
    return model


@pytest.fixture(scope="module")
def gap_images():
    return _seeded(5).uniform(0.0, 1.0, (5, 10, 10, 1)).astype(np.float32)


def test_cam_averages_to_the_logit_minus_the_bias(gap_network, gap_images):
    cam = saliency.class_activation_map(gap_network, gap_images, classes=[0, 1, 2, 3, 0], upsample=False)
    assert cam.shape == (5, 5, 5)
    logits = saliency.logits_of(gap_network, gap_images)
    bias = gap_network.get_layer("logits").bias.numpy()
    picked = np.array([0, 1, 2, 3, 0])
    np.testing.assert_allclose(cam.mean(axis=(1, 2)) + bias[picked], logits[np.arange(5), picked], rtol=1e-5, atol=1e-6)


def test_grad_cam_at_the_pooled_map_is_cam_up_to_a_positive_scale(gap_network, gap_images):
    assert saliency.last_feature_map_layer(gap_network) == "last_conv"
    for classes in (None, [1, 1, 2, 3, 0]):
        for upsample in (False, True):
            cam = saliency.class_activation_map(gap_network, gap_images, classes, upsample=upsample, relu=True)
            heat = saliency.grad_cam(gap_network, gap_images, classes, upsample=upsample)
            assert heat.shape == ((5, 10, 10) if upsample else (5, 5, 5)) and heat.max() > 0
            scale = float(np.sum(heat * cam) / np.sum(heat * heat))
            assert scale == pytest.approx(25.0, rel=1e-4)               # h·w of the 5×5 map
            np.testing.assert_allclose(scale * heat, cam, rtol=1e-4, atol=1e-6)


def test_grad_cam_on_an_earlier_layer_and_cam_refusals(gap_network, gap_images):
    first = gap_network.layers[1].name
    assert saliency.grad_cam(gap_network, gap_images, layer=first, upsample=False).shape == (5, 10, 10)
    with pytest.raises(ValueError, match="not a"):
        saliency.grad_cam(gap_network, gap_images, layer="pool")
    inputs = keras.Input((6, 6, 1))
    flat = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs))))
    with pytest.raises(ValueError, match="global average pooling"):
        saliency.class_activation_map(flat, np.zeros((1, 6, 6, 1), np.float32))
    assert saliency.grad_cam(flat, np.ones((1, 6, 6, 1), np.float32)).shape == (1, 6, 6)


def test_grad_cam_explains_any_score_of_a_multi_output_model(gap_network, gap_images):
    """The detector hook: a score read from another output (here: one "detection score" head on the same map)."""
    features = gap_network.get_layer("last_conv").output
    pooled = gap_network.get_layer("pool")(features)
    two_heads = keras.Model(gap_network.input, [gap_network.outputs[0], keras.layers.Dense(3, name="scores")(pooled)])
    classes = np.zeros(5, np.int32)
    default = saliency.grad_cam(two_heads, gap_images, classes, upsample=False)
    np.testing.assert_allclose(default, saliency.grad_cam(gap_network, gap_images, classes, upsample=False), rtol=1e-5, atol=1e-7)
    second = saliency.grad_cam(two_heads, gap_images, classes, upsample=False, score=lambda outputs, _: outputs[1][:, 2])
    weights = two_heads.get_layer("scores").kernel.numpy()[:, 2]      # GAP + dense: α_k = w_k / (h·w)
    expected = np.maximum(np.einsum("bhwk,k->bhw", keras.Model(gap_network.input, features)(gap_images).numpy(), weights / 25.0), 0)
    np.testing.assert_allclose(second, expected, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ guided backpropagation

@pytest.fixture(scope="module")
def relu_net():
    """Three ways of writing a ReLU: built into a Dense, a ReLU layer, an Activation layer; and a ReLU6 left alone."""
    rng = _seeded(6)
    inputs = keras.Input((2, 3, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(10, activation="relu", name="d1")(x)
    x = keras.layers.ReLU(name="r2")(keras.layers.Dense(10, name="d2")(x))
    x = keras.layers.Activation("relu", name="r3")(keras.layers.Dense(10, name="d3")(x))
    x = keras.layers.ReLU(max_value=6.0, name="capped")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape).astype(np.float32))
    return model


def _numpy_guided(model, images, classes) -> np.ndarray:
    """The guided backward pass of `relu_net` in NumPy: at each ReLU keep g where z > 0 and g > 0."""
    w = {name: model.get_layer(name).kernel.numpy().astype(np.float64) for name in ("d1", "d2", "d3", "logits")}
    b = {name: model.get_layer(name).bias.numpy().astype(np.float64) for name in w}
    x = images.reshape(len(images), -1).astype(np.float64)
    z1 = x @ w["d1"] + b["d1"]
    z2 = np.maximum(z1, 0) @ w["d2"] + b["d2"]
    z3 = np.maximum(z2, 0) @ w["d3"] + b["d3"]
    a3 = np.maximum(z3, 0)
    g = w["logits"][:, classes].T * (a3 < 6)                 # through ReLU6: its ordinary gradient
    for z, below in ((z3, "d3"), (z2, "d2"), (z1, "d1")):
        g = g * (z > 0) * (g > 0)                            # the guided ReLU, then the dense layer under it
        g = g @ w[below].T
    return g.reshape(images.shape)


def test_guided_model_overrides_exactly_the_plain_relus(relu_net):
    guided, names = saliency.guided_model(relu_net)
    assert names == ["d1", "r2", "r3"]
    images = _seeded(7).normal(size=(6, 2, 3, 1)).astype(np.float32)
    np.testing.assert_allclose(guided(images), relu_net(images), rtol=1e-6)   # forward unchanged


def test_guided_backprop_matches_numpy_and_differs_from_the_gradient(relu_net):
    images = _seeded(8).normal(size=(16, 2, 3, 1)).astype(np.float32)
    classes = saliency.target_classes(relu_net, images)
    guided = saliency.guided_backprop(relu_net, images)
    np.testing.assert_allclose(guided, _numpy_guided(relu_net, images, classes), rtol=1e-5, atol=1e-6)
    vanilla = saliency.input_gradients(relu_net, images)
    assert np.abs(guided - vanilla).max() > 1e-3


def test_no_negative_gradient_passes_an_overridden_relu(relu_net):
    images = _seeded(9).normal(size=(32, 2, 3, 1)).astype(np.float32)
    classes = saliency.target_classes(relu_net, images)

    def gradient_at(model, layer):   # ∂score/∂(the input of an overridden ReLU layer)
        probe = keras.Model(model.input, [model.get_layer(layer).input, model.outputs[0]])
        with tf.GradientTape() as tape:
            hidden, logits = probe(images)
            score = tf.gather(logits, classes, axis=1, batch_dims=1)
        return tape.gradient(score, hidden).numpy()

    guided, _ = saliency.guided_model(relu_net)
    for layer in ("r2", "r3"):
        assert gradient_at(guided, layer).min() >= 0 and gradient_at(guided, layer).max() > 0
        assert gradient_at(relu_net, layer).min() < 0                     # the vanilla gradient does pass them


def test_conv_with_built_in_relu_is_guided_like_a_separate_relu_layer():
    rng = _seeded(10)
    inputs = keras.Input((7, 7, 2))
    built_in = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Conv2D(5, 3, activation="relu")(inputs)))))
    inputs = keras.Input((7, 7, 2))
    x = keras.layers.ReLU()(keras.layers.Conv2D(5, 3)(inputs))
    x = keras.layers.Activation("relu")(keras.layers.Conv2D(4, 3)(x))
    separate = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    separate.set_weights(built_in.get_weights())
    images = rng.normal(size=(4, 7, 7, 2)).astype(np.float32)
    guided = saliency.guided_backprop(built_in, images, classes=2)
    np.testing.assert_allclose(guided, saliency.guided_backprop(separate, images, classes=2), rtol=1e-5, atol=1e-7)
    assert np.abs(guided - saliency.input_gradients(built_in, images, classes=2)).max() > 1e-4


def test_guided_backprop_refuses_a_network_without_relu():
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Conv2D(2, 3, activation="tanh")(inputs))))
    with pytest.raises(ValueError, match="no ReLU"):
        saliency.guided_model(model)


# ------------------------------------------------------------------ occlusion

def _region_model() -> keras.Model:
    """Class 0's logit is the mean of rows 4–7, columns 4–7 of a 12×12 image; class 1's its negative."""
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Cropping2D(((4, 4), (4, 4)))(inputs))
    dense = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.array([[1.0, -1.0]], np.float32), np.zeros(2, np.float32)])
    return model


def _numpy_occlusion(images, patch, stride, fill):
    region = np.zeros((12, 12), bool)
    region[4:8, 4:8] = True
    score = lambda x: x[:, region, 0].mean(axis=1)
    starts = sorted(set(range(0, 12 - patch + 1, stride)) | {12 - patch})
    total, count = np.zeros(images.shape[:3]), np.zeros((12, 12))
    for i in starts:
        for j in starts:
            occluded = images.copy()
            occluded[:, i : i + patch, j : j + patch] = fill
            total[:, i : i + patch, j : j + patch] += (score(images) - score(occluded))[:, None, None]
            count[i : i + patch, j : j + patch] += 1
    return total / count


def test_occlusion_finds_exactly_the_region_the_model_reads():
    model = _region_model()
    images = _seeded(11).uniform(0.5, 1.0, (3, 12, 12, 1)).astype(np.float32)
    drop = saliency.occlusion_sensitivity(model, images, classes=0, patch=4, stride=4)
    expected = np.zeros((3, 12, 12), np.float32)
    expected[:, 4:8, 4:8] = images[:, 4:8, 4:8, 0].mean(axis=(1, 2))[:, None, None]   # the whole score
    np.testing.assert_allclose(drop, expected, rtol=1e-5, atol=1e-7)
    single = saliency.occlusion_sensitivity(model, images, classes=0, patch=1, stride=1, batch_size=50)
    np.testing.assert_allclose(single, np.where(expected > 0, images[..., 0] / 16, 0), rtol=1e-5, atol=1e-7)


def test_occlusion_matches_a_numpy_loop_with_overlapping_patches():
    model = _region_model()
    images = _seeded(12).uniform(0.5, 1.0, (2, 12, 12, 1)).astype(np.float32)
    drop = saliency.occlusion_sensitivity(model, images, classes=0, patch=3, stride=2, fill=0.25, batch_size=7)
    np.testing.assert_allclose(drop, _numpy_occlusion(images, 3, 2, 0.25), rtol=1e-5, atol=1e-6)
    assert all(4 <= index // 12 < 8 and 4 <= index % 12 < 8 for index in drop.reshape(2, -1).argmax(axis=1))
    # class 1 is minus class 0: hiding the region raises it
    np.testing.assert_allclose(saliency.occlusion_sensitivity(model, images, classes=1, patch=3, stride=2, fill=0.25),
                               -drop, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ SmoothGrad

def test_smoothgrad_without_noise_is_the_gradient_and_seeds_reproduce(masked, masked_images):
    np.testing.assert_allclose(saliency.smoothgrad(masked, masked_images, noise=0.0, samples=3),
                               saliency.gradient_saliency(masked, masked_images), rtol=1e-5, atol=1e-8)
    first = saliency.smoothgrad(masked, masked_images, noise=0.2, samples=6, seed=3)
    np.testing.assert_allclose(saliency.smoothgrad(masked, masked_images, noise=0.2, samples=6, seed=3, batch_size=5), first,
                               rtol=1e-5, atol=1e-8)
    other = saliency.smoothgrad(masked, masked_images, noise=0.2, samples=6, seed=4)
    assert np.abs(first - other).max() > 1e-6
    assert np.abs(first - saliency.gradient_saliency(masked, masked_images)).max() > 1e-6


# ------------------------------------------------------------------ the picture

def test_overlay_writes_one_row_per_image_and_one_column_per_method(tmp_path, gap_network, gap_images):
    import matplotlib.image

    maps = {"gradient": saliency.gradient_saliency(gap_network, gap_images[:3]),
            "IG": saliency.integrated_gradients(gap_network, gap_images[:3], steps=4),           # 4-D, signed
            "CAM": saliency.class_activation_map(gap_network, gap_images[:3])}
    path = tmp_path / "saliency.png"
    saliency.overlay(gap_images[:3], maps, path, titles=["a", "b", "c"], title="three tiny maps")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width > height                                            # 4 columns, 3 rows
    single = tmp_path / "one.png"
    saliency.overlay(gap_images[:2], maps["gradient"][:2], single)
    assert single.stat().st_size > 0
