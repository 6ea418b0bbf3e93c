"""GANs: the losses against NumPy, the gradient penalty, k discriminator steps on two optimizers, conditioning,
saving, resuming both optimizers, and the generator's SavedModel in a fresh process."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.export.savedmodel import export_savedmodel
from kerascv_suite.models.gan import GAN, gan
from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import compile_model
from tests.conftest import PIPELINES
from tests.models.test_autoencoder import _Interrupt, _KillAfter

SHAPE = (8, 8, 1)


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def small(**arguments):
    keras.utils.set_random_seed(0)
    model = gan(SHAPE, 10, latent_dim=4, filters=4, hidden=[8], **arguments)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    return model


def images(n, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *SHAPE)).astype("float32")


LOGITS = np.array([-3.0, -0.5, 0.0, 2.0], "float32"), np.array([-4.0, 1.0, 0.3, -0.2], "float32")


def test_minimax_discriminator_loss_is_minus_the_value_function():
    real, fake = LOGITS
    expected = -np.mean(log_sigmoid(real)) - np.mean(log_sigmoid(-fake))  # −[E log D(x) + E log(1 − D(G(z)))]
    assert float(small().discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-6)


def test_generator_losses_non_saturating_minimax_and_wasserstein():
    _, fake = LOGITS
    assert float(small().generator_objective(fake)) == pytest.approx(-np.mean(log_sigmoid(fake)), rel=1e-6)
    assert float(small(generator_loss="minimax").generator_objective(fake)) == pytest.approx(np.mean(log_sigmoid(-fake)), rel=1e-6)
    wgan = small(objective="wasserstein_gp")
    assert float(wgan.generator_objective(fake)) == pytest.approx(-np.mean(fake), rel=1e-6)
    assert float(wgan.discriminator_loss(*LOGITS)) == pytest.approx(np.mean(LOGITS[1]) - np.mean(LOGITS[0]), rel=1e-6)


def test_the_minimax_generator_loss_saturates_where_the_non_saturating_one_does_not():
    """While D rejects G's samples (D(G(z)) ≈ 0), log(1 − D) has almost no gradient; −log D has a full one."""
    rejected = tf.constant([-8.0, -6.0])

    def gradient(model):
        with tf.GradientTape() as tape:
            tape.watch(rejected)
            loss = model.generator_objective(rejected)
        return np.abs(tape.gradient(loss, rejected).numpy())

    sigmoid = 1 / (1 + np.exp(-rejected.numpy()))
    np.testing.assert_allclose(gradient(small(generator_loss="minimax")), sigmoid / 2, rtol=1e-4)   # σ(l)/N ≤ 0.0013
    np.testing.assert_allclose(gradient(small()), (1 - sigmoid) / 2, rtol=1e-4)                     # (1 − σ(l))/N ≈ 0.5


def test_gradient_penalty_of_a_linear_critic_is_lambda_times_norm_minus_one_squared():
    """A linear critic D(x) = w·x + b has the gradient w everywhere, so the penalty is λ (‖w‖ − 1)²."""
    model = small(objective="wasserstein_gp", gradient_penalty=10.0)
    inputs = keras.Input(SHAPE)
    critic = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    linear = GAN(model.generator, critic, objective="wasserstein_gp", gradient_penalty=10.0)
    w = critic.layers[-1].kernel.numpy()
    real, fake = 2 * images(5) - 1, 2 * images(5, seed=1) - 1
    penalty = float(linear.penalty(tf.constant(real), tf.constant(fake), None, tf.constant([0, 1])))
    assert penalty == pytest.approx(10.0 * (np.linalg.norm(w) - 1.0) ** 2, rel=1e-4)


@pytest.mark.parametrize("objective, k", [("minimax", 1), ("minimax", 2), ("wasserstein_gp", 3)])
def test_each_step_makes_k_discriminator_updates_and_one_generator_update_on_separate_optimizers(objective, k):
    model = small(objective=objective, discriminator_steps=k)
    assert model.discriminator_optimizer is not model.optimizer
    assert model.discriminator_optimizer.get_config() == model.optimizer.get_config()  # a copy of the spec's optimizer
    before_g, before_d = model.generator.get_weights(), model.discriminator.get_weights()
    model.fit(images(12), np.arange(12) % 10, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == 3 and int(model.discriminator_optimizer.iterations) == 3 * k
    assert all(not np.array_equal(a, b) for a, b in zip(before_g, model.generator.get_weights()) if a.size > 1)
    assert all(not np.array_equal(a, b) for a, b in zip(before_d, model.discriminator.get_weights()) if a.size > 1)


def test_a_discriminator_step_changes_only_the_discriminator():
    model = small()
    generator = [np.array(v) for v in model.generator.trainable_variables]  # (its batch-norm statistics move: it ran in training mode)
    model.discriminator_step(tf.constant(2 * images(4) - 1), None, tf.constant([0, 5]))
    assert all(np.array_equal(a, b) for a, b in zip(generator, model.generator.trainable_variables))
    assert int(model.optimizer.iterations) == 0 and int(model.discriminator_optimizer.iterations) == 1


def test_samples_are_images_in_the_unit_interval_and_stateless_in_the_seed():
    model = small(architecture="mlp")
    first, again, other = (np.asarray(model.sample(6, seed=s)) for s in (3, 3, 4))
    assert first.shape == (6, *SHAPE) and first.min() >= 0 and first.max() <= 1
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_conditional_gan_conditions_both_networks_on_the_label():
    model = small(conditional=True)
    assert model.conditional and model.num_classes == 10
    latents = tf.random.stateless_normal([10, 4], [0, 0])
    same_z = tf.repeat(latents[:1], 10, axis=0)
    pictures = np.asarray(model.generate(same_z, tf.range(10)))
    assert not np.allclose(pictures[0], pictures[1])                  # the label changes the image
    x = tf.constant(np.repeat(images(1), 10, axis=0))
    logits = np.asarray(model(x, tf.range(10)))
    assert len(np.unique(np.round(logits, 6))) > 1                     # and D's verdict (the projection term)
    np.testing.assert_array_equal(np.asarray(model.sample_labels(12)), np.arange(12) % 10)
    with pytest.raises(ValueError, match="labels"):
        model.generate(latents)


def test_dcgan_checks_the_image_size():
    with pytest.raises(ValueError, match="divide by 4"):
        gan((30, 30, 1), 10)


def test_saved_model_reloads_compiled_with_both_optimizers(tmp_path):
    model = small(conditional=True, discriminator_steps=2)
    model.fit(images(8), np.arange(8) % 10, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert isinstance(loaded, GAN) and loaded.conditional and loaded.discriminator_steps == 2
    assert int(loaded.optimizer.iterations) == 2 and int(loaded.discriminator_optimizer.iterations) == 4
    for saved, restored in zip(model.discriminator_optimizer.variables, loaded.discriminator_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))
    np.testing.assert_array_equal(np.asarray(model.sample(4, seed=1)), np.asarray(loaded.sample(4, seed=1)))


def optimizers_and_weights(model):
    return [np.array(v) for v in [*model.optimizer.variables, *model.discriminator_optimizer.variables, *model.weights]]


class _StateAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.state = optimizers_and_weights(self.model)


def test_an_interrupted_gan_resumes_with_both_optimizers_state(tmp_path):
    spec = load_spec(PIPELINES / "generative" / "dcgan.yaml", overrides=["model.filters=4", "model.latent_dim=8",
                                                                           "model.discriminator_steps=2"])
    pipeline = DataPipeline(spec, smoke=True)
    killed = compile_model(spec, pipeline.info)[0]
    with pytest.raises(_Interrupt):
        killed.fit(pipeline.dataset("train"), epochs=4, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
                                                                   _KillAfter(2)], shuffle=False, verbose=0)
    then = optimizers_and_weights(killed)  # as the second epoch's backup saved them
    keras.utils.set_random_seed(123)  # a fresh process: other initial weights
    resumed, start = compile_model(spec, pipeline.info)[0], _StateAtStart()
    history = resumed.fit(pipeline.dataset("train"), epochs=4, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), start],
                          shuffle=False, verbose=0).history
    assert len(history["loss"]) == 2                                  # epochs 3 and 4 only
    assert int(then[0]) == 2 * 2                                      # G's step count: 2 epochs × 2 smoke batches
    assert len(then) == len(start.state)
    for saved, restored in zip(then, start.state):
        np.testing.assert_array_equal(saved, restored)                # both Adams' step counts and moments, the weights
    assert int(resumed.optimizer.iterations) == 4 * 2 and int(resumed.discriminator_optimizer.iterations) == 4 * 2 * 2


@pytest.mark.parametrize("conditional", [False, True])
def test_the_generator_exports_as_a_savedmodel_serving_uint8_images(conditional, tmp_path):
    spec = load_spec(PIPELINES / "generative" / "conditional_gan.yaml",
                     overrides=["model.filters=4", f"model.conditional={str(conditional).lower()}"])
    pipeline = DataPipeline(spec, smoke=True)
    model, task = compile_model(spec, pipeline.info)
    report = export_savedmodel(model, pipeline, task, spec, directory=tmp_path)
    assert report["signatures"] == ["serving_default"] and report["verification"]["largest_differences"]["images"] <= 1
    served = tf.saved_model.load(report["path"]).signatures["serving_default"]
    latents = np.random.default_rng(1).standard_normal((3, 64)).astype("float32")
    labels = np.array([7, 0, 3], "int32")
    inputs = {"latents": tf.constant(latents), **({"labels": tf.constant(labels)} if conditional else {})}
    pixels = served(**inputs)["images"].numpy()
    assert pixels.dtype == np.uint8 and pixels.shape == (3, 28, 28, 1)
    expected = np.asarray(model.generate(latents, labels if conditional else None)) * 255
    assert np.max(np.abs(pixels.astype(float) - expected)) <= 0.5 + 1e-3  # rounded, not truncated
