"""The autoencoder family: the TFP VAE (its ELBO against NumPy, training, sampling, saving, resuming draws), and the (denoising) autoencoder."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.models.autoencoder import VariationalAutoencoder, autoencoder, vae
from kerascv_suite.models.transfer import transfer
from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import compile_model
from tests.conftest import PIPELINES

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(0)
    return vae(SHAPE, 10, latent_dim=3, hidden=[16])


def binary_images(n, seed=0):
    return (np.random.default_rng(seed).uniform(size=(n, *SHAPE)) > 0.5).astype("float32")


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def test_elbo_terms_equal_reconstruction_and_analytic_kl_computed_in_numpy(small):
    x = binary_images(5)
    params = np.asarray(small.encoder(x))
    mu, log_sigma = params[:, :3], params[:, 3:]
    eps = np.random.default_rng(1).normal(size=mu.shape).astype("float32")
    z = mu + np.exp(log_sigma) * eps                                   # the reparameterised draw
    logits = np.asarray(small.decoder(z)).reshape(5, -1)
    flat = x.reshape(5, -1)
    reconstruction = -np.sum(flat * log_sigmoid(logits) + (1 - flat) * log_sigmoid(-logits), axis=1)
    kl = 0.5 * np.sum(mu**2 + np.exp(2 * log_sigma) - 1 - 2 * log_sigma, axis=1)   # KL(N(μ, σ²) ‖ N(0, 1))
    got_reconstruction, got_kl = small.elbo_terms(x, latents=z)
    np.testing.assert_allclose(got_reconstruction, reconstruction, rtol=1e-5)
    np.testing.assert_allclose(got_kl, kl, rtol=1e-4, atol=1e-6)


def test_the_sample_is_reparameterised_so_gradients_reach_the_encoder(small):
    x = binary_images(4)
    with tf.GradientTape() as tape:
        reconstruction, kl = small.elbo_terms(x, seed=tf.constant([0, 1]))
        loss = tf.reduce_mean(reconstruction)       # the reconstruction term alone: it sees the encoder only through z
    gradients = tape.gradient(loss, small.encoder.trainable_variables)
    assert all(g is not None and np.any(np.asarray(g) != 0) for g in gradients)


def test_draws_are_stateless_in_the_seed(small):
    x = binary_images(4)
    first = small.elbo_terms(x, seed=tf.constant([0, 7]))[0]
    np.testing.assert_array_equal(first, small.elbo_terms(x, seed=tf.constant([0, 7]))[0])
    assert np.any(np.asarray(first) != np.asarray(small.elbo_terms(x, seed=tf.constant([0, 8]))[0]))


def test_decoder_outputs_pixel_probabilities_and_samples_have_the_image_shape(small):
    images = np.asarray(small.sample(6, seed=0))
    assert images.shape == (6, *SHAPE) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(images, np.asarray(small.sample(6, seed=0)))
    assert np.asarray(small.reconstruct(binary_images(2))).shape == (2, *SHAPE)


def test_normal_likelihood_is_a_gaussian_log_density():
    model = vae(SHAPE, 10, latent_dim=2, hidden=[8], likelihood="normal", pixel_scale=0.5)
    x = binary_images(3) * 0.7
    z = np.zeros((3, 2), "float32")
    mean = np.asarray(model.decoder(z)).reshape(3, -1)
    expected = np.sum(0.5 * ((x.reshape(3, -1) - mean) / 0.5) ** 2 + np.log(0.5) + 0.5 * np.log(2 * np.pi), axis=1)
    np.testing.assert_allclose(model.elbo_terms(x, latents=z)[0], expected, rtol=1e-5)


def test_conv_vae_mirrors_its_encoder_and_checks_the_image_size():
    model = vae((28, 28, 1), 10, latent_dim=2, architecture="conv", hidden=[8, 16])
    assert model.encoder.output_shape == (None, 4) and model.decoder.output_shape == (None, 28, 28, 1)
    with pytest.raises(ValueError, match="divisible by 8, got 28×28"):
        vae((28, 28, 1), 10, architecture="conv", hidden=[8, 16, 32])


def test_saved_model_reloads_with_the_same_weights_and_draws(small, tmp_path):
    small.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    assert isinstance(loaded, VariationalAutoencoder) and loaded.latent_dim == 3 and loaded.seed == small.seed
    x = binary_images(3)
    for ours, theirs in zip(loaded.elbo_terms(x, seed=tf.constant([0, 3])), small.elbo_terms(x, seed=tf.constant([0, 3]))):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.fixture(scope="module")
def trained():
    """vae_mlp.yaml narrowed to 64 hidden units and 3 epochs, with its test ELBO before and after."""
    spec = load_spec(PIPELINES / "generative" / "vae_mlp.yaml", overrides=["model.hidden=[64]", "train.epochs=3"])
    pipeline = DataPipeline(spec)
    model, _ = compile_model(spec, pipeline.info)
    before = model.evaluate(pipeline.dataset("test"), return_dict=True, verbose=0)
    history = model.fit(pipeline.dataset("train"), epochs=3, shuffle=False, verbose=0).history
    after = model.evaluate(pipeline.dataset("test"), return_dict=True, verbose=0)
    return model, pipeline, before, history, after


def test_training_improves_the_test_elbo(trained):
    _, pipeline, before, history, after = trained
    assert before["loss"] > 500       # ≈ 784·log 2 = 543 nats for an untrained Bernoulli decoder
    assert after["loss"] < 0.5 * before["loss"]
    assert history["loss"][-1] < history["loss"][0]


def test_logged_loss_is_reconstruction_plus_kl(trained):
    _, _, before, history, after = trained
    for logs in (before, after, {k: v[-1] for k, v in history.items()}):
        assert logs["loss"] == pytest.approx(logs["reconstruction"] + logs["kl"], rel=1e-5)
        assert logs["kl"] > 0
    assert after["kl"] > before["kl"]   # training moves q(z|x) away from the prior: the latents carry information


def test_evaluation_is_reproducible(trained):
    model, pipeline, _, _, after = trained
    again = model.evaluate(pipeline.dataset("test"), return_dict=True, verbose=0)
    assert again["loss"] == pytest.approx(after["loss"], rel=1e-6)


class _Interrupt(Exception):
    pass


class _KillAfter(keras.callbacks.Callback):
    """Stands in for a kill: stops `fit` with an exception after `epochs` epochs (their backup saved)."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            self.state = ([np.array(v) for v in self.model.optimizer.variables], [w.copy() for w in self.model.get_weights()])
            raise _Interrupt


class _AtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.state = ([np.array(v) for v in self.model.optimizer.variables], [w.copy() for w in self.model.get_weights()])


def test_an_interrupted_run_resumes_with_the_optimizer_state_and_the_draws_continue(tmp_path):
    spec = load_spec(PIPELINES / "generative" / "vae_mlp.yaml", overrides=["model.hidden=[32]"])
    pipeline = DataPipeline(spec, smoke=True)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    killed, kill = compile_model(spec, pipeline.info)[0], _KillAfter(2)
    with pytest.raises(_Interrupt):
        killed.fit(pipeline.dataset("train"), epochs=4, callbacks=[backup, kill], shuffle=False, verbose=0)
    keras.utils.set_random_seed(123)  # a fresh process: other initial weights
    resumed, start = compile_model(spec, pipeline.info)[0], _AtStart()
    history = resumed.fit(pipeline.dataset("train"), epochs=4, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), start],
                          shuffle=False, verbose=0).history
    (optimizer_then, weights_then), (optimizer_now, weights_now) = kill.state, start.state
    assert len(history["loss"]) == 2                                    # epochs 3 and 4 only
    assert int(optimizer_now[0]) == int(optimizer_then[0]) == 2 * 2     # iterations: 2 epochs × 2 smoke batches
    for then, now in zip(optimizer_then + weights_then, optimizer_now + weights_now):
        np.testing.assert_array_equal(then, now)                        # Adam's moments and the weights, exactly
    # the next training draw is seeded by (seed, iterations + 1): the one the uninterrupted run would have made
    assert int(resumed.optimizer.iterations.numpy()) == 4 * 2


# ---------------------------------------------------------------- autoencoder and denoising autoencoder


def test_autoencoder_loss_is_the_bernoulli_cross_entropy_of_the_reconstruction():
    model = autoencoder(SHAPE, 10, code_dim=4, hidden=[16])
    x = binary_images(3)
    logits = np.asarray(model.decoder(model.encoder(x))).reshape(3, -1)
    flat = x.reshape(3, -1)
    expected = -np.sum(flat * log_sigmoid(logits) + (1 - flat) * log_sigmoid(-logits), axis=1)
    np.testing.assert_allclose(model.loss_terms(x), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model(x)).reshape(3, -1), 1 / (1 + np.exp(-logits)), rtol=1e-5)
    assert not hasattr(model, "sample")   # an autoencoder has no prior to sample from


def test_masking_noise_zeroes_the_chosen_share_and_is_stateless():
    model = autoencoder(SHAPE, 10, code_dim=4, hidden=[16], noise="masking", noise_level=0.3)
    ones = np.ones((200, *SHAPE), "float32")
    masked = np.asarray(model.corrupt(ones, tf.constant([0, 5])))
    assert set(np.unique(masked)) == {0.0, 1.0}
    assert np.mean(masked == 0) == pytest.approx(0.3, abs=0.02)
    np.testing.assert_array_equal(masked, np.asarray(model.corrupt(ones, tf.constant([0, 5]))))
    gaussian = autoencoder(SHAPE, 10, code_dim=4, hidden=[16], noise="gaussian", noise_level=0.2)
    assert np.std(np.asarray(gaussian.corrupt(ones, tf.constant([0, 5]))) - 1) == pytest.approx(0.2, rel=0.05)
    np.testing.assert_array_equal(autoencoder(SHAPE, 10, code_dim=4, hidden=[16]).corrupt(ones, tf.constant([0, 5])), ones)


def test_denoising_trains_on_corrupted_inputs_against_clean_targets_and_reloads(tmp_path):
    spec = load_spec(PIPELINES / "generative" / "denoising_autoencoder.yaml", overrides=["model.hidden=[8, 16]"])
    pipeline = DataPipeline(spec, smoke=True)
    model, _ = compile_model(spec, pipeline.info)
    images = next(iter(pipeline.dataset("train")))[0]
    seed = tf.constant([0, 1])
    corrupted = model.corrupt(images, seed)
    assert np.any(np.asarray(corrupted) != np.asarray(images))
    before = float(tf.reduce_mean(model.loss_terms(images, corrupted)))
    history = model.fit(pipeline.dataset("train"), epochs=3, shuffle=False, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] and float(tf.reduce_mean(model.loss_terms(images, corrupted))) < before
    model.save(tmp_path / "dae.keras")
    loaded = keras.saving.load_model(tmp_path / "dae.keras")
    assert (loaded.noise, loaded.noise_level) == ("masking", 0.3)
    np.testing.assert_allclose(loaded(images[:4]), model(images[:4]), rtol=1e-6)


def test_transfer_puts_a_classifier_on_an_autoencoders_code(tmp_path):
    source = autoencoder((28, 28, 1), 10, code_dim=6, architecture="conv", hidden=[4, 8])
    source.save(tmp_path / "ae.keras")
    model = transfer((28, 28, 1), 10, source=str(tmp_path / "ae.keras"), freeze_until="all")
    assert model.get_layer("transfer_logits").input is model.get_layer("code").output
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 6 * 10 + 10
    x = (np.random.default_rng(3).uniform(size=(2, 28, 28, 1)) > 0.5).astype("float32")
    features = np.asarray(source.encoder(x))
    kernel, bias = model.get_layer("transfer_logits").get_weights()
    np.testing.assert_allclose(model(x), features @ kernel + bias, rtol=1e-5, atol=1e-5)
