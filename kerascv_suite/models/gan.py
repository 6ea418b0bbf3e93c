"""Generative adversarial networks: a generator and a discriminator trained against each other by `model.fit`.

`GAN` is a `keras.Model` subclass with its own `train_step`, so it trains with `model.fit`,
logs through Keras callbacks, checkpoints, resumes and saves as `.keras` like every other model
of the library. It holds two functional models and two optimizers:

- the **generator** G maps latents z ~ N(0, I) (and, conditional, a class label y) to images in
  [−1, 1] (tanh); the pipeline's images in [0, 1] are mapped to [−1, 1] for the discriminator;
- the **discriminator** D maps an image (and y) to one logit.

**Objectives** (`objective`):

- ``minimax`` (Goodfellow et al., 2014): D maximises V(D, G) = E log D(x) + E log(1 − D(G(z))),
  so its loss is −V, two sigmoid cross-entropies. G either minimises V itself
  (``generator_loss: minimax``, log(1 − D(G(z))), whose gradient vanishes while D rejects G's
  samples easily) or, as the paper recommends, maximises log D(G(z))
  (``generator_loss: non_saturating``, the loss −log D(G(z))).
- ``wasserstein_gp`` (Gulrajani et al., 2017, WGAN-GP): D is a critic with an unbounded score;
  its loss is E D(G(z)) − E D(x) + λ E (‖∇D(x̂)‖₂ − 1)² at x̂ on random points between real and
  generated images; G's loss is −E D(G(z)). The gradient penalty is a nested `GradientTape`.

**Training step.** Each `train_step` makes `discriminator_steps` (k) discriminator updates, each
on the batch's real images against freshly generated ones, then one generator update (Algorithm
1 of the GAN paper with the same real batch reused for the k steps, as Keras's WGAN-GP example
does, so one step still consumes one batch). D and G have separate optimizers: the spec's
`optimizer` for G, a copy of it (same class and settings, its own state) for D, both built on
their variables in `compile`, so `BackupAndRestore` restores both optimizers' moments and step
counts when a killed run resumes. Latents (and the WGAN-GP interpolation weights) are drawn
statelessly from (seed, generator step), so a resumed run draws what the uninterrupted one would.

**Conditional GAN** (`conditional: true`; Mirza & Osindero, 2014): the batch's labels condition
both networks. G reads z concatenated with a learned embedding of y; D is a projection
discriminator (Miyato & Koyama, 2018): its logit is ψ(φ(x)) + embed(y)·φ(x), which ties the
class to the image features more directly than concatenating y to the input.

**Architectures** (`architecture`): ``mlp`` (the original paper's fully connected networks) or
``dcgan`` (Radford et al., 2016: G upsamples with strided transposed convolutions with batch
norm and ReLU; D downsamples with strided convolutions and leaky ReLU, without batch norm, so
the same D serves as a WGAN-GP critic, whose per-example gradient penalty batch norm breaks).

**Logs.** `d_loss`, `g_loss`, and `loss`, which is the discriminator's loss (−V(D, G) for
minimax, the critic's loss for WGAN-GP): a GAN has no single objective, and the trainer's
checkpoints and `kcv eval` read `loss`. Evaluation scores the split's real images against
generated ones drawn from the fixed seed (seed, 0), without the gradient penalty (a training
regulariser), so a WGAN-GP's evaluated `d_loss` is the critic's estimate of −W(real, generated).

Example::

    model = gan((28, 28, 1), 10, architecture="dcgan", conditional=True)
    model.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    model.fit(train_ds, epochs=20)                  # batches of (images in [0, 1], labels)
    images = model.sample(64, seed=0)               # [64, 28, 28, 1] in [0, 1]; classes 0..9 in turn
"""

from __future__ import annotations

import math
from typing import Literal

import keras
import tensorflow as tf
from pydantic import NonNegativeFloat, PositiveInt

from kerascv_suite.registry import MODELS


def _latent_inputs(latent_dim, num_classes, conditional, embedding):
    """The generator's inputs and its first tensor: z, or z concatenated with an embedding of the label y."""
    latents = keras.Input((latent_dim,), name="latents")
    if not conditional:
        return latents, latents
    labels = keras.Input((), dtype="int32", name="labels")
    embedded = keras.layers.Embedding(num_classes, embedding, name="label_embedding")(labels)
    return [latents, labels], keras.layers.Concatenate(name="latents_and_label")([latents, embedded])


def _mlp_generator(input_shape, latent_dim, num_classes, conditional, hidden):
    inputs, x = _latent_inputs(latent_dim, num_classes, conditional, 16)
    for i, units in enumerate(hidden, 1):
        x = keras.layers.Dense(units, name=f"generator_hidden{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"generator_act{i}")(x)
    x = keras.layers.Dense(math.prod(input_shape), activation="tanh", name="generator_pixels")(x)
    return keras.Model(inputs, keras.layers.Reshape(input_shape, name="generated")(x), name="generator")


def _dcgan_generator(input_shape, latent_dim, num_classes, conditional, filters):
    height, width, channels = input_shape
    inputs, x = _latent_inputs(latent_dim, num_classes, conditional, 16)
    x = keras.layers.Dense(height // 4 * width // 4 * 2 * filters, use_bias=False, name="generator_project")(x)
    x = keras.layers.BatchNormalization(name="generator_project_bn")(x)
    x = keras.layers.ReLU(name="generator_project_act")(x)
    x = keras.layers.Reshape((height // 4, width // 4, 2 * filters), name="generator_maps")(x)
    x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, name="generator_deconv1")(x)
    x = keras.layers.BatchNormalization(name="generator_deconv1_bn")(x)
    x = keras.layers.ReLU(name="generator_deconv1_act")(x)
    x = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh", name="generated")(x)
    return keras.Model(inputs, x, name="generator")


def _mlp_features(images, hidden):
    x = keras.layers.Flatten(name="flatten")(images)
    for i, units in enumerate(hidden, 1):
        x = keras.layers.Dense(units, name=f"discriminator_hidden{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"discriminator_act{i}")(x)
    return x


def _dcgan_features(images, filters):
    x = images
    for i, width in enumerate((filters, 2 * filters), 1):
        x = keras.layers.Conv2D(width, 4, strides=2, padding="same", name=f"discriminator_conv{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"discriminator_act{i}")(x)
    return keras.layers.Flatten(name="flatten")(x)


def _discriminator(input_shape, num_classes, conditional, features):
    """D: images (and labels) → one logit; conditional, a projection discriminator ψ(φ(x)) + embed(y)·φ(x)."""
    images = keras.Input(input_shape, name="images")
    phi = features(images)
    logit = keras.layers.Dense(1, name="discriminator_logit")(phi)
    if not conditional:
        return keras.Model(images, logit, name="discriminator")
    labels = keras.Input((), dtype="int32", name="labels")
    embedded = keras.layers.Embedding(num_classes, phi.shape[-1], name="label_projection")(labels)
    projection = keras.layers.Dot(axes=1, name="projection")([embedded, phi])
    return keras.Model([images, labels], keras.layers.Add(name="conditional_logit")([logit, projection]), name="discriminator")


@keras.saving.register_keras_serializable(package="kerascv_suite")
class GAN(keras.Model):
    """A generator and a discriminator with their own `train_step` and two optimizers (see the module docstring).

    Args:
        generator: a functional model, latents [N, latent_dim] (and labels [N]) → images in [−1, 1].
        discriminator: a functional model, images (and labels) → logits [N, 1].
        objective: "minimax" or "wasserstein_gp".
        generator_loss: with "minimax": "non_saturating" (−log D(G(z))) or "minimax" (log(1 − D(G(z)))).
        discriminator_steps: discriminator updates per generator update (k).
        gradient_penalty: λ of WGAN-GP.
        seed: seed of the latents; generator step t draws statelessly from (seed, t + 1).
    """

    # Its losses depend on random latents: XLA draws other numbers than TensorFlow's kernels from the same
    # stateless seed, so compiled and plain steps agree only within the noise of the draw.
    draws_noise = True

    def __init__(self, generator, discriminator, objective: str = "minimax", generator_loss: str = "non_saturating",
                 discriminator_steps: int = 1, gradient_penalty: float = 10.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.objective, self.generator_loss = objective, generator_loss
        self.discriminator_steps, self.gradient_penalty, self.seed = int(discriminator_steps), float(gradient_penalty), int(seed)
        self.conditional = len(generator.inputs) == 2
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.num_classes = int(generator.get_layer("label_embedding").input_dim) if self.conditional else 0
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "d_loss", "g_loss")}
        self.built = True  # its variables are the two functional models', built already

    # --- compile: two optimizers, built on their own variables ---

    def compile(self, optimizer="adam", discriminator_optimizer=None, **kwargs):
        """Compile with `optimizer` for G and `discriminator_optimizer` for D (default: a copy of `optimizer`).

        Both are built on their variables here: an optimizer built later, inside the first traced step,
        is not restored by `BackupAndRestore` (shared/STACK_NOTES.md).
        """
        super().compile(optimizer=optimizer, **kwargs)
        if discriminator_optimizer is None:  # the same class and settings, its own slots and step count
            discriminator_optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(self.optimizer))
        else:
            discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        if keras.config.dtype_policy().name == "mixed_float16" and not isinstance(discriminator_optimizer, keras.optimizers.LossScaleOptimizer):
            discriminator_optimizer = keras.optimizers.LossScaleOptimizer(discriminator_optimizer)
        self.discriminator_optimizer = discriminator_optimizer
        self.optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is None:  # not compiled: it saves and loads uncompiled
            return None
        return {**config, "discriminator_optimizer": keras.optimizers.serialize(self.discriminator_optimizer)}

    def compile_from_config(self, config):
        config = dict(config)
        optimizers = {key: keras.optimizers.deserialize(config.pop(key)) for key in ("optimizer", "discriminator_optimizer")}
        self.compile(**optimizers, **{k: v for k, v in config.items() if k in ("jit_compile",)})

    # --- drawing ---

    def step_seed(self):
        """The stateless seed of generator step t: (seed, t + 1)."""
        return tf.cast(tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64) + 1]), tf.int32)

    def generator_inputs(self, latents, labels=None):
        latents = tf.convert_to_tensor(latents, tf.float32)
        return [latents, tf.cast(labels, tf.int32)] if self.conditional else latents

    def discriminate(self, images, labels=None, training=False):
        """D's logits [N] for images in [−1, 1]."""
        inputs = [images, tf.cast(labels, tf.int32)] if self.conditional else images
        return tf.cast(tf.reshape(self.discriminator(inputs, training=training), [-1]), tf.float32)

    def call(self, images, labels=None, training=False):
        """D's logits [N, 1] for images in [0, 1], as the pipeline gives them (conditional: with their labels)."""
        if self.conditional and labels is None:
            raise ValueError("a conditional GAN's discriminator needs the images' labels: model(images, labels)")
        return self.discriminate(2.0 * tf.cast(images, tf.float32) - 1.0, labels, training=training)[:, None]

    def generate(self, latents, labels=None, training=False):
        """Images in [0, 1] for `latents` [N, latent_dim] (and `labels` [N], conditional)."""
        if self.conditional and labels is None:
            raise ValueError("a conditional GAN generates images of given classes: generate(latents, labels)")
        images = self.generator(self.generator_inputs(latents, labels), training=training)
        return (tf.cast(images, tf.float32) + 1.0) / 2.0

    def sample_labels(self, n: int):
        """Labels of `n` samples: the classes in turn, 0, 1, …, so a grid of 10 columns has one class per column."""
        return tf.range(n, dtype=tf.int32) % max(self.num_classes, 1)

    def sample(self, n: int, seed: int = 0, labels=None):
        """`n` images in [0, 1] from latents drawn statelessly from `seed` (conditional: of `labels`, default the classes in turn)."""
        latents = tf.random.stateless_normal([n, self.latent_dim], tf.constant([seed, 1], tf.int32))
        if self.conditional:
            return self.generate(latents, self.sample_labels(n) if labels is None else labels)
        return self.generate(latents)

    def image_generator(self) -> keras.Model:
        """G alone as a functional model: latents (and labels) → images in [0, 1]; what the SavedModel export serves."""
        images = keras.layers.Rescaling(0.5, offset=0.5, dtype="float32", name="images")(self.generator.output)
        return keras.Model(self.generator.inputs if self.conditional else self.generator.inputs[0], images, name="image_generator")

    # --- losses ---

    def discriminator_loss(self, real_logits, fake_logits):
        """Minimax: −V(D, G) = −log D(x) − log(1 − D(G(z))); WGAN-GP: E D(G(z)) − E D(x) (the penalty is added apart)."""
        if self.objective == "wasserstein_gp":
            return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
        real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
        fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
        return tf.reduce_mean(real) + tf.reduce_mean(fake)

    def generator_objective(self, fake_logits):
        """G's loss: −log D(G(z)) (non-saturating), log(1 − D(G(z))) (minimax), or −E D(G(z)) (WGAN-GP)."""
        if self.objective == "wasserstein_gp":
            return -tf.reduce_mean(fake_logits)
        if self.generator_loss == "minimax":
            return -tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits))
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))

    def penalty(self, real, fake, labels, seed):
        """WGAN-GP's λ E (‖∇ₓ D(x̂)‖₂ − 1)², x̂ = ε x + (1 − ε) G(z), ε ~ U(0, 1) per image."""
        epsilon = tf.random.stateless_uniform([tf.shape(real)[0], 1, 1, 1], seed)
        mixed = epsilon * real + (1.0 - epsilon) * fake
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            logits = self.discriminate(mixed, labels, training=True)
        norms = tf.sqrt(tf.reduce_sum(tf.square(tape.gradient(logits, mixed)), axis=[1, 2, 3]) + 1e-12)
        return self.gradient_penalty * tf.reduce_mean(tf.square(norms - 1.0))

    # --- steps ---

    @staticmethod
    def unpack(data):
        """(images in [−1, 1], labels or None) of a batch: `fit` passes (images, labels)."""
        images, labels = (data[0], data[1]) if isinstance(data, (tuple, list)) else (data, None)
        return 2.0 * tf.cast(images, tf.float32) - 1.0, labels

    @staticmethod
    def _apply(optimizer, scaled_loss, tape, variables):
        optimizer.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))

    def discriminator_step(self, real, labels, seed):
        """One update of D on `real` against freshly generated images; returns its loss."""
        latent_seed, penalty_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        latents = tf.random.stateless_normal([tf.shape(real)[0], self.latent_dim], latent_seed)
        fake = tf.cast(self.generator(self.generator_inputs(latents, labels), training=True), tf.float32)
        with tf.GradientTape() as tape:
            loss = self.discriminator_loss(self.discriminate(real, labels, training=True),
                                           self.discriminate(fake, labels, training=True))
            if self.objective == "wasserstein_gp":
                loss += self.penalty(real, fake, labels, penalty_seed)
            scaled = self.discriminator_optimizer.scale_loss(loss)  # loss scaling under mixed_float16, the loss otherwise
        self._apply(self.discriminator_optimizer, scaled, tape, self.discriminator.trainable_variables)
        return loss

    def generator_step(self, batch_size, labels, seed):
        """One update of G against the current D; returns its loss."""
        latents = tf.random.stateless_normal([batch_size, self.latent_dim], seed)
        with tf.GradientTape() as tape:
            fake = self.generator(self.generator_inputs(latents, labels), training=True)
            loss = self.generator_objective(self.discriminate(tf.cast(fake, tf.float32), labels, training=True))
            scaled = self.optimizer.scale_loss(loss)
        self._apply(self.optimizer, scaled, tape, self.generator.trainable_variables)
        return loss

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _update(self, d_loss, g_loss):
        for name, value in (("loss", d_loss), ("d_loss", d_loss), ("g_loss", g_loss)):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        real, labels = self.unpack(data)
        seeds = tf.random.experimental.stateless_split(self.step_seed(), self.discriminator_steps + 1)
        d_loss = tf.constant(0.0)
        for k in range(self.discriminator_steps):  # unrolled: k is a small constant of the model
            d_loss = self.discriminator_step(real, labels, seeds[k])
        g_loss = self.generator_step(tf.shape(real)[0], labels, seeds[-1])
        return self._update(d_loss, g_loss)

    def test_step(self, data):
        """D's and G's losses on the split's real images against images generated from the fixed seed (seed, 0)."""
        real, labels = self.unpack(data)
        latents = tf.random.stateless_normal([tf.shape(real)[0], self.latent_dim], tf.constant([self.seed, 0], tf.int32))
        fake = tf.cast(self.generator(self.generator_inputs(latents, labels), training=False), tf.float32)
        fake_logits = self.discriminate(fake, labels)
        return self._update(self.discriminator_loss(self.discriminate(real, labels), fake_logits), self.generator_objective(fake_logits))

    # --- saving ---

    def get_config(self):
        return {**super().get_config(), "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator), "objective": self.objective,
                "generator_loss": self.generator_loss, "discriminator_steps": self.discriminator_steps,
                "gradient_penalty": self.gradient_penalty, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("generator", "discriminator"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


@MODELS.register("gan")
def gan(
    input_shape: tuple,
    num_classes: int,
    architecture: Literal["mlp", "dcgan"] = "dcgan",
    latent_dim: PositiveInt = 64,
    conditional: bool = False,
    objective: Literal["minimax", "wasserstein_gp"] = "minimax",
    generator_loss: Literal["non_saturating", "minimax"] = "non_saturating",
    discriminator_steps: PositiveInt = 1,
    gradient_penalty: NonNegativeFloat = 10.0,
    filters: PositiveInt = 64,
    hidden: list[PositiveInt] = [256, 256],
    seed: int = 0,
) -> GAN:
    """A GAN (`GAN`): DCGAN or fully connected, optionally class-conditional, minimax or WGAN-GP.

    Args:
        architecture: "dcgan" (transposed/strided convolutions; image sides must divide by 4) or
            "mlp" (fully connected, the original paper's).
        latent_dim: size of z ~ N(0, I).
        conditional: condition G and D on the class label (a conditional GAN; D by projection).
        objective: "minimax" (the GAN value function) or "wasserstein_gp" (WGAN-GP).
        generator_loss: with "minimax", "non_saturating" (−log D(G(z))) or "minimax" (log(1 − D(G(z)))).
        discriminator_steps: D updates per G update (k; WGAN-GP uses 5).
        gradient_penalty: λ of WGAN-GP.
        filters: "dcgan": filters of D's first convolution and G's last hidden one (doubled in the next).
        hidden: "mlp": the hidden widths of G and of D.

    num_classes is the number of labels a conditional GAN draws from; seed is the run's `train.seed`.

    Example::

        model = gan((28, 28, 1), 10, objective="wasserstein_gp", discriminator_steps=5)
    """
    input_shape = tuple(input_shape)
    if architecture == "dcgan":
        if input_shape[0] % 4 or input_shape[1] % 4:
            raise ValueError(f"a dcgan generator upsamples twice by 2, so the image sides must divide by 4, got "
                             f"{input_shape[0]}×{input_shape[1]}; resize the images or use architecture: mlp")
        generator = _dcgan_generator(input_shape, latent_dim, num_classes, conditional, filters)
        discriminator = _discriminator(input_shape, num_classes, conditional, lambda x: _dcgan_features(x, filters))
    else:
        generator = _mlp_generator(input_shape, latent_dim, num_classes, conditional, hidden)
        discriminator = _discriminator(input_shape, num_classes, conditional, lambda x: _mlp_features(x, hidden))
    return GAN(generator, discriminator, objective=objective, generator_loss=generator_loss,
               discriminator_steps=discriminator_steps, gradient_penalty=gradient_penalty, seed=seed, name="gan")
