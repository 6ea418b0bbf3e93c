"""Fast style transfer (Johnson et al., 2016): a feed-forward network trained on Gatys's losses.

Gatys et al. stylise an image by optimising its pixels against a loss network's features, a few
hundred gradient steps per image. Johnson et al. train a *transformation network* once, on many
content images, to minimise the same losses; stylising is then one forward pass:

    loss(x) = λ_c Σ_content-layers content_loss(φ(f(x)), φ(x)) + λ_s style_loss(φ(f(x)), G(φ(style))) + λ_tv TV(f(x))

with φ a frozen trained classifier (`kerascv_suite.models.perceptual.feature_model`), G its Gram
matrices (`gram_matrix`), and f the network built by `style_network`:

    conv 9×9 (F) → conv 3×3 stride 2 (2F) → conv 3×3 stride 2 (4F) → residual blocks (4F)
    → ×2 nearest resize + conv 3×3 (2F) → ×2 nearest resize + conv 3×3 (F) → conv 9×9 (3) → sigmoid

Every convolution but the last is followed by instance normalisation and a ReLU (the residual
blocks' second one by normalisation only, and no ReLU after the sum, as Johnson et al.'s
supplementary material). Johnson et al. upsample with stride-½ (transposed) convolutions; here
each upsampling is a nearest-neighbour resize followed by a convolution, because a transposed
convolution whose kernel does not divide by its stride covers some output pixels more often
than others and paints a checkerboard (Odena et al., 2016, "Deconvolution and checkerboard
artifacts"). Convolutions use zero "same" padding (Keras has no reflection padding layer).

**Several styles** (`styles` > 1; Dumoulin et al., 2017): all convolutions are shared and each
normalisation is a `ConditionalInstanceNormalization` with a γ, β per style, chosen by a second
input ``style`` [B, S] (one-hot: one style; a convex mixture: a blend). With one style the
normalisation is Keras's own instance normalisation, ``GroupNormalization(groups=-1)``.

`FastStyleTrainer` trains the network with `model.fit` on batches of content images; for
several styles each image of a batch is given a random style, and its style loss is measured
against that style's target Grams.

Example::

    network = style_network((64, 64, 3), styles=2, filters=16, residual_blocks=3)
    trainer = FastStyleTrainer(network, classifier, ["b2c1_act"], ["b1c1_act", "b2c1_act"], style_images)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    trainer.fit(content_images, batch_size=8, epochs=2)      # logs loss, content_loss, style_loss, tv_loss
    stylised = network([images, tf.one_hot([0, 1], 2)])    # [2, 64, 64, 3] in [0, 1]
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from pydantic import NonNegativeInt, PositiveInt

from kerascv_suite.layers.instance_norm import ConditionalInstanceNormalization
from kerascv_suite.models.perceptual import content_loss, feature_model, gram_matrix, layer_features, style_loss, total_variation
from kerascv_suite.registry import MODELS

EPSILON = 1e-3  # of every instance normalisation: Keras's GroupNormalization default


def _norm(x, style, styles, name):
    """Instance normalisation: Keras's layer for one style, the conditional layer (reading `style`) for several."""
    if style is None:
        return keras.layers.GroupNormalization(groups=-1, epsilon=EPSILON, name=name)(x)
    return ConditionalInstanceNormalization(styles, epsilon=EPSILON, name=name)([x, style])


def _conv_norm_relu(x, style, styles, filters, size, name, strides=1):
    x = keras.layers.Conv2D(filters, size, strides=strides, padding="same", use_bias=False, name=name)(x)  # IN removes a bias
    return keras.layers.ReLU(name=f"{name}_relu")(_norm(x, style, styles, f"{name}_norm"))


def _residual_block(x, style, styles, name):
    y = _conv_norm_relu(x, style, styles, x.shape[-1], 3, f"{name}_conv1")
    y = keras.layers.Conv2D(x.shape[-1], 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = _norm(y, style, styles, f"{name}_conv2_norm")
    return keras.layers.Add(name=f"{name}_add")([x, y])


@MODELS.register("style_network")
def style_network(
    input_shape: tuple = (None, None, 3),
    styles: PositiveInt = 1,
    filters: PositiveInt = 32,
    residual_blocks: NonNegativeInt = 5,
) -> keras.Model:
    """Johnson et al.'s image transformation network: images in [0, 1] → stylised images in [0, 1], same size.

    Args:
        input_shape: (height, width, channels); sides may be None (any size), known sides must
            divide by 4 (two stride-2 convolutions, undone by two ×2 upsamplings).
        styles: how many styles the network renders; above 1 it takes a second input ``style``
            [B, styles] and every normalisation holds a γ, β per style (Dumoulin et al., 2017).
        filters: F, the width of the first and last stages (2F and 4F in between; the paper: 32).
        residual_blocks: residual blocks at 4F and a quarter of the resolution (the paper: 5).

    Inputs ``images`` (B, H, W, C) (and ``style`` (B, styles)); output ``stylised`` (B, H, W, C).

    Example::

        network = style_network((64, 64, 3), styles=3, filters=8, residual_blocks=2)
        network([tf.zeros((1, 64, 64, 3)), tf.one_hot([2], 3)]).shape   # (1, 64, 64, 3)
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[2] is None:
        raise ValueError(f"style_network: input_shape must be (height, width, channels) with known channels, got {input_shape}")
    if any(side is not None and side % 4 for side in input_shape[:2]):
        raise ValueError(f"style_network: image sides must divide by 4 (two stride-2 stages), got {input_shape[0]}×{input_shape[1]}")
    for name, value, least in (("styles", styles, 1), ("filters", filters, 1), ("residual_blocks", residual_blocks, 0)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"style_network: {name} must be an integer ≥ {least}, got {value!r}")
    images = keras.Input(input_shape, name="images")
    style = keras.Input((styles,), name="style") if styles > 1 else None
    x = _conv_norm_relu(images, style, styles, filters, 9, "conv1")
    x = _conv_norm_relu(x, style, styles, 2 * filters, 3, "down1", strides=2)
    x = _conv_norm_relu(x, style, styles, 4 * filters, 3, "down2", strides=2)
    for i in range(1, residual_blocks + 1):
        x = _residual_block(x, style, styles, f"block{i}")
    for i, width in enumerate((2 * filters, filters), 1):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize")(x)
        x = _conv_norm_relu(x, style, styles, width, 3, f"up{i}")
    x = keras.layers.Conv2D(input_shape[2], 9, padding="same", name="conv_out")(x)
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="stylised")(x)
    return keras.Model(images if style is None else [images, style], outputs, name=f"style_network_{styles}")


class FastStyleTrainer(keras.Model):
    """Trains a `style_network` with `fit` on content images against a frozen loss network (see the module doc).

    Each step: a style per image (styles > 1: drawn uniformly, statelessly from (seed, step)), the
    network's output f(x), the loss network's features of f(x) and x in one pass, and

        loss = content_weight·Σ content_loss + style_weight·style_loss + tv_weight·TV   (batch means)

    logged as ``content_loss``, ``style_loss``, ``tv_loss`` and ``loss`` (the weighted total).
    The trainer only trains: save or export `network` (a functional model), not the trainer.

    Args:
        network: a `style_network` (its styles are read from its inputs).
        loss_network: a trained Keras model taking images in [0, 1] (what the style network
            draws), e.g. a classifier of this library; its layers up to the named ones are
            re-applied to the training images' size (`feature_model(..., input_shape=...)`).
        content_layers: layers of `loss_network` whose features f(x) must keep (Johnson et al.: relu2_2).
        style_layers: layers whose Gram matrices f(x) must match with the style image's.
        style_images: [styles, H, W, C] float images in [0, 1], one per style (any size: Gram
            matrices do not depend on it).
        content_weight, style_weight, tv_weight: λ_c, λ_s, λ_tv.
        style_layer_weights: one weight per style layer (default 1 each).
        seed: seed of the per-image style draws.

    Example::

        trainer = FastStyleTrainer(network, classifier, ["b2c1_act"], ["b1c1_act", "b2c1_act"], styles, style_weight=10.0)
        trainer.compile(optimizer="adam")
        history = trainer.fit(content_images, batch_size=8, epochs=3)
        history.history["style_loss"]
    """

    def __init__(self, network: keras.Model, loss_network: keras.Model, content_layers: list[str], style_layers: list[str],
                 style_images, content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.0,
                 style_layer_weights: list[float] | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.styles = int(network.inputs[1].shape[-1]) if len(network.inputs) == 2 else 1
        style_images = np.asarray(style_images, np.float32)
        if style_images.ndim != 4 or len(style_images) != self.styles:
            raise ValueError(f"FastStyleTrainer: style_images must be [styles={self.styles}, H, W, C], got shape {style_images.shape}")
        if not content_layers or not style_layers:
            raise ValueError("FastStyleTrainer: needs at least one content layer and one style layer")
        # re-applied to images of any size: a loss network trained at 32×32 reads the style network's 64×64 outputs
        self.features = feature_model(loss_network, list(content_layers) + list(style_layers),
                                      input_shape=(None, None, loss_network.inputs[0].shape[-1]))
        self.content_count = len(content_layers)
        weights = [1.0] * len(style_layers) if style_layer_weights is None else [float(w) for w in style_layer_weights]
        if len(weights) != len(style_layers):
            raise ValueError(f"FastStyleTrainer: {len(weights)} style_layer_weights for {len(style_layers)} style layers; give one per layer")
        self.style_layer_weights = weights
        style_features = layer_features(self.features, style_images)[self.content_count:]
        self.target_grams = [gram_matrix(f).numpy() for f in style_features]   # [styles, C, C] per style layer
        self.content_weight, self.style_weight, self.tv_weight = float(content_weight), float(style_weight), float(tv_weight)
        self.seed = int(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "content_loss", "style_loss", "tv_loss")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def draw_styles(self, batch_size):
        """One-hot styles [B, styles], one drawn per image from the stateless seed (seed, optimizer step)."""
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64)])
        indices = tf.random.stateless_uniform([batch_size], tf.cast(seed, tf.int32), minval=0, maxval=self.styles, dtype=tf.int32)
        return tf.one_hot(indices, self.styles)

    def losses_of(self, content, style):
        """{content_loss, style_loss, tv_loss, loss} (batch means, weighted) of the network on `content` with styles `style` [B, S]."""
        content = tf.cast(content, tf.float32)
        stylised = self.network(content if self.styles == 1 else [content, style], training=True)
        both = layer_features(self.features, tf.concat([tf.cast(stylised, tf.float32), content], axis=0))
        batch = tf.shape(content)[0]
        outputs, originals = [f[:batch] for f in both], [f[batch:] for f in both]
        targets = [tf.einsum("bs,scd->bcd", style, grams) for grams in self.target_grams]   # one-hot: that style's Grams
        terms = {
            "content_loss": self.content_weight * tf.reduce_mean(tf.add_n(
                [content_loss(o, c) for o, c in zip(outputs[:self.content_count], originals[:self.content_count])])),
            "style_loss": self.style_weight * tf.reduce_mean(
                style_loss(outputs[self.content_count:], targets, self.style_layer_weights)),
            "tv_loss": self.tv_weight * tf.reduce_mean(total_variation(stylised)),
        }
        return {**terms, "loss": tf.add_n(list(terms.values()))}

    def train_step(self, data):
        content = data[0] if isinstance(data, (tuple, list)) else data
        style = self.draw_styles(tf.shape(content)[0])
        variables = self.network.trainable_variables
        with tf.GradientTape() as tape:
            losses = self.losses_of(content, style)
        self.optimizer.apply_gradients(zip(tape.gradient(losses["loss"], variables), variables))
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


__all__ = ["style_network", "FastStyleTrainer"]
