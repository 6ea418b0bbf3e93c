"""Perceptual losses: a trained network's features as the measure of how two images differ.

Gatys et al. (2015, 2016) compare images not pixel by pixel but through a fixed, trained
convolutional network φ (the *loss network*). Two summaries of a layer's activations
F [B, H, W, C] matter:

- the features themselves, which keep *where* things are: the content loss
  mean (φ(x) − φ(x_c))² (`content_loss`) keeps the arrangement of a content image;
- their Gram matrix G = FᵀF / (H·W) [B, C, C] (`gram_matrix`), the channels' co-activations
  averaged over every position: it keeps *which* features occur together and forgets where,
  which is what a texture or a painting's style is. The style loss (`style_loss`) is the
  weighted sum over layers of mean (G(x) − G(x_s))².

`feature_model` turns any Keras network into a frozen loss network that returns several
layers' outputs at once (`layer_features` reads them as a list), and `total_variation` is the
smoothness prior that usually goes with these losses. Gatys et al. used an ImageNet VGG; here
the loss network is one the library trains itself. The same functions serve optimisation-based synthesis (`kerascv_suite.viz.style`:
texture synthesis, Gatys style transfer) and feed-forward networks trained on them (Johnson et
al., 2016). Every loss here is per image, [B]: sum it (or average it) for a scalar.

Example::

    net = feature_model(model, ["block1_conv1_act", "block2_conv1_act"])
    targets = [gram_matrix(f) for f in layer_features(net, style_image)]
    loss = style_loss(layer_features(net, x), targets, weights=[1.0, 1.0])     # [B]
"""

from __future__ import annotations

import keras
import tensorflow as tf

TV_POWERS = (1, 2)


def gram_matrix(features) -> tf.Tensor:
    """The Gram matrix of each image's features, G = FᵀF / (H·W): [B, H, W, C] → [B, C, C] float32.

    G[c, d] is the mean over positions of channel c times channel d; dividing by the number of
    positions makes layers and image sizes comparable.

    Example::

        gram_matrix(tf.ones((1, 4, 4, 2)))   # [[[1., 1.], [1., 1.]]]
    """
    f = tf.cast(features, tf.float32)
    positions = tf.cast(tf.shape(f)[1] * tf.shape(f)[2], tf.float32)
    return tf.einsum("bhwc,bhwd->bcd", f, f) / positions


def feature_model(model: keras.Model, layers: list[str], input_shape: tuple | None = None) -> keras.Model:
    """A frozen loss network: model.input → [outputs of the named (top-level) layers], a list in `layers`' order.

    Its weights are not trainable, so a feed-forward network trained through it does not change
    it; they are the model's own, so `model` is frozen too (set `model.trainable = True` to train
    it again). A name not in the model raises ValueError listing the model's layers.

    Args:
        model: a trained network (a functional `keras.Model`).
        layers: names of its top-level layers, e.g. the activations after convolutions.
        input_shape: (H, W, C), None allowed (e.g. (None, None, 3)): the same layers, with their
            weights shared, re-applied to a new input of that shape, so a network trained at
            32×32 reads 64×64 images. Only for layers that do not depend on the size up to the
            named ones (convolutions, pooling, normalisation); None keeps the model's own input.

    Keras returns a lone tensor, not a list, from a model with one output: `layer_features`
    always gives the list.

    Example::

        net = feature_model(model, ["block1_conv1_act", "block3_conv1_act"], input_shape=(None, None, 3))
        early, late = layer_features(net, images)
    """
    names = [layer.name for layer in model.layers]
    unknown = [name for name in layers if name not in names]
    if unknown or not layers:
        raise ValueError(f"feature_model: layers {unknown or '[]'} are not in model {model.name}; its layers: {', '.join(names)}")
    net = keras.Model(model.inputs[0], [model.get_layer(name).output for name in layers], name=f"{model.name}_features")
    if input_shape is not None:
        # clone_function returns each layer itself: the graph is rebuilt on the new input, the weights stay shared
        net = keras.models.clone_model(net, input_tensors=keras.Input(tuple(input_shape)), clone_function=lambda layer: layer)
    net.trainable = False
    return net


def layer_features(net: keras.Model, images) -> list[tf.Tensor]:
    """The loss network's features of `images` in inference mode (BatchNorm's moving statistics), always a list, float32.

    Example::

        [features] = layer_features(feature_model(model, ["block2_conv1_act"]), images)
    """
    features = net(images, training=False)
    return [tf.cast(f, tf.float32) for f in (features if isinstance(features, (list, tuple)) else [features])]


def style_loss(features: list, target_grams: list, weights: list[float] | None = None) -> tf.Tensor:
    """Σₗ wₗ · mean (G(Fₗ) − Gₗ)² per image [B]: how far the features' Gram matrices are from the targets'.

    Args:
        features: one [B, H, W, C] tensor per layer (e.g. `layer_features(net, x)`).
        target_grams: one [B, C, C] or [1, C, C] (broadcast over the batch) Gram matrix per layer.
        weights: one weight per layer (default 1 each).

    Example::

        style_loss(layer_features(net, x), [gram_matrix(f) for f in layer_features(net, style)], weights=[1.0, 0.5])
    """
    weights = [1.0] * len(features) if weights is None else list(weights)
    if not len(features) == len(target_grams) == len(weights):
        raise ValueError(f"style_loss: got {len(features)} feature maps, {len(target_grams)} Gram targets and "
                         f"{len(weights)} weights; they must be one per layer")
    return tf.add_n([w * tf.reduce_mean(tf.square(gram_matrix(f) - tf.cast(g, tf.float32)), axis=(1, 2))
                     for f, g, w in zip(features, target_grams, weights)])


def content_loss(features, target) -> tf.Tensor:
    """mean (F − F_c)² per image [B] over positions and channels: how far a layer's features are from the content image's.

    Example::

        content_loss(layer_features(net, x)[-1], layer_features(net, content)[-1])
    """
    f = tf.cast(features, tf.float32)
    return tf.reduce_mean(tf.square(f - tf.cast(target, tf.float32)), axis=tuple(range(1, len(f.shape))))


def total_variation(images, power: int = 2) -> tf.Tensor:
    """The total variation of each image [B]: Σ |x[i+1, j] − x[i, j]|^p + Σ |x[i, j+1] − x[i, j]|^p over pixels and channels.

    Vertical and horizontal neighbour differences are summed separately (anisotropic); p = 2
    (default, squared differences: CS231n's assignment and Mahendran & Vedaldi's β = 2, where
    (Δᵢ² + Δⱼ²)^(β/2) = Δᵢ² + Δⱼ²) is smooth everywhere; p = 1 (absolute differences, as
    `tf.image.total_variation`) keeps edges sharper. A prior that prefers piecewise-smooth images.

    Example::

        total_variation(tf.zeros((2, 8, 8, 3)))   # [0., 0.]
    """
    if power not in TV_POWERS:
        raise ValueError(f"total_variation: power must be one of {TV_POWERS}, got {power}")
    x = tf.convert_to_tensor(images, tf.float32)
    down, across = x[:, 1:] - x[:, :-1], x[:, :, 1:] - x[:, :, :-1]
    reduce = (lambda d: tf.reduce_sum(tf.abs(d), axis=(1, 2, 3))) if power == 1 else (lambda d: tf.reduce_sum(d * d, axis=(1, 2, 3)))
    return reduce(down) + reduce(across)


__all__ = ["gram_matrix", "feature_model", "layer_features", "style_loss", "content_loss", "total_variation", "TV_POWERS"]
