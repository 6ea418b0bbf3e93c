"""The autoencoder family: autoencoders, denoising autoencoders, and the variational autoencoder.

All share one encoder/decoder pair, dense ("mlp") or convolutional ("conv"), and own their
`train_step`, so they train with `model.fit` on the pipeline's (images, labels) batches while
ignoring the labels.

**Autoencoder** (`model: autoencoder`): images → a `code_dim` code → images, trained to reproduce
its input. The loss is per image, in nats: Bernoulli cross-entropy for binarised images, or
squared error over 2σ² for grey levels, the same likelihoods as the VAE's decoder. With `noise`,
it is a denoising autoencoder (Vincent et al., 2008): in training the input is corrupted and the
target stays clean, so the code must capture the structure of digits rather than copy pixels.
The corruption is `masking` (a random `noise_level` share of pixels set to 0) or `gaussian`
(N(0, noise_level²) added). Its encoder is a feature extractor: `model: {name: transfer, source:
RUN}` reads the code and puts a classifier on it.

**Variational autoencoder** (Kingma & Welling, 2014; `model: vae`), written with TensorFlow
Probability distributions.

The encoder maps an image x to a diagonal Normal q(z|x) = N(μ(x), diag σ²(x)); the decoder maps
a latent z to p(x|z), a Bernoulli per pixel (binarised images) or a Normal per pixel with a fixed
scale; the prior p(z) is N(0, I). Training maximises the evidence lower bound

    ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)),

so the loss is the negative ELBO in nats per image: a reconstruction term, estimated with one
sample z ~ q(z|x) drawn by the distribution itself (`q.sample()`, reparameterised, so gradients
reach the encoder), plus the KL term in closed form (`tfd.kl_divergence` of two diagonal
Normals). q and the prior are both `Independent(Normal)`, the pair TFP has an analytic KL for.

The model owns its `train_step` and `test_step` and trains with `model.fit`; it logs `loss`
(−ELBO), `reconstruction` and `kl`. `tfp.layers` are tf_keras layers that Keras 3 does not
track (shared/STACK_NOTES.md), so the encoder and decoder are plain Keras functional models
whose outputs parameterise the distributions. The generative task (`tasks/generative.py`)
draws its pictures through `reconstruct`, `sample` and `decode`.

Example::

    model = vae((28, 28, 1), 10, latent_dim=8)
    model.compile(optimizer="adam")
    model.fit(train_ds, epochs=10)         # batches of (images in {0, 1}, labels); labels are ignored
    images = model.sample(64, seed=0)      # [64, 28, 28, 1] Bernoulli means from the prior
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from pydantic import Field, PositiveFloat, PositiveInt
from typing_extensions import Annotated

from kerascv_suite.registry import MODELS

tfd = tfp.distributions


def _mlp_encoder(input_shape, outputs, hidden):
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden, 1):
        x = keras.layers.Dense(units, activation="relu", name=f"encoder_hidden{i}")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="code")(x), name="encoder")


def _mlp_decoder(input_shape, size, hidden):
    latents = keras.Input((size,), name="latents")
    x = latents
    for i, units in enumerate(reversed(hidden), 1):
        x = keras.layers.Dense(units, activation="relu", name=f"decoder_hidden{i}")(x)
    x = keras.layers.Dense(math.prod(input_shape), name="pixel_params")(x)
    return keras.Model(latents, keras.layers.Reshape(input_shape, name="image")(x), name="decoder")


def _conv_encoder(input_shape, outputs, hidden):
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for i, filters in enumerate(hidden, 1):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=f"encoder_conv{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="code")(x), name="encoder")


def _conv_decoder(input_shape, size, hidden):
    stride = 2 ** len(hidden)
    height, width = input_shape[0] // stride, input_shape[1] // stride
    latents = keras.Input((size,), name="latents")
    x = keras.layers.Dense(height * width * hidden[-1], activation="relu", name="decoder_dense")(latents)
    x = keras.layers.Reshape((height, width, hidden[-1]), name="decoder_maps")(x)
    for i, filters in enumerate(reversed(hidden), 1):
        x = keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu", name=f"decoder_deconv{i}")(x)
    outputs = keras.layers.Conv2D(input_shape[-1], 3, padding="same", name="pixel_params")(x)
    return keras.Model(latents, outputs, name="decoder")


def pixel_distribution(likelihood: str, pixel_scale: float, params) -> tfd.Distribution:
    """p(x | decoder params): independent pixels over (height, width, channels), Bernoulli on logits or Normal on means."""
    params = tf.cast(params, tf.float32)
    pixels = tfd.Bernoulli(logits=params, dtype=tf.float32) if likelihood == "bernoulli" else tfd.Normal(params, pixel_scale)
    return tfd.Independent(pixels, reinterpreted_batch_ndims=3)


class EncoderDecoder(keras.Model):
    """What the family's models share: an encoder and a decoder (built functional models), the pixel likelihood, a seed.

    Subclasses add their training objective; this class saves and reloads the pair with them.
    """

    def __init__(self, encoder, decoder, likelihood: str = "bernoulli", pixel_scale: float = 0.1, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.likelihood, self.pixel_scale, self.seed = likelihood, float(pixel_scale), int(seed)
        self.built = True  # its variables are the encoder's and decoder's, functional models built already

    @staticmethod
    def images_of(data):
        """The images of a batch: `fit` passes (images, labels), whose labels the family ignores."""
        return data[0] if isinstance(data, (tuple, list)) else data

    def reconstruct(self, images):
        return self(images, training=False)

    def image_generator(self) -> keras.Model:
        """The decoder alone as a functional model: codes (latents) → mean images (what the SavedModel export serves)."""
        activation = "sigmoid" if self.likelihood == "bernoulli" else "linear"  # the mean of p(x|z) given its parameters
        images = keras.layers.Activation(activation, dtype="float32", name="images")(self.decoder.output)
        return keras.Model(self.decoder.inputs[0], images, name="image_generator")

    def step_seed(self):
        """The stateless seed of training step t: (seed, t + 1), so a resumed run draws what the uninterrupted one would."""
        return tf.cast(tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64) + 1]), tf.int32)

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder), "likelihood": self.likelihood,
                "pixel_scale": self.pixel_scale, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("encoder", "decoder"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerascv_suite")
class Autoencoder(EncoderDecoder):
    """An (optionally denoising) autoencoder over an `encoder` (images → code) and a `decoder` (code → pixel parameters).

    Args:
        encoder, decoder: Keras models; the decoder's input size is the code size.
        likelihood, pixel_scale: the reconstruction loss, as the VAE's decoder (see the module docstring).
        noise: None, "masking" or "gaussian": corrupt the inputs in training (a denoising autoencoder).
        noise_level: the masked share of pixels, or the Gaussian noise's σ.
        seed: seed of the corruption; training step t corrupts statelessly with (seed, t + 1).
    """

    def __init__(self, encoder, decoder, likelihood: str = "bernoulli", pixel_scale: float = 0.1, noise: str | None = None,
                 noise_level: float = 0.3, seed: int = 0, **kwargs):
        super().__init__(encoder, decoder, likelihood=likelihood, pixel_scale=pixel_scale, seed=seed, **kwargs)
        self.noise, self.noise_level = noise, float(noise_level)
        self.tracker = keras.metrics.Mean(name="loss")

    def corrupt(self, images, seed):
        """The denoising autoencoder's input: `images` with masking or Gaussian noise drawn statelessly from `seed`."""
        images = tf.cast(images, tf.float32)
        if self.noise == "masking":
            keep = tf.random.stateless_uniform(tf.shape(images), seed) >= self.noise_level
            return images * tf.cast(keep, images.dtype)
        if self.noise == "gaussian":
            return images + self.noise_level * tf.random.stateless_normal(tf.shape(images), seed)
        return images

    def call(self, images, training=False):
        """The reconstruction's mean: pixel probabilities (Bernoulli) or grey levels (Normal)."""
        params = self.decoder(self.encoder(images, training=training), training=training)
        return pixel_distribution(self.likelihood, self.pixel_scale, params).mean()

    def loss_terms(self, images, inputs=None, training=False):
        """Per image −log p(x | decoder(encoder(inputs))): the clean `images` as targets, `inputs` (default: them) encoded."""
        inputs = images if inputs is None else inputs
        params = self.decoder(self.encoder(inputs, training=training), training=training)
        return -pixel_distribution(self.likelihood, self.pixel_scale, params).log_prob(tf.cast(images, tf.float32))

    @property
    def metrics(self):
        return [self.tracker]

    def train_step(self, data):
        images = self.images_of(data)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(self.loss_terms(images, self.corrupt(images, self.step_seed()), training=True))
            scaled = self.optimizer.scale_loss(loss)
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, self.trainable_variables), self.trainable_variables))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}

    def test_step(self, data):
        images = self.images_of(data)
        self.tracker.update_state(tf.reduce_mean(self.loss_terms(images)))
        return {"loss": self.tracker.result()}

    def get_config(self):
        return {**super().get_config(), "noise": self.noise, "noise_level": self.noise_level}


@keras.saving.register_keras_serializable(package="kerascv_suite")
class VariationalAutoencoder(EncoderDecoder):
    """A VAE over an `encoder` (images → 2·latent_dim posterior parameters) and a `decoder` (latents → pixel parameters).

    Args:
        encoder: a Keras model whose output holds μ and log σ of q(z|x), concatenated.
        decoder: a Keras model whose output holds p(x|z)'s parameters per pixel: Bernoulli
            logits, or the Normal's means.
        likelihood: "bernoulli" (images in {0, 1}) or "normal" (a fixed `pixel_scale`).
        pixel_scale: σ of the Normal likelihood.
        seed: seed of the draws z ~ q(z|x). They are stateless: training step t draws with the seed
            (seed, t + 1), so a resumed run draws what the uninterrupted one would have, and a step
            compiled with XLA draws what the plain one does; evaluation always draws with (seed, 0),
            so the test ELBO of a saved model is reproducible.
    """

    # Its loss is a Monte-Carlo estimate: XLA draws other numbers than TensorFlow's kernels from the same
    # stateless seed (another generator algorithm), so compiled and plain steps agree only within that noise.
    draws_noise = True

    def __init__(self, encoder, decoder, likelihood: str = "bernoulli", pixel_scale: float = 0.1, seed: int = 0, **kwargs):
        super().__init__(encoder, decoder, likelihood=likelihood, pixel_scale=pixel_scale, seed=seed, **kwargs)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "reconstruction", "kl")}

    def posterior(self, images, training=False) -> tfd.Distribution:
        """q(z|x): a diagonal Normal, as `Independent(Normal)` over the latent axis."""
        params = tf.cast(self.encoder(images, training=training), tf.float32)
        loc, log_scale = tf.split(params, 2, axis=-1)
        return tfd.Independent(tfd.Normal(loc, tf.exp(log_scale)), reinterpreted_batch_ndims=1)

    def prior(self) -> tfd.Distribution:
        """p(z) = N(0, I), the same distribution type as q, so their KL is analytic."""
        zeros = tf.zeros([self.latent_dim])
        return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), reinterpreted_batch_ndims=1)

    def likelihood_of(self, latents, training=False) -> tfd.Distribution:
        """p(x|z): independent pixels, Bernoulli or Normal, over (height, width, channels)."""
        return pixel_distribution(self.likelihood, self.pixel_scale, self.decoder(latents, training=training))

    def elbo_terms(self, images, latents=None, seed=None, training=False):
        """Per image: (reconstruction = −log p(x|z), kl = KL(q(z|x) ‖ p(z))), z drawn from q with the stateless `seed` unless given."""
        q = self.posterior(images, training=training)
        z = q.sample(seed=seed) if latents is None else latents
        reconstruction = -self.likelihood_of(z, training=training).log_prob(tf.cast(images, tf.float32))
        return reconstruction, tfd.kl_divergence(q, self.prior())

    def call(self, images, training=False):
        """The reconstruction: the mean of p(x|z) at z = E[q(z|x)]."""
        return self.decode(self.posterior(images, training=training).mean(), training=training)

    def decode(self, latents, training=False):
        """Mean images of p(x|z) for `latents` [N, latent_dim]: pixel probabilities, or the Normal's means."""
        return self.likelihood_of(latents, training=training).mean()

    def sample(self, n: int, seed: int = 0):
        """`n` mean images decoded from z ~ p(z), drawn statelessly from `seed` (the same seed, the same images)."""
        return self.decode(self.prior().sample(n, seed=tf.constant([seed, 1], tf.int32)))

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _update(self, reconstruction, kl):
        for name, value in (("reconstruction", reconstruction), ("kl", kl), ("loss", reconstruction + kl)):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        images = self.images_of(data)
        with tf.GradientTape() as tape:
            reconstruction, kl = self.elbo_terms(images, seed=self.step_seed(), training=True)
            loss = tf.reduce_mean(reconstruction + kl)
            scaled = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16, the loss itself otherwise
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._update(reconstruction, kl)

    def test_step(self, data):
        images = self.images_of(data)
        return self._update(*self.elbo_terms(images, seed=tf.constant([self.seed, 0], tf.int32)))


def _coders(input_shape, size, architecture, hidden, encoder_outputs):
    """The family's encoder (images → `encoder_outputs` values) and decoder (`size` → pixel parameters)."""
    if architecture == "conv" and (input_shape[0] % 2 ** len(hidden) or input_shape[1] % 2 ** len(hidden)):
        raise ValueError(f"a conv encoder with {len(hidden)} stride-2 layers needs image sides divisible by "
                         f"{2 ** len(hidden)}, got {input_shape[0]}×{input_shape[1]}")
    encode, decode = {"mlp": (_mlp_encoder, _mlp_decoder), "conv": (_conv_encoder, _conv_decoder)}[architecture]
    return encode(tuple(input_shape), encoder_outputs, hidden), decode(tuple(input_shape), size, hidden)


@MODELS.register("autoencoder")
def autoencoder(
    input_shape: tuple,
    num_classes: int,
    code_dim: PositiveInt = 32,
    architecture: Literal["mlp", "conv"] = "mlp",
    hidden: list[PositiveInt] = [512, 256],
    likelihood: Literal["bernoulli", "normal"] = "bernoulli",
    pixel_scale: PositiveFloat = 0.1,
    noise: Optional[Literal["masking", "gaussian"]] = None,
    noise_level: Annotated[float, Field(gt=0, lt=1)] = 0.3,
    seed: int = 0,
) -> Autoencoder:
    """An autoencoder, or with `noise` a denoising autoencoder (`Autoencoder`).

    Args:
        code_dim: size of the code the encoder outputs.
        architecture, hidden, likelihood, pixel_scale: as `vae`.
        noise: None, "masking" or "gaussian" corruption of the training inputs.
        noise_level: the masked share of pixels, or the Gaussian σ.

    num_classes is not used (the labels are ignored); seed is the run's `train.seed`.

    Example::

        model = autoencoder((28, 28, 1), 10, code_dim=32, noise="masking", noise_level=0.3)
    """
    encoder, decoder = _coders(input_shape, code_dim, architecture, hidden, code_dim)
    return Autoencoder(encoder, decoder, likelihood=likelihood, pixel_scale=pixel_scale, noise=noise, noise_level=noise_level,
                       seed=seed, name="autoencoder")


@MODELS.register("vae")
def vae(
    input_shape: tuple,
    num_classes: int,
    latent_dim: PositiveInt = 8,
    architecture: Literal["mlp", "conv"] = "mlp",
    hidden: list[PositiveInt] = [512, 256],
    likelihood: Literal["bernoulli", "normal"] = "bernoulli",
    pixel_scale: PositiveFloat = 0.1,
    seed: int = 0,
) -> VariationalAutoencoder:
    """A variational autoencoder with a TFP diagonal-Normal posterior, a N(0, I) prior and a Bernoulli or Normal decoder.

    Args:
        latent_dim: size of z (2 shows the whole latent space in one traversal grid).
        architecture: "mlp" (dense layers) or "conv" (stride-2 convolutions, mirrored by
            transposed convolutions; the image sides must divide by 2^len(hidden)).
        hidden: the dense widths ("mlp") or the convolution filters ("conv"), encoder order;
            the decoder mirrors them.
        likelihood: p(x|z): "bernoulli" for binarised images (`binarize` op), "normal" for
            grey levels.
        pixel_scale: σ of the Normal likelihood.

    num_classes is not used (the labels are ignored); seed is the run's `train.seed`.

    Example::

        model = vae((28, 28, 1), 10, latent_dim=2, architecture="conv", hidden=[32, 64])
    """
    encoder, decoder = _coders(input_shape, latent_dim, architecture, hidden, 2 * latent_dim)
    return VariationalAutoencoder(encoder, decoder, likelihood=likelihood, pixel_scale=pixel_scale, seed=seed, name="vae")
