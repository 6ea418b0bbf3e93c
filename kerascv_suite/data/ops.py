"""Preprocessing and augmentation ops, each a small registered builder composed from the spec.

An op builder returns a callable on float32 images — one image [H, W, C] in `preprocess`,
a batch [B, H, W, C] in `augment` — usually a Keras preprocessing layer, which handles
both. An op that needs statistics of the training split (per-channel normalisation) has an
``adapt(dataset)`` method; the pipeline calls it on the training split before use.

The pipeline injects `input_shape` (the image shape reaching the op) and `seed` (derived
from ``data.seed``) into builders that ask for them.

Regularising augmentations: keras-cv's `cutout`, `randaugment` and `mixup` (they work under
Keras 3), and `cutmix` (the library's own, see `CutMix`); `mixup` and `cutmix` mix examples. A mixing op has ``mixes_labels = True``
and is called on (images, labels); the pipeline then gives the training batches one-hot
float labels, which the library's cross-entropy and accuracy accept next to the validation
split's integer labels. Colour augmentations: `colour_jitter` (Keras's `RandomColorJitter`)
and `pca_colour` (AlexNet's PCA lighting noise, `PCAColour`, fitted on the training split).

Ops that move pixels (resize, pad, crops, flips, rotations, translations, scale jitter, random
resized crops, shears) are `GeometricOp`s: on a structured source's examples they move boxes,
masks and keypoints with the image (`kerascv_suite.data.geometry`); photometric ops change the
images alone.

Example (YAML)::

    preprocess: [{name: resize, size: [32, 32]}, rescale, normalize]
    augment: [{name: random_crop, padding: 4}, random_flip, {name: mixup, alpha: 0.2}]
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import keras
import numpy as np
import tensorflow as tf
from pydantic import Field, PositiveFloat, PositiveInt

from kerascv_suite.data import geometry
from kerascv_suite.data.whitening import principal_axes
from kerascv_suite.registry import OPS
from kerascv_suite.spec.errors import DataError

Fraction01 = Annotated[float, Field(ge=0, le=1)]


class GeometricOp:
    """An op that moves pixels, for both kinds of example.

    On images alone (an (image, label) pipeline) it runs `image_op`, the Keras layer today's
    pipelines have always used; on a features dict (`transform_features`, a structured source's
    pipeline) it runs `transform`, the `kerascv_suite.data.geometry` transform that moves boxes,
    masks and keypoints with the image.
    """

    moves_geometry = True

    def __init__(self, image_op, transform):
        self.image_op, self.transform = image_op, transform

    def __call__(self, images):
        return self.image_op(images)

    def transform_features(self, features: dict) -> dict:
        return self.transform(features)


@OPS.register("resize")
def resize(size: tuple[int, int], interpolation: Literal["bilinear", "nearest", "bicubic", "area"] = "bilinear"):
    """Resize to `size` = [height, width] (boxes, masks and keypoints scale with the image)."""
    transform = geometry.Resize(size, interpolation if interpolation in ("bilinear", "nearest") else "bilinear")
    return GeometricOp(keras.layers.Resizing(size[0], size[1], interpolation=interpolation), transform)


@OPS.register("rescale")
def rescale(scale: float = 1 / 255, offset: float = 0.0):
    """Multiply by `scale` and add `offset` (default: uint8 pixels → [0, 1])."""
    return keras.layers.Rescaling(scale, offset)


@OPS.register("binarize")
def binarize(threshold: float = 0.5):
    """1 where a pixel exceeds `threshold`, else 0 (after `rescale`): the binarised digits a Bernoulli decoder models."""
    return lambda image: tf.cast(image > threshold, image.dtype)


@keras.saving.register_keras_serializable(package="kerascv_suite")
class AdaptedNormalization(keras.layers.Normalization):
    """Normalization adapted on batches that also takes one unbatched image (keeping its rank)."""

    def call(self, inputs):
        if len(inputs.shape) == len(self._broadcast_shape) - 1:
            return super().call(inputs[None])[0]
        return super().call(inputs)


@OPS.register("normalize")
def normalize(mean: Optional[list[float]] = None, std: Optional[list[float]] = None):
    """Per-channel (x − mean) / std; with no mean/std given, both are computed on the training split."""
    if (mean is None) != (std is None):
        raise ValueError("normalize: give both mean and std, or neither (to compute them on the training split)")
    if mean is None:
        return AdaptedNormalization(axis=-1)
    layer = keras.layers.Normalization(axis=-1, mean=mean, variance=[s * s for s in std])
    layer.build((None, None, len(mean)))  # build eagerly: built lazily in a tf.data trace, its constants stay in that graph
    return lambda image: layer(image)  # no `adapt` method: the pipeline must not adapt given statistics


@OPS.register("grayscale")
def grayscale():
    """RGB → one luminance channel (a 1-channel image passes through)."""

    def apply(image):
        return tf.image.rgb_to_grayscale(image) if image.shape[-1] == 3 else image

    return apply


@OPS.register("to_rgb")
def to_rgb():
    """One channel → three equal channels (a 3-channel image passes through)."""

    def apply(image):
        return tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image

    return apply


@OPS.register("pad")
def pad(padding: int, input_shape: tuple):
    """Zero-pad `padding` pixels on every side."""
    height, width = input_shape[0], input_shape[1]
    return GeometricOp(lambda image: tf.image.pad_to_bounding_box(image, padding, padding, height + 2 * padding, width + 2 * padding),
                       geometry.Pad(padding))


@OPS.register("center_crop")
def center_crop(size: tuple[int, int]):
    """Crop the central `size` = [height, width] region."""
    return GeometricOp(keras.layers.CenterCrop(size[0], size[1]), geometry.CenterCrop(size))


@OPS.register("random_flip")
def random_flip(seed: int, mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal"):
    """Flip at random (don't use horizontal flips on digits: a mirrored 3 is no digit)."""
    return GeometricOp(keras.layers.RandomFlip(mode, seed=seed), geometry.RandomFlip(seed, mode))


@OPS.register("random_crop")
def random_crop(seed: int, input_shape: tuple, padding: int = 4, size: Optional[tuple[int, int]] = None):
    """Zero-pad by `padding`, then crop a random `size` window (default: the input size), as in CIFAR training."""
    height, width = size or input_shape[:2]
    crop = keras.layers.RandomCrop(height, width, seed=seed)

    def apply(images):
        padded = tf.pad(images, [[0, 0]] * (images.shape.rank - 3) + [[padding, padding], [padding, padding], [0, 0]])
        return crop(padded, training=True)

    return GeometricOp(apply, geometry.RandomCrop(seed, padding, size))


@OPS.register("random_rotation")
def random_rotation(seed: int, degrees: float = 10.0, fill_mode: Literal["constant", "reflect", "nearest"] = "constant"):
    """Rotate by a random angle in [−degrees, degrees] (structured examples: zero fill)."""
    return GeometricOp(keras.layers.RandomRotation(degrees / 360.0, fill_mode=fill_mode, seed=seed),
                       geometry.RandomRotation(seed, degrees))


@OPS.register("random_translation")
def random_translation(seed: int, fraction: float = 0.1, fill_mode: Literal["constant", "reflect", "nearest"] = "constant"):
    """Shift by a random fraction (up to `fraction` of the height and width; structured examples: zero fill)."""
    return GeometricOp(keras.layers.RandomTranslation(fraction, fraction, fill_mode=fill_mode, seed=seed),
                       geometry.RandomTranslation(seed, fraction))


@OPS.register("random_scale")
def random_scale(seed: int, min_scale: PositiveFloat = 0.8, max_scale: PositiveFloat = 1.25):
    """Scale jitter: zoom each image about its centre by a random factor in [min_scale, max_scale], keeping its size."""
    transform = geometry.RandomScale(seed, min_scale, max_scale)
    return GeometricOp(lambda images: transform({"images": images})["images"], transform)


@OPS.register("random_resized_crop")
def random_resized_crop(
    seed: int,
    size: Optional[tuple[PositiveInt, PositiveInt]] = None,
    scale: tuple[Annotated[float, Field(gt=0, le=1)], Annotated[float, Field(gt=0, le=1)]] = (0.08, 1.0),
    ratio: tuple[PositiveFloat, PositiveFloat] = (3 / 4, 4 / 3),
):
    """Inception-style crop: a random region of area fraction in `scale` and width/height in `ratio`, resized to
    `size` = [height, width] (default: the input size); `geometry.RandomResizedCrop`, for images and structured
    examples alike (Keras 3.15 has no such layer)."""
    for key, (low, high) in (("scale", scale), ("ratio", ratio)):
        if low > high:
            raise DataError(f"data: random_resized_crop: {key} must be [low, high] with low <= high, got {[low, high]}")
    transform = geometry.RandomResizedCrop(seed, size, scale, ratio)
    return GeometricOp(lambda images: transform({"images": images})["images"], transform)


@OPS.register("random_shear")
def random_shear(seed: int, x_factor: Fraction01 = 0.2, y_factor: Fraction01 = 0.0,
                 fill_mode: Literal["constant", "reflect", "nearest"] = "constant"):
    """Shear by random factors s_x in [−x_factor, x_factor] and s_y in [−y_factor, y_factor]: pixel (x, y) reads
    (x + s_x·y, s_y·x + y), so the bottom row moves s_x·H pixels; Keras's `RandomShear` (structured examples:
    `geometry.RandomShear`, zero fill)."""
    return GeometricOp(keras.layers.RandomShear(x_factor, y_factor, fill_mode=fill_mode, seed=seed),
                       geometry.RandomShear(seed, x_factor, y_factor))


@OPS.register("cutout")
def cutout(seed: int, size: Annotated[float, Field(gt=0, le=1)] = 0.25, fill_value: float = 0.0):
    """Blank one square of side `size`·(height, width) per image at a random centre, clipped at the border
    (DeVries & Taylor, 2017); keras-cv's `RandomCutout`, given (size, size) so every square has the paper's
    fixed size (a single number would make keras-cv draw each side from [0, size])."""
    import keras_cv

    return keras_cv.layers.RandomCutout((size, size), (size, size), fill_mode="constant", fill_value=fill_value, seed=seed)


@OPS.register("randaugment")
def randaugment(
    seed: int,
    input_shape: tuple,
    augmentations_per_image: PositiveInt = 2,
    magnitude: Annotated[float, Field(ge=0, le=1)] = 0.3,
    value_range: tuple[float, float] = (0.0, 1.0),
):
    """RandAugment (Cubuk et al., 2020): `augmentations_per_image` random ops of one `magnitude`; keras-cv's layer.

    `value_range` is the pixel range reaching the op ([0, 1] after `rescale`). keras-cv's
    colour ops need three channels, so grayscale images go through RGB and back.
    """
    import keras_cv

    layer = keras_cv.layers.RandAugment(value_range=value_range, augmentations_per_image=augmentations_per_image,
                                        magnitude=magnitude, seed=seed)
    if input_shape[-1] == 3:
        return layer
    return lambda images: tf.image.rgb_to_grayscale(layer(tf.image.grayscale_to_rgb(images)))


class ColourJitter:
    """Random brightness, contrast, saturation and hue per image, in that order; Keras's `RandomColorJitter`.

    For each image: add δ·(high − low) with δ ~ U(−brightness, brightness); scale each channel's
    deviations from its mean by c ~ U(1 − contrast, 1 + contrast); multiply the HSV saturation by
    m, which spans [1 − saturation, 1 + saturation]; turn the hue by an angle uniform in
    [−hue, hue] of the full circle. Each step clips to `value_range`. A zero turns its step off.

    The keys are torchvision's `ColorJitter` ranges, translated into Keras's factors: Keras's
    saturation draws f uniform and multiplies by f / (1 − f) (so it is given f's range
    [(1 − s)/(2 − s), (1 + s)/(2 + s)]), and its hue shifts by ± half a factor drawn from
    [0, 2·hue]. Unlike torchvision, brightness is additive (Keras's), and the order is fixed.
    Keras's saturation step clips the saturation to the value range, right only for [0, 1]:
    the images are mapped to [0, 1] and back around the layer.

    Example::

        images = ColourJitter(seed=0, brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05)(images)
    """

    def __init__(self, seed: int, brightness: float, contrast: float, saturation: float, hue: float,
                 value_range: tuple[float, float] = (0.0, 1.0)):
        self.low, self.high = value_range
        self.layer = keras.layers.RandomColorJitter(
            value_range=(0.0, 1.0),
            brightness_factor=(-brightness, brightness) if brightness else None,
            contrast_factor=(contrast, contrast) if contrast else None,
            saturation_factor=((1 - saturation) / (2 - saturation), (1 + saturation) / (2 + saturation)) if saturation else None,
            hue_factor=(0.0, 2.0 * hue) if hue else None,
            seed=seed,
        )

    def __call__(self, images):
        span = self.high - self.low
        return self.layer((images - self.low) / span) * span + self.low


@OPS.register("colour_jitter")
def colour_jitter(
    seed: int,
    input_shape: tuple,
    brightness: Fraction01 = 0.2,
    contrast: Fraction01 = 0.2,
    saturation: Annotated[float, Field(ge=0, lt=1)] = 0.2,
    hue: Annotated[float, Field(ge=0, le=0.5)] = 0.05,
    value_range: tuple[float, float] = (0.0, 1.0),
):
    """Colour jitter: random brightness (additive, ±brightness of the range), contrast (×[1 ± contrast]),
    saturation (×[1 ± saturation]) and hue (±hue of the circle) per image, in that order (`ColourJitter`).
    `value_range` is the pixel range reaching the op ([0, 1] after `rescale`)."""
    if input_shape[-1] != 3 and (saturation or hue):
        raise DataError(f"data: colour_jitter: saturation and hue need RGB images, got {input_shape[-1]} channel(s); "
                        f"set them to 0 or add to_rgb to data.preprocess")
    return ColourJitter(seed, brightness, contrast, saturation, hue, value_range)


class PCAColour:
    """AlexNet's PCA colour augmentation (Krizhevsky et al., 2012): shift each image along the RGB principal axes.

    `adapt` fits the 3×3 covariance of every RGB pixel of the training split, with eigenvectors
    p₁, p₂, p₃ and eigenvalues λ₁ ≥ λ₂ ≥ λ₃. Each call then adds to every pixel of image b the
    same offset Σᵢ αᵢ·√λᵢ·pᵢ, with αᵢ ~ N(0, sigma²) drawn per image (anew each time the image
    is seen): natural images change in illumination intensity and colour mostly along those
    axes, so the label should not depend on such a shift. No clipping, as in the paper.

    The paper writes the offset with αᵢλᵢ; here √λᵢ, the data's standard deviation along pᵢ,
    so the offset has the pixels' units and a given sigma means the same whether pixels are
    0–255, 0–1 or normalised (with λ it would shrink 255-fold from 0–255 to 0–1 pixels).
    sigma = 0.1 shifts each image by about a tenth of the data's colour spread.

    Example::

        op = PCAColour(seed=0)
        op.adapt(train_images.batch(256))      # batches [B, H, W, 3]
        images = op(images)
    """

    def __init__(self, seed: int, sigma: float = 0.1):
        self.sigma = sigma
        self.generator = tf.random.Generator.from_seed(seed)
        self.eigenvalues = self.eigenvectors = None

    def adapt(self, dataset) -> None:
        """Fit the RGB covariance's eigenvalues (descending) and eigenvectors (columns) on a dataset of image batches."""
        count, total, products = 0, np.zeros(3), np.zeros((3, 3))
        for images in dataset:
            pixels = np.asarray(images, np.float64).reshape(-1, 3)
            count += len(pixels)
            total += pixels.sum(axis=0)
            products += pixels.T @ pixels
        mean = total / count
        eigenvalues, eigenvectors = principal_axes(products / count - np.outer(mean, mean))
        self.eigenvalues, self.eigenvectors = eigenvalues.astype(np.float32), eigenvectors.astype(np.float32)

    def __call__(self, images):
        if self.eigenvalues is None:
            raise RuntimeError("PCAColour: call adapt(dataset) on the training images first")
        alpha = self.generator.normal(tf.concat([tf.shape(images)[:-3], [3]], axis=0), stddev=self.sigma)
        offset = tf.linalg.matvec(self.eigenvectors, alpha * np.sqrt(self.eigenvalues))   # Σᵢ αᵢ √λᵢ pᵢ
        return images + offset[..., None, None, :]


@OPS.register("pca_colour")
def pca_colour(seed: int, input_shape: tuple, sigma: PositiveFloat = 0.1):
    """AlexNet's PCA lighting noise: add Σᵢ αᵢ√λᵢpᵢ to every pixel, αᵢ ~ N(0, sigma²) per image, with pᵢ, λᵢ the
    principal axes and variances of the training split's RGB pixels (fitted by `adapt`; `PCAColour`)."""
    if input_shape[-1] != 3:
        raise DataError(f"data: pca_colour needs RGB images, got {input_shape[-1]} channel(s); add to_rgb to data.preprocess")
    return PCAColour(seed, sigma)


class _LabelMixer:
    """A keras-cv mixing layer called on (images, one-hot labels), returning both mixed."""

    mixes_labels = True

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, images, labels):
        mixed = self.layer({"images": images, "labels": labels})
        return mixed["images"], mixed["labels"]


@OPS.register("mixup")
def mixup(seed: int, alpha: PositiveFloat = 0.2):
    """Mixup (Zhang et al., 2018): λ·(x₁, y₁) + (1 − λ)·(x₂, y₂) within the batch, λ ~ Beta(alpha, alpha); keras-cv's `MixUp`."""
    import keras_cv

    return _LabelMixer(keras_cv.layers.MixUp(alpha=alpha, seed=seed))


class CutMix:
    """CutMix (Yun et al., 2019): paste a random box from another image of the batch; labels mix by the pasted share.

    For each image, λ ~ Beta(alpha, alpha), a box of (√(1 − λ)·H) × (√(1 − λ)·W) pixels centred at a
    uniformly random pixel and clipped at the border (the paper's reference `rand_bbox`), taken from the
    image at the same index of a random permutation of the batch. The label is then
    w·y + (1 − w)·y_other with w the share of the image's own pixels left, counted on the pixel mask.

    Written here because neither library's layer gives that label: keras-cv 0.9's `CutMix` weighs the
    labels by the unclipped box, so a box at the border (most large ones) gets up to twice its area,
    and Keras 3's `keras.layers.CutMix` by the area of a box with fractional corners, not the pixels
    it pastes (and draws alpha itself at random).

    Example::

        images, labels = CutMix(seed=0, alpha=1.0)(images, tf.one_hot(classes, 10))
    """

    mixes_labels = True

    def __init__(self, seed: int, alpha: float):
        self.alpha = alpha
        self.generator = tf.random.Generator.from_seed(seed)

    def __call__(self, images, labels):
        shape = tf.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        seeds = self.generator.make_seeds(2)
        a = tf.random.stateless_gamma([batch], seeds[:, 0], alpha=self.alpha)
        b = tf.random.stateless_gamma([batch], seeds[:, 1], alpha=self.alpha)
        ratio = tf.sqrt(b / (a + b))   # √(1 − λ) with λ = a / (a + b) ~ Beta(alpha, alpha)

        def bounds(length):
            cut = tf.cast(ratio * tf.cast(length, tf.float32), tf.int32)
            centre = self.generator.uniform([batch], 0, length, dtype=tf.int32)
            low, high = tf.clip_by_value(centre - cut // 2, 0, length), tf.clip_by_value(centre + cut // 2, 0, length)
            positions = tf.range(length)[None, :]
            return (positions >= low[:, None]) & (positions < high[:, None])   # [batch, length]

        inside = bounds(height)[:, :, None] & bounds(width)[:, None, :]         # [batch, H, W]
        order = tf.argsort(self.generator.uniform([batch]))                      # a random permutation
        images = tf.where(inside[..., None], tf.gather(images, order), images)
        own = 1.0 - tf.reduce_mean(tf.cast(inside, labels.dtype), axis=[1, 2])[:, None]
        return images, own * labels + (1.0 - own) * tf.gather(labels, order)


@OPS.register("cutmix")
def cutmix(seed: int, alpha: PositiveFloat = 1.0):
    """CutMix (Yun et al., 2019): paste a random box from another image of the batch; labels mix by the pasted share (`CutMix`)."""
    return CutMix(seed, alpha)
