"""Adversarial training (`kerascv_suite.training.adversarial`): the in-graph attack, the train step, the trainer wiring.

The train step is checked against plain Keras training on batches built by hand: with SGD, one
step of AdversarialModel must land on the weights one plain step on x_adv (clean_weight 0), on
x (clean_weight 1) or on x and x_adv stacked (clean_weight 0.5: the mean over both halves) does.
The models are tiny tanh MLPs on 4×4 "images" of three blobs.
"""

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data import DataPipeline
from kerascv_suite.models import dtype_policy
from kerascv_suite.spec import load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.tasks.losses import CrossEntropy
from kerascv_suite.training.adversarial import AdversarialModel, cross_entropy, perturb
from kerascv_suite.training.trainer import compile_model, train
from tests.conftest import PIPELINES

SHAPE, CLASSES = (4, 4, 1), 3
SETTINGS = {"method": "pgd", "epsilon": 0.1, "steps": 3, "step_size": 0.05}


def mlp(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(SHAPE)
    x = keras.layers.Dense(16, activation="tanh")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(x), name="mlp")


@pytest.fixture(scope="module")
def blobs():
    """240 images of three classes: a mean image per class plus noise, inside [0.05, 0.95]."""
    rng = np.random.default_rng(0)
    means = rng.uniform(0.3, 0.7, (CLASSES, *SHAPE))
    labels = np.repeat(np.arange(CLASSES), 80)
    images = np.clip(means[labels] + rng.normal(0, 0.1, (len(labels), *SHAPE)), 0.05, 0.95).astype(np.float32)
    order = rng.permutation(len(labels))
    return images[order], labels[order].astype(np.int32)


@pytest.fixture(scope="module")
def trained(blobs):
    model = mlp(1)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=CrossEntropy())
    model.fit(*blobs, epochs=8, batch_size=40, verbose=0)
    return model


def mean_loss(model, images, labels) -> float:
    return float(tf.reduce_mean(cross_entropy(labels, tf.cast(model(images), tf.float32))))


# ------------------------------------------------------------------ the attack

@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_perturbation_stays_in_the_ball_and_the_value_range_eagerly_and_under_xla(trained, blobs, method):
    images, labels = blobs[0][:60], blobs[1][:60]
    epsilon = 0.2  # more than the 0.05 margin: clipping to [0, 1] matters
    attack = lambda x, y: perturb(trained, x, y, epsilon, method, steps=4, value_range=(0.1, 0.9), seed=(1, 2))
    for adversarial in (attack(images, labels), tf.function(attack, jit_compile=True)(images, labels)):
        adversarial = adversarial.numpy()
        assert adversarial.dtype == np.float32 and adversarial.shape == images.shape
        assert np.all(np.abs(adversarial - images) <= epsilon + 1e-6)
        assert adversarial.min() >= 0.1 and adversarial.max() <= 0.9
        assert np.abs(adversarial - images).max() > epsilon / 2
    unclipped = perturb(trained, images, labels, epsilon, method, steps=4, value_range=None).numpy()
    assert unclipped.min() < 0.1 or unclipped.max() > 0.9
    if method == "fgsm":  # every pixel whose gradient is not 0 moves by exactly ε
        assert np.allclose(np.abs(unclipped - images), epsilon, atol=1e-6)


def test_pgd_raises_the_loss_more_than_fgsm_which_raises_it_above_clean(trained, blobs):
    images, labels = blobs
    epsilon = 0.08
    clean = mean_loss(trained, images, labels)
    fgsm = mean_loss(trained, perturb(trained, images, labels, epsilon, "fgsm"), labels)
    pgd = mean_loss(trained, perturb(trained, images, labels, epsilon, "pgd", steps=10, step_size=epsilon / 4), labels)
    assert clean < fgsm < pgd
    targets = (labels + 1) % CLASSES
    towards = perturb(trained, images, targets, epsilon, "pgd", steps=10, targeted=True)
    assert mean_loss(trained, towards, targets) < mean_loss(trained, images, targets)


def test_the_random_start_follows_the_seed(trained, blobs):
    images, labels = blobs[0][:20], blobs[1][:20]
    run = lambda seed, steps=2: perturb(trained, images, labels, 0.1, "pgd", steps=steps, seed=seed).numpy()
    np.testing.assert_array_equal(run((0, 1)), run((0, 1)))
    assert not np.allclose(run((0, 1)), run((0, 2)))
    # steps=0 is the start itself: x + ε·u, u ~ U(−1, 1) from the stateless seed
    start = tf.random.stateless_uniform(images.shape, (0, 1), -1.0, 1.0).numpy()
    np.testing.assert_allclose(run((0, 1), steps=0), np.clip(images + 0.1 * start, 0, 1), atol=1e-6)


# ------------------------------------------------------------------ the train step

def adversarial_copy(base: keras.Model, **settings) -> AdversarialModel:
    model = AdversarialModel(base.input, base.output, name=base.name, **settings)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=CrossEntropy(), metrics=["accuracy"], jit_compile=False)
    return model


@pytest.mark.parametrize("clean_weight", [0.0, 0.5, 1.0])
def test_one_step_equals_plain_sgd_on_the_batch_it_claims_to_train_on(blobs, clean_weight):
    x, y = blobs[0][:32], blobs[1][:32]
    model = adversarial_copy(mlp(), clean_weight=clean_weight, seed=5, **SETTINGS)
    start = model.get_weights()
    # the step's attack: its seed is (seed, iterations + 1), against the weights before the step
    x_adv = model.adversarial_examples(x, y, tf.constant([5, 1], tf.int64)).numpy()
    logged = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0).history

    plain = mlp()
    plain.set_weights(start)
    plain.compile(optimizer=keras.optimizers.SGD(0.5), loss=CrossEntropy(), metrics=["accuracy"], jit_compile=False)
    batch = {0.0: (x_adv, y), 0.5: (np.concatenate([x, x_adv]), np.concatenate([y, y])), 1.0: (x, y)}[clean_weight]
    plain.fit(*batch, batch_size=len(batch[0]), epochs=1, shuffle=False, verbose=0)
    for trained, expected in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(trained, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.get_weights()[0], start[0])
    # the logged accuracy is that of the batch the step trained on: the adversarial one (clean at weight 1)
    before = mlp()
    before.set_weights(start)
    seen = x if clean_weight == 1.0 else x_adv
    assert logged["accuracy"][0] == pytest.approx(np.mean(np.argmax(before.predict(seen, verbose=0), axis=1) == y))


def test_mixed_precision_and_xla_train_steps_stay_finite(blobs):
    with dtype_policy("mixed_float16"):
        inputs = keras.Input(SHAPE)
        x = keras.layers.Dense(16, activation="tanh")(keras.layers.Flatten()(inputs))
        base = keras.Model(inputs, keras.layers.Dense(CLASSES, dtype="float32")(x))
        model = AdversarialModel(base.input, base.output, **SETTINGS)
        model.compile(optimizer="adam", loss=CrossEntropy(), metrics=["accuracy"], jit_compile=True)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    start = model.get_weights()
    history = model.fit(*blobs, batch_size=60, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert not np.allclose(model.get_weights()[0], start[0])
    adversarial = model.adversarial_examples(blobs[0][:8], blobs[1][:8], (0, 1))
    assert adversarial.dtype == tf.float32 and np.abs(adversarial.numpy() - blobs[0][:8]).max() <= 0.1 + 1e-3


def test_adversarial_training_makes_the_model_more_robust(blobs):
    images, labels = blobs
    attack = {"method": "pgd", "epsilon": 0.15, "steps": 5}
    plain, base = mlp(3), mlp(3)
    robust = AdversarialModel(base.input, base.output, **attack)
    for model in (plain, robust):
        model.compile(optimizer=keras.optimizers.Adam(0.03), loss=CrossEntropy(), jit_compile=False)
        model.fit(images, labels, epochs=15, batch_size=40, verbose=0)
    evaluation = tf.data.Dataset.from_tensor_slices((images, labels)).batch(80)
    report = robust.evaluate_attack(evaluation)
    wrapped = AdversarialModel(plain.input, plain.output, **attack)
    wrapped.compile(loss=CrossEntropy())
    plain_report = wrapped.evaluate_attack(evaluation)
    assert report["examples"] == plain_report["examples"] == len(images)
    assert report["adversarial_accuracy"] > plain_report["adversarial_accuracy"] + 0.1
    assert report["clean_accuracy"] >= report["adversarial_accuracy"]


# ------------------------------------------------------------------ saving and resuming

def test_saved_model_reloads_with_its_attack_and_predicts_the_same(trained, blobs, tmp_path):
    images, labels = blobs
    model = AdversarialModel(trained.input, trained.output, name="robust", method="fgsm", epsilon=0.05,
                             clean_weight=0.5, value_range=None, seed=7)
    model.compile(optimizer="adam", loss=CrossEntropy(), metrics=["accuracy"])
    model.fit(images, labels, epochs=1, batch_size=60, verbose=0)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(restored, AdversarialModel)
    assert restored.attack_settings() == model.attack_settings() == {
        "method": "fgsm", "epsilon": 0.05, "steps": 1, "step_size": 0.05, "random_start": False, "clean_weight": 0.5,
        "value_range": None, "seed": 7}
    np.testing.assert_array_equal(restored.predict(images, verbose=0), model.predict(images, verbose=0))
    np.testing.assert_array_equal(restored.adversarial_examples(images, labels, (0, 1)),
                                  model.adversarial_examples(images, labels, (0, 1)))
    restored.fit(images, labels, epochs=1, batch_size=60, verbose=0)  # compiled: it trains on


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_an_interrupted_fit_resumes_to_the_uninterrupted_weights(blobs, tmp_path):
    images, labels = blobs

    def fit(backup, callbacks=()):
        model = adversarial_copy(mlp(4), **SETTINGS)
        history = model.fit(images, labels, batch_size=60, epochs=3, shuffle=False, verbose=0,
                            callbacks=[keras.callbacks.BackupAndRestore(str(backup)), *callbacks])
        return model, history.epoch

    straight, _ = fit(tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "resumed", [_Interrupt()])
    resumed, epochs = fit(tmp_path / "resumed")  # epochs 0–1 restored, epoch 2 trained: same random starts, same weights
    assert epochs == [2] and int(resumed.optimizer.iterations.numpy()) == 3 * 4
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ through a spec

@pytest.mark.parametrize("pipeline, overrides, problem", [
    ("segmentation/fcn_shapes.yaml", [], r"needs task classification, not segmentation"),
    ("training/optimizer_lbfgs.yaml", [], r"not with optimizer lbfgs"),
    ("classification/knn_l2.yaml", [], r"model knn trains with its own train_step"),
    ("training/preprocessing_whiten.yaml", [], r"value_range is \[0, 1\], but data.preprocess gives inputs in a range unknown"),
    ("classification/lenet5.yaml", ["train.adversarial.value_range=[-1, 1]"], r"gives inputs in \[0, 1\]"),
], ids=["segmentation", "lbfgs", "knn", "unknown_range", "wrong_range"])
def test_specs_the_attack_cannot_train_are_refused_in_one_line(pipeline, overrides, problem):
    spec = load_spec(PIPELINES / pipeline, overrides=["train.adversarial={method: pgd, epsilon: 0.1}", *overrides])
    with pytest.raises(UserError, match=r"^train\.adversarial: .*" + problem) as error:
        compile_model(spec, DataPipeline(spec, smoke=True).info)
    assert "\n" not in str(error.value)


def test_a_mixed_precision_spec_gets_loss_scaling_as_without_the_attack():
    for attack in ([], ["train.adversarial={method: fgsm, epsilon: 0.1}"]):
        spec = load_spec(PIPELINES / "classification" / "lenet5.yaml", overrides=["train.precision=mixed_float16", *attack])
        model, _ = compile_model(spec, DataPipeline(spec, smoke=True).info)
        assert isinstance(model, AdversarialModel) == bool(attack) and model.dtype_policy.name == "mixed_float16"
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_a_bad_adversarial_section_is_refused_when_the_spec_loads():
    with pytest.raises(UserError, match="adversarial") as error:
        load_spec(PIPELINES / "classification" / "lenet5.yaml", overrides=["train.adversarial={method: cw, epsilon: 0.1}"])
    assert "\n" not in str(error.value).strip()


def test_smoke_run_reports_adversarial_accuracy_and_exports(tmp_path):
    spec = load_spec(PIPELINES / "understanding" / "adversarial_training_lenet5.yaml", overrides=["export.savedmodel=true"])
    result = train(spec, runs_dir=tmp_path, smoke=True)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    report, test = metrics["adversarial"], metrics["test"]
    assert {key: report[key] for key in ("method", "epsilon", "steps")} == {"method": "pgd", "epsilon": 0.1, "steps": 7}
    assert report["step_size"] == pytest.approx(2.5 * 0.1 / 7)
    assert report["examples"] == metrics["data"]["split_sizes"]["test"]
    assert test["adversarial_accuracy"] == report["adversarial_accuracy"]
    assert report["clean_accuracy"] == pytest.approx(test["accuracy"], abs=1e-6)
    assert metrics["export"]["savedmodel"]
    restored = keras.saving.load_model(result.run_dir / "model.keras")
    assert isinstance(restored, AdversarialModel) and restored.epsilon == 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one input: a plain tensor, as the spec's model took (no structure warning)
        restored(np.zeros((2, *restored.input.shape[1:]), np.float32))
