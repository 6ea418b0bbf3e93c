"""Texture synthesis and style transfer by matching a trained network's Gram matrices (Gatys et al., 2015, 2016).

A texture is what stays when *where* is forgotten: the Gram matrix G = FᵀF/(H·W) of a layer's
features F (`kerascv_suite.models.perceptual.gram_matrix`) keeps which features occur together
and averages position away. Both functions here hold the network fixed and optimise an image,
a `tf.Variable`, by Adam steps inside one `tf.function`, clipped to the input range after each
(as `kerascv_suite.viz.synthesis` does), the learning rate decaying to 0 by a cosine over the
steps (Adam's step does not shrink as the loss does, and a constant rate ends in oscillation):

- `texture_synthesis` (Gatys, Ecker & Bethge, 2015): from noise, match the texture's Gram
  matrices at several layers; the result has the texture's statistics but none of its layout.
- `style_transfer` (Gatys, Ecker & Bethge, 2016): match a content image's features at a deep
  layer (its arrangement) and a style image's Gram matrices at several layers (its texture),
  with a total-variation prior for smoothness.
- `plot_style`: the images of each row (source | result, or content | style | result) and its
  loss curves.

Every loss is relative, so that one weight means the same at every layer and for every image:
a layer's Gram loss is mean (G(x) − G(s))² / mean G(s)² (1 for an image whose Gram matrix is 0),
its content loss mean (F(x) − F(c))² / mean F(c)², and the TV prior the mean squared neighbour
difference. Images are in the model's input units ([0, 1] after `rescale`); the image is
optimised in the channels of its source (a grayscale texture gives a grayscale result), and
`match_channels` feeds it to the network: one channel repeated to three, three averaged to one.
The network reads any size (`feature_model(..., input_shape=(None, None, C))`), so a VGG
trained at 32×32 can synthesise 64×64 textures.

The reports `texture_synthesis` and `style_transfer` draw these for a finished run, with the
run's own trained model as the loss network and scikit-image's images as sources.

Example::

    model = keras.saving.load_model("runs/vgg11_shapes_textures/<timestamp>/model.keras")
    brick = skimage_image("brick", 64, scale=4)              # [64, 64, 1] in [0, 1]
    image, losses = texture_synthesis(model, brick, default_layers(model), steps=200)
    result, histories = style_transfer(model, skimage_image("chelsea", 64), brick,
                                       ["block2_conv1_act"], default_layers(model))
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Literal, Optional

import keras
import numpy as np
import tensorflow as tf
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from kerascv_suite.models.perceptual import (
    content_loss, feature_model, gram_matrix, layer_features, style_loss, total_variation,
)
from kerascv_suite.registry import REPORTS
from kerascv_suite.spec.errors import UserError
from kerascv_suite.viz.synthesis import _clip, _start

# scikit-image's bundled images (no download): the textures are grayscale 512×512, the photos colour.
TEXTURES = ("brick", "grass", "gravel")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "moon", "page", "text", "hubble_deep_field",
          "immunohistochemistry")
SKIMAGE_IMAGES = TEXTURES + PHOTOS
ACTIVATIONS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.PReLU)
Start = Literal["noise", "content"]


# ------------------------------------------------------------------ sources and channels

def skimage_image(name: str, size: int, scale: int | None = None) -> np.ndarray:
    """A scikit-image picture as float32 [size, size, C] in [0, 1] (C = 1 for grayscale ones), area-averaged down.

    `scale` None takes the largest centred square (a photo, whole); an integer k takes the
    centred square of k·size source pixels, so k source pixels become one (a texture, at a
    chosen grain: the shapes scenes' textured backgrounds use k = 1 … 4).

    Example::

        skimage_image("brick", 64, scale=2)     # the middle 128×128 of the 512×512 brick, [64, 64, 1]
    """
    if name not in SKIMAGE_IMAGES:
        raise ValueError(f"unknown scikit-image picture '{name}'; allowed: {', '.join(SKIMAGE_IMAGES)}")
    import skimage.data

    pixels = np.asarray(getattr(skimage.data, name)(), np.float32) / 255.0
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels[..., :3]
    side = min(pixels.shape[:2]) if scale is None else min(scale * size, *pixels.shape[:2])
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    square = pixels[top:top + side, left:left + side]
    return tf.image.resize(square, (size, size), method="area").numpy()


def match_channels(images, channels: int) -> tf.Tensor:
    """[B, H, W, C] → [B, H, W, channels]: one channel repeated (grayscale to colour), three averaged to one (colour to grey).

    Example::

        match_channels(tf.zeros((1, 8, 8, 1)), 3).shape     # (1, 8, 8, 3)
    """
    have = images.shape[-1]
    if have == channels:
        return tf.convert_to_tensor(images, tf.float32)
    if have == 1:
        return tf.repeat(tf.convert_to_tensor(images, tf.float32), channels, axis=-1)
    if channels == 1:
        return tf.reduce_mean(tf.convert_to_tensor(images, tf.float32), axis=-1, keepdims=True)
    raise ValueError(f"cannot feed {have}-channel images to a {channels}-channel network; allowed: 1 or {channels} channels, "
                     "or any number for a 1-channel network")


def default_layers(model: keras.Model, count: int = 4) -> list[str]:
    """The first activation layer at each of the model's first `count` resolutions, in order.

    For a VGG these are the first ReLU of each block (Gatys et al. used conv1_1 … conv5_1): fine
    detail from the first, larger structures from each halving of the resolution. Resolutions are
    read from the layers' static shapes, so the model needs a fixed input size (as every model a
    run trains has).

    Example::

        default_layers(vgg_model)   # ['block1_conv1_act', 'block2_conv1_act', 'block3_conv1_act', 'block4_conv1_act']
    """
    picked, sizes = [], set()
    for layer in model.layers:
        shape = tuple(layer.output.shape) if isinstance(layer, ACTIVATIONS) else ()
        if len(shape) == 4 and shape[1:3] not in sizes:
            sizes.add(shape[1:3])
            picked.append(layer.name)
    if not picked:
        raise ValueError(f"model {model.name} has no activation layers on feature maps; name the layers to match")
    return picked[:count]


def _loss_network(model: keras.Model, layers: list[str]) -> keras.Model:
    return feature_model(model, list(layers), input_shape=(None, None, model.inputs[0].shape[-1]))


def _batch(image) -> tf.Tensor:
    return tf.convert_to_tensor(np.asarray(image, np.float32)[None], tf.float32)


def _gram_targets(net, image, channels: int, weights) -> tuple[list[tf.Tensor], list[float]]:
    """The image's Gram matrices at every layer, and each layer's weight divided by mean G² (the relative Gram loss)."""
    grams = [gram_matrix(f) for f in layer_features(net, match_channels(image, channels))]
    weights = [1.0] * len(grams) if weights is None else list(weights)
    if len(weights) != len(grams):
        raise ValueError(f"got {len(weights)} layer weights for {len(grams)} layers; give one per layer")
    return grams, [float(w) / max(float(tf.reduce_mean(tf.square(g))), 1e-12) for w, g in zip(weights, grams)]


def _optimise(x: tf.Variable, objective, steps: int, learning_rate: float, clip) -> list[np.ndarray]:
    """`steps` Adam steps (cosine-decayed rate) on the image `x` lowering objective(x)[0], clipped after each;
    objective(x)'s outputs before each step."""
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps))
    optimizer.build([x])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            terms = objective(x)
        optimizer.apply_gradients([(tape.gradient(terms[0], x), x)])
        x.assign(_clip(x, clip))
        return terms

    return [np.asarray([t.numpy() for t in step()], np.float64) for _ in range(steps)]


# ------------------------------------------------------------------ texture synthesis

def texture_synthesis(model: keras.Model, texture, layers: list[str], steps: int = 200, learning_rate: float = 0.02,
                      size: tuple[int, int] | None = None, weights: list[float] | None = None, tv_weight: float = 0.0,
                      clip=(0.0, 1.0), seed: int = 0, init_scale: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A new image of the texture (Gatys et al., 2015): argmin_x Σₗ wₗ mean (Gₗ(x) − Gₗ(t))² / mean Gₗ(t)² + μ·TV.

    From seeded noise around the middle of the value range, `steps` Adam steps bring the Gram
    matrices of the image at `layers` to the texture's. The Gram matrix forgets position, so the
    result is the same stuff rearranged: the first layers fix local contrast and grain, deeper
    ones larger motifs (a brick's edges, a blade of grass).

    Args:
        model: the loss network (any trained Keras model; only the named layers are read).
        texture: [H, W, C] in the model's input units; C may differ from the model's (`match_channels`).
        layers: names of the model's layers whose Gram matrices are matched (e.g. `default_layers(model)`).
        steps, learning_rate: Adam steps, and its first rate in input units (cosine-decayed to 0).
        size: (H, W) of the result; default the texture's.
        weights: per layer (default 1 each), on the relative Gram loss.
        tv_weight: μ, the weight of the mean squared neighbour difference (0: none).
        clip: (low, high) of the inputs, or None. seed, init_scale: the starting noise (std as a fraction of the range).

    Returns:
        (image [H, W, C], losses [steps]): the weighted relative Gram loss before each step.

    Example::

        image, losses = texture_synthesis(model, skimage_image("gravel", 64, scale=4), default_layers(model), steps=200)
    """
    channels = model.inputs[0].shape[-1]
    net = _loss_network(model, layers)
    texture = np.asarray(texture, np.float32)
    targets, scaled = _gram_targets(net, _batch(texture), channels, weights)
    x = tf.Variable(_start((*(size or texture.shape[:2]), texture.shape[-1]), 1, clip, init_scale, seed))
    pixels = float(np.prod(x.shape[1:]))

    def objective(image):
        gram = tf.reduce_sum(style_loss(layer_features(net, match_channels(image, channels)), targets, scaled))
        return gram + tv_weight * tf.reduce_sum(total_variation(image)) / pixels, gram

    history = _optimise(x, objective, steps, learning_rate, clip)
    return x.numpy()[0], np.asarray([h[1] for h in history], np.float32)


# ------------------------------------------------------------------ style transfer

def style_transfer(model: keras.Model, content, style, content_layers: list[str], style_layers: list[str],
                   content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 1.0, steps: int = 200,
                   learning_rate: float = 0.02, style_layer_weights: list[float] | None = None, start: Start = "noise",
                   clip=(0.0, 1.0), seed: int = 0, init_scale: float = 0.1) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The content image painted in the style image's texture (Gatys et al., 2016).

    argmin_x α·L_content + β·L_style + γ·TV: L_content the relative feature error at
    `content_layers` (averaged), L_style the relative Gram loss at `style_layers` (as
    `texture_synthesis`), TV the mean squared neighbour difference. The ratio α/β trades the
    content's layout against the style's texture; from noise (`start`, the paper's choice) both
    losses fall, from the content image the content loss starts at 0 and rises as style is added.

    Args:
        content: [H, W, C] in the model's input units; the result has its size and channels.
        style: [H', W', C'] in the same units, any size and channels (`match_channels`).
        content_layers, style_layers: layer names of the model.
        content_weight, style_weight, tv_weight: α, β, γ.
        steps, learning_rate: Adam steps, and its first rate in input units (cosine-decayed to 0).
        style_layer_weights: per style layer (default 1 each).
        start: "noise" (seeded, std `init_scale` of the range) or "content".
        clip: (low, high) of the inputs, or None.

    Returns:
        (image [H, W, C], {"content": [steps], "style": [steps], "tv": [steps]}): the unweighted
        terms before each step.

    Example::

        result, histories = style_transfer(model, photo, brick, ["block2_conv1_act"], default_layers(model))
    """
    if start not in ("noise", "content"):
        raise ValueError(f"style_transfer: start must be noise or content, got {start!r}")
    channels = model.inputs[0].shape[-1]
    content = np.asarray(content, np.float32)
    content_net, style_net = _loss_network(model, content_layers), _loss_network(model, style_layers)
    wanted = layer_features(content_net, match_channels(_batch(content), channels))
    scales = [max(float(tf.reduce_mean(tf.square(f))), 1e-12) for f in wanted]
    targets, scaled = _gram_targets(style_net, _batch(style), channels, style_layer_weights)
    first = content[None] if start == "content" else _start(content.shape, 1, clip, init_scale, seed)
    x = tf.Variable(first)
    pixels = float(np.prod(x.shape[1:]))

    def objective(image):
        fed = match_channels(image, channels)
        kept = tf.add_n([content_loss(f, w) / s for f, w, s in zip(layer_features(content_net, fed), wanted, scales)])
        kept = tf.reduce_sum(kept) / len(wanted)
        styled = tf.reduce_sum(style_loss(layer_features(style_net, fed), targets, scaled))
        smooth = tf.reduce_sum(total_variation(image)) / pixels
        return content_weight * kept + style_weight * styled + tv_weight * smooth, kept, styled, smooth

    history = np.asarray(_optimise(x, objective, steps, learning_rate, clip), np.float32).reshape(steps, 4)
    return x.numpy()[0], {"content": history[:, 1], "style": history[:, 2], "tv": history[:, 3]}


# ------------------------------------------------------------------ pictures

def plot_style(rows: dict[str, list[tuple[str, np.ndarray]]], curves: dict[str, dict[str, np.ndarray]], path: str | Path,
               title: str = "", value_range=(0.0, 1.0), x_label: str = "step") -> None:
    """One row per entry: its (caption, image [H, W, C]) pairs side by side, then its loss curves (log scale), if it has any.

    Example::

        plot_style({"brick": [("source", brick), ("synthesised", image)]}, {"brick": {"Gram loss": losses}}, "brick.png")
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerascv_suite.viz.plots import show_image

    columns = max(len(images) for images in rows.values()) + 1
    width = 2.0 * columns + 0.8
    heading = textwrap.fill(title, max(30, int(15 * width)))
    lines = heading.count("\n") + 1 if title else 0
    fig, axes = plt.subplots(len(rows), columns, figsize=(width, 2.2 * len(rows) + 0.2 + 0.18 * lines), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(columns - 1):
            ax = axes[r, c]
            if c >= len(images):
                ax.axis("off")
                continue
            caption, image = images[c]
            show_image(ax, np.asarray(image, np.float32), value_range)
            ax.set_xlabel(caption, fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
        ax = axes[r, -1]
        if name not in curves:
            ax.axis("off")
            continue
        for label, values in curves[name].items():
            values = np.asarray(values, np.float64)
            ax.plot(np.arange(len(values)), np.maximum(values, 1e-12), label=f"{label}: {values[0]:.3g} → {values[-1]:.3g}")
        ax.set_yscale("log")
        ax.set_xlabel(x_label, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
    if title:
        fig.suptitle(heading, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ reports

def _value_range(pipeline) -> tuple[float, float]:
    from kerascv_suite.data.pipeline import input_value_range

    value_range = input_value_range(pipeline.data.preprocess)
    if value_range is None:
        raise ValueError("its preprocessing leaves the input range unknown (only resize and rescale keep it); "
                         "the pictures need it to turn scikit-image's pixels into the model's inputs")
    return value_range


def _in_units(image: np.ndarray, value_range) -> np.ndarray:
    """[0, 1] pixels → the model's input units (the uint8 range carried through resize and rescale)."""
    low, high = value_range
    return (low + (high - low) * image).astype(np.float32)


def _check_names(report: str, key: str, names: list[str]) -> None:
    unknown = [name for name in names if name not in SKIMAGE_IMAGES]
    if unknown or not names:
        raise UserError(f"report {report}: {key} {unknown or '[]'} are not scikit-image pictures; allowed: {', '.join(SKIMAGE_IMAGES)}")


@REPORTS.register("texture_synthesis")
class TextureSynthesis:
    """New images of scikit-image's textures from the run's model's Gram matrices: source | synthesised | Gram loss."""

    def __init__(self, textures: list[str] = TEXTURES, layers: Optional[list[str]] = None, steps: PositiveInt = 200,
                 size: PositiveInt = 64, scale: PositiveInt = 4, learning_rate: PositiveFloat = 0.02):
        """
        Args:
            textures: scikit-image pictures (brick, grass, gravel, or any of `SKIMAGE_IMAGES`).
            layers: the model's layers whose Gram matrices are matched; default the first activation at each of
                its first four resolutions (`default_layers`).
            steps: Adam steps per texture. size: the side of the source crop and of the result, in pixels.
            scale: source pixels per pixel: the centred (scale·size)² of the 512×512 picture, area-averaged.
            learning_rate: Adam's first, in input units (cosine-decayed to 0 over the steps).
        """
        _check_names("texture_synthesis", "textures", list(textures))
        self.textures, self.layers, self.steps, self.size, self.scale = list(textures), layers, steps, size, scale
        self.learning_rate = learning_rate

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        value_range = _value_range(pipeline)
        layers = self.layers or default_layers(model)
        rows, curves = {}, {}
        for name in self.textures:
            texture = _in_units(skimage_image(name, self.size, self.scale), value_range)
            image, losses = texture_synthesis(model, texture, layers, steps=self.steps, learning_rate=self.learning_rate,
                                              clip=value_range)
            rows[name] = [("source", texture), (f"synthesised, Gram loss ÷{losses[0] / max(losses[-1], 1e-12):.0f}", image)]
            curves[name] = {"Gram loss": losses}
        path = folder / f"{prefix}.png"
        plot_style(rows, curves, path, value_range=value_range,
                   title=f"Texture synthesis (Gatys et al., 2015): Gram matrices matched at {', '.join(layers)}, {self.steps} Adam "
                         f"steps from noise, {self.size}×{self.size}; loss network: {subtitle}")
        return [path]


@REPORTS.register("style_transfer")
class StyleTransfer:
    """A scikit-image photo in the texture of another picture (Gatys et al., 2016): content | style | result | losses."""

    def __init__(self, content: str = "chelsea", style: str = "brick", content_layers: Optional[list[str]] = None,
                 style_layers: Optional[list[str]] = None, content_weight: NonNegativeFloat = 1.0,
                 style_weight: NonNegativeFloat = 1.0, tv_weight: NonNegativeFloat = 1.0, steps: PositiveInt = 200,
                 size: PositiveInt = 64, style_scale: PositiveInt = 4, start: Start = "noise",
                 learning_rate: PositiveFloat = 0.02):
        """
        Args:
            content: the scikit-image photo whose layout is kept (astronaut, chelsea, coffee, ...), its largest centred square.
            style: the scikit-image picture whose texture is painted (a texture or a photo).
            content_layers: default the second of `default_layers` (half the input's resolution: at 64×64 deeper
                layers of a network trained at 32×32 keep too little of a photo), or its only one.
            style_layers: default `default_layers(model)`.
            content_weight, style_weight, tv_weight: α, β, γ of the relative losses (`style_transfer`).
            steps: Adam steps. size: the side of the result in pixels.
            style_scale: source pixels per pixel of a texture style (as `texture_synthesis`'s scale); a photo style is whole.
            start: noise (Gatys et al.) or content.
            learning_rate: Adam's first, in input units (cosine-decayed to 0 over the steps).
        """
        _check_names("style_transfer", "content", [content])
        _check_names("style_transfer", "style", [style])
        self.content, self.style, self.content_layers, self.style_layers = content, style, content_layers, style_layers
        self.weights = dict(content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight)
        self.steps, self.size, self.style_scale, self.start, self.learning_rate = steps, size, style_scale, start, learning_rate

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        value_range = _value_range(pipeline)
        style_layers = self.style_layers or default_layers(model)
        content_layers = self.content_layers or default_layers(model)[1:2] or default_layers(model)[:1]
        content = _in_units(skimage_image(self.content, self.size), value_range)
        style = _in_units(skimage_image(self.style, self.size, self.style_scale if self.style in TEXTURES else None), value_range)
        result, histories = style_transfer(model, content, style, content_layers, style_layers, steps=self.steps,
                                           learning_rate=self.learning_rate, start=self.start, clip=value_range, **self.weights)
        path = folder / f"{prefix}.png"
        w = self.weights
        plot_style({"style transfer": [(f"content: {self.content}", content), (f"style: {self.style}", style), ("result", result)]},
                   {"style transfer": histories}, path, value_range=value_range,
                   title=f"Style transfer (Gatys et al., 2016): {w['content_weight']:g}·content ({', '.join(content_layers)}) + "
                         f"{w['style_weight']:g}·style ({', '.join(style_layers)}) + {w['tv_weight']:g}·TV, {self.steps} Adam steps "
                         f"from {self.start}; loss network: {subtitle}")
        return [path]


# ------------------------------------------------------------------ fast (feed-forward) style transfer

def content_crops(photos: list[str], size: int, count: int, side: int, seed: int = 0) -> np.ndarray:
    """`count` random size×size crops (half mirrored) of scikit-image photos shown at side×side, float32 [count, size, size, 3] in [0, 1]."""
    rng = np.random.default_rng(seed)
    pictures = [match_channels(skimage_image(name, side)[None], 3).numpy()[0] for name in photos]
    crops = []
    for i in range(count):
        top, left = rng.integers(0, side - size + 1, size=2)
        crop = pictures[i % len(pictures)][top:top + size, left:left + size]
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return np.stack(crops).astype(np.float32)


def style_pictures(styles: list[str], size: int, scale: int = 2) -> np.ndarray:
    """The style images [S, size, size, 3] in [0, 1]: a texture at `scale` source pixels per pixel, a photo whole."""
    return np.concatenate([match_channels(skimage_image(name, size, scale if name in TEXTURES else None)[None], 3).numpy()
                           for name in styles])


def fast_style_trainer(loss_network: keras.Model, styles: np.ndarray, crops: np.ndarray, content_layer: str, style_layers: list[str],
                       learning_rate: float = 2e-3, filters: int = 16, residual_blocks: int = 3, weights=(1.0, 1.0, 1.0),
                       seed: int = 0):
    """A new `style_network` for len(styles) styles and its compiled `FastStyleTrainer` on images like `crops`: (network, trainer).

    Train it with ``trainer.fit(crops, batch_size=8, epochs=...)``.
    The weights (content, style, TV) are relative, as in `style_transfer`: the content weight is
    divided by the crops' mean squared content feature, each style layer's by the styles' mean
    squared Gram entry there, and TV's by the pixels of an image, so one weight means the same
    whatever the loss network's scale.
    """
    from kerascv_suite.models.perceptual import feature_model, gram_matrix, layer_features
    from kerascv_suite.models.style_network import FastStyleTrainer, style_network

    net = feature_model(loss_network, [content_layer, *style_layers], input_shape=(None, None, 3))
    content = layer_features(net, crops[:64])[0]
    layer_weights = [1.0 / float(np.mean(np.square(gram_matrix(f)))) for f in layer_features(net, styles)[1:]]
    size = crops.shape[1]
    keras.utils.set_random_seed(seed)
    network = style_network((size, size, 3), styles=len(styles), filters=filters, residual_blocks=residual_blocks)
    trainer = FastStyleTrainer(network, loss_network, [content_layer], style_layers, styles,
                               content_weight=weights[0] / float(np.mean(np.square(content))), style_weight=weights[1],
                               tv_weight=weights[2] / (size * size * 3), style_layer_weights=layer_weights, seed=seed)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return network, trainer


def fast_style_rows(network: keras.Model, shown: dict[str, np.ndarray], styles: np.ndarray, style_names: list[str]) -> dict:
    """`plot_style` rows: the styles, then each shown photo in every style and in an even mixture of them."""
    count, size = len(styles), styles.shape[1]
    weights = [np.eye(count, dtype=np.float32)[s] for s in range(count)] + [np.full(count, 1 / count, np.float32)]
    photos = np.stack(list(shown.values()))
    outputs = [network([photos, np.repeat(w[None], len(photos), 0)], training=False).numpy() for w in weights]
    mosaic = np.concatenate([s[:, i * size // count:(i + 1) * size // count] for i, s in enumerate(styles)], axis=1)
    rows = {"styles": [("styles →", mosaic), *zip(style_names, styles), (f"1/{count} each", mosaic)]}
    for i, name in enumerate(shown):
        rows[name] = [("content", photos[i]), *[(label, out[i]) for label, out in zip([*style_names, "mixture"], outputs)]]
    return rows


@REPORTS.register("fast_style")
class FastStyle:
    """A feed-forward network for several styles at once (conditional instance norm), trained against the run's model; exported and checked."""

    def __init__(self, styles: list[str] = ("brick", "hubble_deep_field", "immunohistochemistry"),
                 photos: list[str] = ("astronaut", "chelsea", "coffee", "rocket"), size: PositiveInt = 64, crops: PositiveInt = 64,
                 epochs: PositiveInt = 2, filters: PositiveInt = 16, residual_blocks: PositiveInt = 3, export: bool = True,
                 seed: int = 0):
        """
        Args:
            styles: scikit-image pictures, one per style (textures at 2 source pixels per pixel, photos whole); two or more.
            photos: scikit-image photos whose random crops train the network (and which the picture shows).
            size: the side of the crops and of the network's images. crops: how many training crops.
            epochs: passes over the crops (batch 8, Adam 0.002). filters, residual_blocks: the network's width and depth.
            export: also write the network as a SavedModel (uint8 images and style weights in, uint8 out; checked in a
                fresh process) and a TFLite file (checked in LiteRT) into the report folder.
            seed: the crops, the initial weights and the styles drawn per image.
        """
        _check_names("fast_style", "styles", list(styles))
        _check_names("fast_style", "photos", list(photos))
        if len(styles) < 2:
            raise UserError(f"report fast_style: styles must name two or more pictures (one network, several styles), got {list(styles)}")
        self.styles, self.photos, self.size, self.crops, self.epochs = list(styles), list(photos), size, crops, epochs
        self.filters, self.residual_blocks, self.export, self.seed = filters, residual_blocks, export, seed

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        import json

        value_range = _value_range(pipeline)
        if tuple(value_range) != (0.0, 1.0):
            raise ValueError(f"the style network draws images in [0, 1]; this model reads inputs in [{value_range[0]:g}, {value_range[1]:g}]")
        layers = default_layers(model)
        styles = style_pictures(self.styles, self.size)
        crops = content_crops(self.photos, self.size, self.crops, int(self.size * 2.5), self.seed)
        network, trainer = fast_style_trainer(model, styles, crops, layers[1] if len(layers) > 1 else layers[0], layers,
                                              filters=self.filters, residual_blocks=self.residual_blocks, seed=self.seed)
        history = trainer.fit(crops, batch_size=8, epochs=self.epochs, shuffle=True, verbose=2).history
        shown = {name: match_channels(skimage_image(name, self.size)[None], 3).numpy()[0] for name in self.photos[:3]}
        path = folder / f"{prefix}.png"
        curves = {"styles": {key: np.asarray(history[key]) for key in ("loss", "content_loss", "style_loss", "tv_loss")}}
        plot_style(fast_style_rows(network, shown, styles, self.styles), curves, path, x_label="epoch",
                   title=f"Fast style transfer: one network, {len(styles)} styles (conditional instance norm), {self.epochs} epochs on "
                         f"{self.crops} crops; loss network: {subtitle}")
        paths = [path]
        if self.export:
            from kerascv_suite.export.style import export_style_savedmodel, export_style_tflite

            pixels = np.round(np.concatenate([np.stack(list(shown.values())), crops[:3]]) * 255).astype(np.uint8)
            saved = export_style_savedmodel(network, folder / "savedmodels", name="fast_style", check_images=pixels)
            lite = export_style_tflite(network, folder / f"{prefix}.tflite", check_images=pixels)
            checks = {"savedmodel": saved["path"], "savedmodel_largest_difference": saved["verification"]["largest_differences"]["stylised"],
                      "tflite": lite["path"], "tflite_largest_difference": lite["max_abs_difference"]}
            paths.append(folder / f"{prefix}.json")
            paths[-1].write_text(json.dumps({key: str(v) if isinstance(v, Path) else v for key, v in checks.items()}, indent=1))
        return paths


__all__ = ["texture_synthesis", "style_transfer", "plot_style", "skimage_image", "match_channels", "default_layers",
           "content_crops", "style_pictures", "fast_style_trainer", "fast_style_rows",
           "TextureSynthesis", "StyleTransfer", "FastStyle", "TEXTURES", "PHOTOS", "SKIMAGE_IMAGES"]
