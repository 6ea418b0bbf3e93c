"""Synthesis by gradient ascent (`kerascv_suite.viz.synthesis`) on tiny untrained conv nets of 8×8 images.

The objectives are read from the network, so what can be checked without a trained model is
that each ascent does what it says: the class score rises, the features match, the activation
norm grows; that the priors act (clip range, the L2 penalty shrinks the image, the blur preserves
a constant image and lowers the total variation) and that seeds reproduce. Total variation itself
is tested where it lives, with the perceptual losses (tests/models/test_perceptual.py).
"""

import keras
import numpy as np
import pytest

from kerascv_suite.viz import synthesis

SHAPE = (8, 8, 1)
CLASSES = 3


def _conv_net(seed: int, activation: str = "tanh") -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(SHAPE)
    strong = keras.initializers.RandomNormal(stddev=0.5)   # a score that depends on the image by more than a trace
    x = keras.layers.Conv2D(8, 3, activation=activation, kernel_initializer=strong, name="conv1")(inputs)
    x = keras.layers.Conv2D(16, 3, activation=activation, kernel_initializer=strong, name="conv2")(x)
    # global average pooling: nearly indifferent to the jitter's rolls, as a real classifier is to small shifts
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(CLASSES, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0), name="logits")
    return keras.Model(inputs, dense(x))


@pytest.fixture(scope="module")
def net():
    return _conv_net(0)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(1)
    return np.clip(0.5 + 0.3 * rng.standard_normal((1, *SHAPE)), 0, 1).astype(np.float32)


# ------------------------------------------------------------------ priors

def test_gaussian_blur_keeps_constants_and_lowers_total_variation():
    assert synthesis.gaussian_kernel(1.0).sum() == pytest.approx(1.0)
    constant = np.full((2, 6, 7, 3), 0.3, np.float32)
    np.testing.assert_allclose(synthesis.gaussian_blur(constant, 1.0).numpy(), constant, atol=1e-6)
    noise = np.random.default_rng(3).uniform(0, 1, (2, 8, 8, 1)).astype(np.float32)
    blurred = synthesis.gaussian_blur(noise, 1.0).numpy()
    assert blurred.shape == noise.shape
    assert np.all(synthesis.total_variation(blurred).numpy() < 0.5 * synthesis.total_variation(noise).numpy())


# ------------------------------------------------------------------ class visualisation

def test_class_visualisation_raises_the_target_score_inside_the_clip_range(net):
    images, scores = synthesis.class_visualisation(net, [0, 1, 2], SHAPE, steps=80, learning_rate=0.1, l2=1e-3,
                                                   blur_every=10, blur_sigma=0.5, jitter=1, clip=(0.0, 1.0), seed=0)
    assert images.shape == (3, *SHAPE) and scores.shape == (80, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0
    first, last = scores[:5].mean(axis=0), scores[-5:].mean(axis=0)
    assert np.all(last > first + 1.0), (first, last)
    # monotonic on average: the mean score of each third of the run is above the previous third's
    thirds = [part.mean(axis=0) for part in np.array_split(scores, 3)]
    assert np.all(thirds[0] < thirds[1]) and np.all(thirds[1] < thirds[2]), thirds


def test_class_visualisation_l2_penalty_shrinks_the_image(net):
    common = dict(steps=40, learning_rate=0.05, blur_every=0, jitter=0, clip=None, seed=0)
    free, _ = synthesis.class_visualisation(net, 1, SHAPE, l2=0.0, **common)
    penalised, _ = synthesis.class_visualisation(net, 1, SHAPE, l2=0.5, **common)
    assert np.linalg.norm(penalised) < 0.8 * np.linalg.norm(free)


def test_class_visualisation_seeds_reproduce(net):
    run = lambda seed: synthesis.class_visualisation(net, [2], SHAPE, steps=10, jitter=2, blur_every=5, seed=seed)[0]
    np.testing.assert_array_equal(run(4), run(4))
    assert not np.allclose(run(4), run(5))


# ------------------------------------------------------------------ feature inversion

def test_feature_inversion_matches_the_features(net, image):
    reconstruction, losses = synthesis.feature_inversion(net, image[0], "conv1", steps=150, tv_weight=1e-4,
                                                         learning_rate=0.05, seed=0)
    assert reconstruction.shape == SHAPE and losses.shape == (150, 1)
    assert losses[-1, 0] <= 0.1 * losses[0, 0], (losses[0, 0], losses[-1, 0])
    # the history is the relative squared error, as `feature_loss` measures it
    final = synthesis.feature_loss(net, reconstruction[None], "conv1", image)[0]
    assert final == pytest.approx(float(losses[-1, 0]), rel=0.5, abs=1e-3)
    assert final < 0.1 * losses[0, 0]


def test_feature_inversion_seeds_reproduce(net, image):
    run = lambda seed: synthesis.feature_inversion(net, image, "conv2", steps=5, seed=seed)[0]
    np.testing.assert_array_equal(run(1), run(1))
    assert run(1).shape == image.shape and not np.allclose(run(1), run(2))


# ------------------------------------------------------------------ deep dream

def test_octave_sizes_go_from_coarse_to_the_image():
    assert synthesis.octave_sizes((32, 32), 3, 1.4) == [(16, 16), (23, 23), (32, 32)]
    assert synthesis.octave_sizes((8, 6), 1, 2.0) == [(8, 6)]


def test_deep_dream_amplifies_the_layer_and_keeps_the_shape(net, image):
    probe = synthesis.layer_model(net, "conv2")
    norm = lambda x: float(np.sum(np.square(keras.ops.convert_to_numpy(probe(x)))))
    dreamed, objectives = synthesis.deep_dream(net, image, "conv2", steps=10, octaves=2, octave_scale=1.5, jitter=1,
                                               step_size=0.05, clip=(0.0, 1.0), seed=0)
    assert dreamed.shape == image.shape and objectives.shape == (20, 1)
    assert dreamed.min() >= 0.0 and dreamed.max() <= 1.0
    assert norm(dreamed) > 1.2 * norm(image)
    assert objectives[-1, 0] > objectives[10, 0]     # the last octave's ascent raises ½‖a‖²
    single, _ = synthesis.deep_dream(net, image[0], "conv2", steps=2, octaves=3, seed=0)
    assert single.shape == SHAPE


def test_deep_dream_seeds_reproduce(net, image):
    run = lambda seed: synthesis.deep_dream(net, image, "conv1", steps=4, octaves=2, jitter=2, seed=seed)[0]
    np.testing.assert_array_equal(run(3), run(3))
