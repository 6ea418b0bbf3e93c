"""Adversarial examples (`kerascv_suite.viz.adversarial`) on tiny models whose gradients are known.

A linear model on flat inputs has ∇ₓ cross-entropy = W (softmax − one-hot) in closed form, so
FGSM's step must be exactly ε·sign of that; its cross-entropy is convex in x, so a step along
the gradient's sign raises the loss of every image (f(x + δ) ≥ f(x) + ∇f·δ = f(x) + ε‖∇f‖₁).
A small tanh MLP trained for a few epochs on three blobs of 4×4 images is the nonlinear model
where PGD has something to find beyond FGSM's single step.
"""

import keras
import numpy as np
import pytest

from kerascv_suite.viz import adversarial, saliency

SHAPE = (4, 4, 1)
CLASSES = 3


def _seeded(seed: int = 0) -> np.random.Generator:
    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


def _linear(weights: np.ndarray, bias: np.ndarray) -> keras.Model:
    inputs = keras.Input(SHAPE)
    dense = keras.layers.Dense(CLASSES)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([weights, bias])
    return model


def _reference_gradient(weights, bias, images, labels) -> np.ndarray:
    """∇ₓ cross-entropy of a linear model, in NumPy: W (softmax(Wx + b) − one-hot(y))."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    logits = flat @ weights + bias
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(images)), labels] -= 1.0
    return (p @ weights.T).reshape(images.shape)


@pytest.fixture(scope="module")
def blobs():
    """300 images of three classes: a fixed mean image per class plus noise, inside [0.1, 0.9]."""
    rng = _seeded(0)
    means = rng.uniform(0.3, 0.7, (CLASSES, *SHAPE))
    labels = np.repeat(np.arange(CLASSES), 100)
    images = np.clip(means[labels] + rng.normal(0, 0.12, (len(labels), *SHAPE)), 0.1, 0.9).astype(np.float32)
    order = rng.permutation(len(labels))
    return images[order], labels[order].astype(np.int32)


def _trained(model: keras.Model, blobs, epochs: int) -> keras.Model:
    images, labels = blobs
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, epochs=epochs, batch_size=50, verbose=0)
    return model


@pytest.fixture(scope="module")
def trained_linear(blobs):
    _seeded(1)
    inputs = keras.Input(SHAPE)
    return _trained(keras.Model(inputs, keras.layers.Dense(CLASSES)(keras.layers.Flatten()(inputs))), blobs, epochs=5)


@pytest.fixture(scope="module")
def trained_mlp(blobs):
    _seeded(2)
    inputs = keras.Input(SHAPE)
    x = keras.layers.Dense(16, activation="tanh")(keras.layers.Flatten()(inputs))
    x = keras.layers.Dense(16, activation="tanh")(x)
    return _trained(keras.Model(inputs, keras.layers.Dense(CLASSES)(x)), blobs, epochs=10)


# ------------------------------------------------------------------ FGSM

def test_fgsm_step_is_epsilon_times_the_closed_form_gradient_sign():
    rng = _seeded(3)
    weights, bias = rng.normal(0, 1, (16, CLASSES)).astype(np.float32), rng.normal(0, 1, CLASSES).astype(np.float32)
    model = _linear(weights, bias)
    images = rng.uniform(0, 1, (6, *SHAPE)).astype(np.float32)
    labels = rng.integers(0, CLASSES, 6)
    reference = _reference_gradient(weights, bias, images, labels)
    np.testing.assert_allclose(adversarial.loss_gradient(model, images, labels), reference, rtol=1e-4, atol=1e-6)
    epsilon = 0.1
    unclipped = adversarial.fgsm(model, images, labels, epsilon, value_range=None)
    np.testing.assert_allclose(unclipped - images, epsilon * np.sign(reference), atol=1e-6)
    clipped = adversarial.fgsm(model, images, labels, epsilon, value_range=(0.0, 1.0), batch_size=4)
    np.testing.assert_allclose(clipped, np.clip(images + epsilon * np.sign(reference), 0, 1), atol=1e-6)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    assert np.all(np.abs(clipped - images) <= epsilon + 1e-6)
    # targeted: the step is minus ε·sign of the target's gradient
    targets = (labels + 1) % CLASSES
    towards = adversarial.fgsm(model, images, None, epsilon, value_range=None, target=targets)
    np.testing.assert_allclose(towards - images, -epsilon * np.sign(_reference_gradient(weights, bias, images, targets)), atol=1e-6)


def test_fgsm_raises_the_loss_of_every_image_of_a_trained_linear_model(trained_linear, blobs):
    images, labels = blobs
    before = adversarial.cross_entropy(trained_linear, images, labels)
    # ε below the 0.1 margin to the value range: no pixel is clipped, so convexity guarantees the rise
    after = adversarial.cross_entropy(trained_linear, adversarial.fgsm(trained_linear, images, labels, 0.05), labels)
    assert np.all(after > before)


# ------------------------------------------------------------------ PGD

def test_pgd_stays_in_the_ball_and_value_range_and_beats_fgsm(trained_mlp, blobs):
    images, labels = blobs
    epsilon = 0.06
    adv = adversarial.pgd(trained_mlp, images, labels, epsilon, step_size=epsilon / 4, steps=10)
    assert np.all(np.abs(adv - images) <= epsilon + 1e-6)
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    wide = adversarial.pgd(trained_mlp, images[:20], labels[:20], 0.5, step_size=0.1, steps=10)
    assert wide.min() >= 0.0 and wide.max() <= 1.0 and np.all(np.abs(wide - images[:20]) <= 0.5 + 1e-6)
    rows = {row["attack"]: row for row in adversarial.attack_report(trained_mlp, images, labels, [epsilon])}
    fgsm_row, pgd_row = rows["FGSM"], rows["PGD"]
    assert fgsm_row["clean_accuracy"] == pgd_row["clean_accuracy"] > 0.9
    assert 0.0 < fgsm_row["success_rate"] <= pgd_row["success_rate"]
    assert pgd_row["loss"] >= fgsm_row["loss"]
    assert pgd_row["adversarial_accuracy"] <= fgsm_row["adversarial_accuracy"]
    assert fgsm_row["linf"] <= epsilon + 1e-6 and pgd_row["linf"] <= epsilon + 1e-6
    assert 0.0 < pgd_row["l2"] <= epsilon * np.sqrt(np.prod(SHAPE)) + 1e-5


def test_targeted_attacks_raise_the_targets_probability(trained_mlp, blobs):
    images, labels = blobs[0][:30], blobs[1][:30]
    targets = (labels + 1) % CLASSES
    probability = lambda x: np.exp(-adversarial.cross_entropy(trained_mlp, x, targets))
    before = probability(images)
    after_fgsm = probability(adversarial.fgsm(trained_mlp, images, labels, 0.01, target=targets))
    after_pgd = probability(adversarial.pgd(trained_mlp, images, labels, 0.05, step_size=0.005, steps=10,
                                            random_start=False, target=targets))
    assert np.all(after_fgsm > before)
    assert np.all(after_pgd > after_fgsm)


def test_fooling_image_reaches_every_class(trained_mlp, blobs):
    images, labels = blobs
    start = images[int(np.flatnonzero(labels == 0)[0])]
    fooled, steps, reached = adversarial.fooling_image(trained_mlp, np.stack([start] * CLASSES), np.arange(CLASSES),
                                                       probability=0.95, step_size=0.02, max_steps=200)
    assert fooled.shape == (CLASSES, *SHAPE) and fooled.min() >= 0.0 and fooled.max() <= 1.0
    assert np.all(steps >= 0) and np.all(reached >= 0.95)
    np.testing.assert_array_equal(np.argmax(saliency.logits_of(trained_mlp, fooled), axis=1), np.arange(CLASSES))
    # the class it already has with p ≥ 0.95 takes no step
    assert steps[0] == 0 and np.array_equal(fooled[0], start)
    one, one_steps, one_p = adversarial.fooling_image(trained_mlp, start, 2, probability=0.95, step_size=0.02, max_steps=200)
    assert one.shape == SHAPE and one_steps == steps[2]
    np.testing.assert_allclose(one, fooled[2])
    # a bound it cannot leave: at most max_steps, then −1
    _, stuck, _ = adversarial.fooling_image(trained_mlp, start, 2, probability=0.999999, step_size=0.001, max_steps=3, epsilon=0.003)
    assert stuck == -1


# ------------------------------------------------------------------ invariants

def test_epsilon_zero_changes_nothing(trained_mlp, blobs):
    images, labels = blobs[0][:40], blobs[1][:40]
    np.testing.assert_array_equal(adversarial.fgsm(trained_mlp, images, labels, 0.0), images)
    np.testing.assert_array_equal(adversarial.pgd(trained_mlp, images, labels, 0.0, steps=5), images)
    row_fgsm, row_pgd = adversarial.attack_report(trained_mlp, images, labels, [0.0])
    for row in (row_fgsm, row_pgd):
        assert row["success_rate"] == 0.0 and row["linf"] == 0.0 and row["l2"] == 0.0
        assert row["adversarial_accuracy"] == row["clean_accuracy"]


def test_pgd_seeds_reproduce_and_do_not_depend_on_the_batch(trained_mlp, blobs):
    images, labels = blobs[0][:20], blobs[1][:20]
    run = lambda seed, batch_size=128: adversarial.pgd(trained_mlp, images, labels, 0.05, steps=3, seed=seed, batch_size=batch_size)
    first = run(3)
    np.testing.assert_array_equal(first, run(3))
    np.testing.assert_allclose(first, run(3, batch_size=7), atol=1e-6)
    assert not np.array_equal(first, run(4))


def test_boundary_errors(trained_mlp, blobs):
    images, labels = blobs[0][:4], blobs[1][:4]
    with pytest.raises(ValueError, match="outside value_range"):
        adversarial.fgsm(trained_mlp, images * 3, labels, 0.1)
    with pytest.raises(ValueError, match="batch"):
        adversarial.fgsm(trained_mlp, images[0], labels, 0.1)
    with pytest.raises(ValueError, match="true labels"):
        adversarial.pgd(trained_mlp, images, None, 0.1)


# ------------------------------------------------------------------ pictures

def test_pictures_draw_every_attack_and_return_the_fooling_rows(trained_mlp, blobs, tmp_path):
    images, labels = blobs
    only_zeros = images[labels == 0][:2]           # shown labels need not cover the classes the model may predict
    attacked = {"FGSM": adversarial.fgsm(trained_mlp, only_zeros, [0, 0], 0.3)}
    adversarial.plot_adversarial_examples(trained_mlp, only_zeros, [0, 0], attacked, 0.3, tmp_path / "examples.png")
    rows = adversarial.attack_report(trained_mlp, images[:30], labels[:30], [0.0, 0.1], steps=2)
    adversarial.plot_attack_curves(rows, tmp_path / "curves.png", "title")
    fooled, steps, reached = adversarial.fooling_image(trained_mlp, np.stack([only_zeros[0]] * CLASSES), np.arange(CLASSES),
                                                       probability=0.95, step_size=0.02, max_steps=200)
    found = adversarial.plot_fooling(only_zeros[0], 0, fooled, steps, reached, tmp_path / "fooling.png")
    assert [row["target"] for row in found] == list(range(CLASSES)) and found[0]["linf"] == 0.0
    assert np.allclose([row["linf"] for row in found], np.abs(fooled - only_zeros[0]).reshape(CLASSES, -1).max(axis=1))
    assert all((tmp_path / name).stat().st_size > 5_000 for name in ("examples.png", "curves.png", "fooling.png"))
