"""Geometric transforms that move the image and every geometric feature of a features dict together.

Each transform is one affine map per example: a 3×3 matrix taking output pixel coordinates
(x, y, 1) to input ones, in the contract's convention (`kerascv_suite.data.examples`: pixel
(i, j) covers [j, j + 1) × [i, i + 1)). `apply_affine` then moves every feature with it:

- `images` are resampled by `keras.ops.image.affine_transform` (bilinear, or nearest for
  `Resize(interpolation="nearest")`), zero outside the input (`Resize`: the edge pixel);
- `masks` and `semantic_mask` by the same call with nearest interpolation, zero outside;
- `boxes`: the 4 corners go through the inverse (input → output) matrix, the box becomes
  their enclosing axis-aligned box, clipped to the output image;
- `keypoints` (x, y) go through the inverse matrix too.

A box whose clipped area is below `min_area` px² (default 1) or below `min_visibility` times
its unclipped transformed area (default 0: any visible part keeps it) is dropped, like a
padding row: class −1, box 0, mask 0, keypoints 0 (padding rows, class −1 or all-zero boxes,
stay padding). A keypoint that ends outside the closed image rectangle [0, W] × [0, H] becomes
(0, 0, 0), invisible and without coordinates, as an absent point or padding is; an occluded
point inside the image (visible 0, coordinates given, as the `shapes` source writes them)
moves and stays occluded, and an absent point (0, 0, 0) stays absent. The semantic mask is only warped (it has no rows
to drop). Keys a transform doesn't move (`labels`, `captions`, ...) pass through unchanged,
and features absent from the dict are skipped.

`keras.ops.image.affine_transform` samples the input at index coordinates, where input pixel
(i, j) sits at (j, i); in the contract's coordinates its centre is (j + 0.5, i + 0.5). The
matrices here are written in the contract's coordinates and shifted by half a pixel on the
way in and out, so a filled rectangle covering pixels [x0, x1) × [y0, y1) and its box
(x0, y0, x1, y1) move together: a horizontal flip maps (x0, x1) to (W − x1, W − x0) exactly.

Every transform takes one example (images [H, W, C], boxes [M, 4], classes [M], masks
[M, H, W], semantic_mask [H, W], keypoints [M, K, 3]) or a batch of them (a leading B on
every feature), runs in graph mode inside `tf.data.Dataset.map`, keeps static shapes, and is
vectorised over the batch; a random transform draws its own parameters for each example
from a `tf.random.Generator` seeded by `seed`.

Why written here rather than with Keras's box-aware preprocessing layers: Keras 3.15's
`RandomFlip`, `RandomRotation`, `RandomTranslation`, ... take {"images", "bounding_boxes",
"segmentation_masks"} and move those, but not keypoints (a "keypoints" key passes through
unmoved), and each layer draws its own random transform, so keypoints cannot be made to
share it. One affine per example, applied to all features, keeps them consistent, and drops
a box that leaves the image together with its class, mask and keypoints.

Compose transforms with `Compose` (successive calls: each transform sees the previous one's
output, its zero borders included).

Example::

    augment = Compose([RandomFlip(seed=0), RandomRotation(seed=1, degrees=10), RandomCrop(seed=2, padding=4)])
    features = augment({"images": images, "boxes": boxes, "classes": classes, "keypoints": keypoints})
"""

from __future__ import annotations

import math
from typing import Literal, Optional, Sequence

import keras
import tensorflow as tf

from kerascv_suite.data.examples import BOXES, CLASSES, GEOMETRIC, IMAGES, KEYPOINTS, MASKS, PADDING_CLASS, SEMANTIC_MASK

# Areas are sums and products of float32 coordinates: a 1 × 1 box may come out 0.99999994 px².
_AREA_TOLERANCE = 1e-3


def _affine(batch, a=1.0, b=0.0, c=0.0, d=0.0, e=1.0, f=0.0):
    """[batch, 3, 3] float32 matrices [[a, b, c], [d, e, f], [0, 0, 1]]; each entry a number or a [batch] tensor."""
    entries = [tf.broadcast_to(tf.cast(v, tf.float32), [batch]) for v in (a, b, c, d, e, f, 0.0, 0.0, 1.0)]
    return tf.reshape(tf.stack(entries, axis=-1), [batch, 3, 3])


def _warp(images, index_transforms, output_size, interpolation, fill_mode="constant"):
    """Warp [B, H, W, C] images to [B, out_h, out_w, C] by index-space transforms [B, 8]; outside the input,
    zeros ("constant") or the nearest edge pixel ("nearest")."""
    out_h, out_w = output_size
    height, width = images.shape[1], images.shape[2]
    # affine_transform keeps the input size: warp on a canvas that holds the output, extended at the
    # bottom and right as the fill would extend it, then cut the output from it.
    canvas_h, canvas_w = max(height, out_h), max(width, out_w)
    if fill_mode == "nearest":
        images = tf.gather(images, tf.minimum(tf.range(canvas_h), height - 1), axis=1)
        images = tf.gather(images, tf.minimum(tf.range(canvas_w), width - 1), axis=2)
    else:
        images = tf.pad(images, [[0, 0], [0, canvas_h - height], [0, canvas_w - width], [0, 0]])
    warped = keras.ops.image.affine_transform(images, index_transforms, interpolation=interpolation,
                                              fill_mode=fill_mode, fill_value=0, data_format="channels_last")
    return warped[:, :out_h, :out_w, :]


def _move_points(inverse, points):
    """Points [B, ..., 2] through the input → output matrices [B, 3, 3]."""
    flat = tf.reshape(points, [tf.shape(points)[0], -1, 2])
    moved = tf.matmul(flat, inverse[:, :2, :2], transpose_b=True) + inverse[:, None, :2, 2]
    return tf.reshape(moved, tf.shape(points))


def apply_affine(
    features: dict,
    matrices,
    output_size: tuple[int, int],
    interpolation: Literal["bilinear", "nearest"] = "bilinear",
    fill_mode: Literal["constant", "nearest"] = "constant",
    min_area: float = 1.0,
    min_visibility: float = 0.0,
) -> dict:
    """Move every geometric feature of `features` by one affine map per example (see the module docstring).

    Args:
        features: one example (images [H, W, C]) or a batch (images [B, H, W, C]) with any of
            boxes, classes, masks, semantic_mask, keypoints; other keys pass through.
        matrices: [B, 3, 3] (a batch) or [3, 3] (one example) float32, mapping output pixel
            coordinates (x, y, 1) to input ones.
        output_size: (height, width) of the output images.
        interpolation: how `images` are sampled; masks always use nearest.
        fill_mode: what `images` read outside the input: "constant" zeros, or "nearest" the
            edge pixel (as resizing does); masks always read zeros.
        min_area: boxes whose clipped area is below this (px²) are dropped.
        min_visibility: boxes whose clipped area is below this fraction of their unclipped
            transformed area are dropped.

    Returns:
        A new dict: the moved features, and the other keys of `features` unchanged.

    Example::

        flip = [[-1.0, 0.0, 32.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]   # x ↦ 32 − x on a 32-wide image
        flipped = apply_affine({"images": image, "boxes": boxes}, flip, (32, 32))
    """
    images = features[IMAGES]
    batched = len(images.shape) == 4
    present = [key for key in (IMAGES, CLASSES, *GEOMETRIC) if key in features]
    moved = {key: tf.convert_to_tensor(features[key]) for key in present}
    matrices = tf.convert_to_tensor(matrices, tf.float32)
    if not batched:
        moved = {key: value[None] for key, value in moved.items()}
        matrices = matrices[None]
    out_h, out_w = output_size
    batch = tf.shape(matrices)[0]

    # Index coordinates are the contract's minus half a pixel: index = T(−½) · matrix · T(+½).
    index = _affine(batch, c=-0.5, f=-0.5) @ matrices @ _affine(batch, c=0.5, f=0.5)
    index_transforms = tf.reshape(index, [batch, 9])[:, :8]

    images = moved[IMAGES]
    warped = _warp(tf.cast(images, tf.float32), index_transforms, output_size, interpolation, fill_mode)
    moved[IMAGES] = tf.cast(tf.round(warped), images.dtype) if images.dtype.is_integer else tf.cast(warped, images.dtype)
    if SEMANTIC_MASK in moved:
        semantic = _warp(moved[SEMANTIC_MASK][..., None], index_transforms, output_size, "nearest")
        moved[SEMANTIC_MASK] = semantic[..., 0]

    inverse = tf.linalg.inv(matrices)
    keep = None  # [B, M]: rows that remain objects
    if BOXES in moved:
        boxes = tf.cast(moved[BOXES], tf.float32)
        x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
        corners = tf.stack([tf.stack(corner, axis=-1) for corner in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))], axis=-2)
        corners = _move_points(inverse, corners)                                   # [B, M, 4, 2]
        low, high = tf.reduce_min(corners, axis=-2), tf.reduce_max(corners, axis=-2)
        size = tf.constant([out_w, out_h], tf.float32)
        clipped_low, clipped_high = tf.clip_by_value(low, 0.0, size), tf.clip_by_value(high, 0.0, size)
        area = tf.reduce_prod(high - low, axis=-1)
        clipped_area = tf.reduce_prod(clipped_high - clipped_low, axis=-1)
        keep = (clipped_area >= min_area - _AREA_TOLERANCE) & (clipped_area >= min_visibility * area - _AREA_TOLERANCE)
        if CLASSES in moved:
            keep &= moved[CLASSES] != PADDING_CLASS
        moved[BOXES] = tf.where(keep[..., None], tf.concat([clipped_low, clipped_high], axis=-1), 0.0)
        if CLASSES in moved:
            moved[CLASSES] = tf.where(keep, moved[CLASSES], tf.constant(PADDING_CLASS, moved[CLASSES].dtype))
    if MASKS in moved:
        masks = _warp(tf.transpose(moved[MASKS], [0, 2, 3, 1]), index_transforms, output_size, "nearest")
        masks = tf.transpose(masks, [0, 3, 1, 2])
        moved[MASKS] = masks if keep is None else masks * tf.cast(keep, masks.dtype)[..., None, None]
    if KEYPOINTS in moved:
        keypoints = tf.cast(moved[KEYPOINTS], tf.float32)
        xy = _move_points(inverse, keypoints[..., :2])
        inside = tf.reduce_all((xy >= 0.0) & (xy <= tf.constant([out_w, out_h], tf.float32)), axis=-1)
        labelled = tf.reduce_any(keypoints != 0.0, axis=-1)   # (0, 0, 0) marks an absent point or padding
        kept = labelled & inside
        if keep is not None:
            kept &= keep[..., None]
        moved[KEYPOINTS] = tf.where(kept[..., None], tf.concat([xy, keypoints[..., 2:]], axis=-1), 0.0)

    if not batched:
        moved = {key: value[0] for key, value in moved.items()}
    return {**features, **moved}


class GeometricTransform:
    """A transform given by one affine matrix per example; subclasses say which (`matrices`) and the output size.

    Calling it on a features dict moves every geometric feature (`apply_affine`).

    Args:
        min_area: boxes whose clipped area is below this (px²) are dropped.
        min_visibility: boxes whose clipped area is below this fraction of their unclipped
            transformed area are dropped (0: any visible part keeps a box).
    """

    interpolation = "bilinear"
    fill_mode = "constant"

    def __init__(self, min_area: float = 1.0, min_visibility: float = 0.0):
        self.min_area = min_area
        self.min_visibility = min_visibility

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the output for an input of `height` × `width` (by default, the same)."""
        return height, width

    def matrices(self, batch, height: int, width: int):
        """[batch, 3, 3] matrices mapping output pixel coordinates to input ones for `height` × `width` inputs."""
        raise NotImplementedError

    def __call__(self, features: dict) -> dict:
        images = features[IMAGES]
        height, width = images.shape[-3], images.shape[-2]
        batched = len(images.shape) == 4
        matrices = self.matrices(tf.shape(images)[0] if batched else 1, height, width)
        return apply_affine(features, matrices if batched else matrices[0], self.output_size(height, width),
                            self.interpolation, self.fill_mode, self.min_area, self.min_visibility)


class Resize(GeometricTransform):
    """Resize to `size` = (height, width), stretching (no aspect-ratio preservation).

    Samples as `tf.image.resize` does (half-pixel centres, the edge pixel beyond the border, no
    antialiasing).

    Args:
        size: (height, width) of the output.
        interpolation: "bilinear" or "nearest" for the images (masks always use nearest).
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        Resize((64, 64))({"images": image, "boxes": boxes})   # boxes scaled by 64 / W and 64 / H
    """

    def __init__(self, size: tuple[int, int], interpolation: Literal["bilinear", "nearest"] = "bilinear",
                 min_area: float = 1.0, min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.size = tuple(size)
        self.interpolation = interpolation
        self.fill_mode = "nearest"

    def output_size(self, height, width):
        return self.size

    def matrices(self, batch, height, width):
        return _affine(batch, a=width / self.size[1], e=height / self.size[0])


class Pad(GeometricTransform):
    """Zero-pad `padding` pixels on every side (the output is 2·padding larger in each dimension).

    Args:
        padding: pixels added on each side.
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        Pad(4)({"images": image, "boxes": boxes})   # 40 × 40 from 32 × 32, boxes shifted by 4
    """

    def __init__(self, padding: int, min_area: float = 1.0, min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.padding = padding

    def output_size(self, height, width):
        return height + 2 * self.padding, width + 2 * self.padding

    def matrices(self, batch, height, width):
        return _affine(batch, c=-self.padding, f=-self.padding)


class Crop(GeometricTransform):
    """Cut the window of `size` = (height, width) whose top-left pixel is `offset` = (row, column).

    Parts of the window outside the input are zero.

    Args:
        offset: (row, column) of the window's top-left pixel in the input.
        size: (height, width) of the window.
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        Crop((0, 16), (32, 16))({"images": image, "boxes": boxes})   # the right half of a 32 × 32 image
    """

    def __init__(self, offset: tuple[int, int], size: tuple[int, int], min_area: float = 1.0, min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.offset = tuple(offset)
        self.size = tuple(size)

    def output_size(self, height, width):
        return self.size

    def matrices(self, batch, height, width):
        return _affine(batch, c=self.offset[1], f=self.offset[0])


class CenterCrop(GeometricTransform):
    """Cut the central window of `size` = (height, width), offset ((H − height) // 2, (W − width) // 2) as Keras's
    `CenterCrop`; a window larger than the input pads it with zeros instead.

    Args:
        size: (height, width) of the window.
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        CenterCrop((24, 24))({"images": image, "boxes": boxes})
    """

    def __init__(self, size: tuple[int, int], min_area: float = 1.0, min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.size = tuple(size)

    def output_size(self, height, width):
        return self.size

    def matrices(self, batch, height, width):
        return _affine(batch, c=(width - self.size[1]) // 2, f=(height - self.size[0]) // 2)


class RandomFlip(GeometricTransform):
    """Mirror each example with probability ½ along each axis that `mode` names.

    A horizontal flip maps x to W − x, so a box (x0, y0, x1, y1) becomes (W − x1, y0, W − x0, y1).
    Keypoint identities do not swap (a "left eye" stays the left-eye row); swap them
    afterwards where a skeleton has left/right names.

    Args:
        seed: seeds the example-by-example draws.
        mode: "horizontal" (mirror left–right), "vertical" (top–bottom) or
            "horizontal_and_vertical" (each drawn independently).
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        RandomFlip(seed=0)({"images": images, "boxes": boxes, "keypoints": keypoints})
    """

    def __init__(self, seed: int, mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal",
                 min_area: float = 1.0, min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.mode = mode
        self.generator = tf.random.Generator.from_seed(seed)

    def matrices(self, batch, height, width):
        flips = self.generator.uniform([batch, 2]) < 0.5
        horizontal = flips[:, 0] & (self.mode != "vertical")
        vertical = flips[:, 1] & (self.mode != "horizontal")
        return _affine(batch, a=tf.where(horizontal, -1.0, 1.0), c=tf.where(horizontal, float(width), 0.0),
                       e=tf.where(vertical, -1.0, 1.0), f=tf.where(vertical, float(height), 0.0))


class RandomTranslation(GeometricTransform):
    """Shift each example by a random (dx, dy), each uniform in ±fraction of the width and height; zero fill.

    Shifts are fractional pixels (the image is resampled bilinearly).

    Args:
        seed: seeds the example-by-example draws.
        fraction: the largest shift, as a fraction of the width (for dx) and height (for dy).
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        RandomTranslation(seed=0, fraction=0.1)({"images": images, "boxes": boxes})
    """

    def __init__(self, seed: int, fraction: float = 0.1, min_area: float = 1.0, min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.fraction = fraction
        self.generator = tf.random.Generator.from_seed(seed)

    def matrices(self, batch, height, width):
        shift = self.generator.uniform([batch, 2], -self.fraction, self.fraction) * tf.constant([width, height], tf.float32)
        return _affine(batch, c=-shift[:, 0], f=-shift[:, 1])


class RandomRotation(GeometricTransform):
    """Rotate each example about the image centre by a random angle; zero fill.

    Positive angles turn the content counter-clockwise as displayed (y pointing down), as
    Keras's `RandomRotation` does. Boxes become the enclosing box of their rotated corners.

    Args:
        seed: seeds the example-by-example draws.
        degrees: the angle range in degrees: a number d draws from [−d, d], a pair (low, high)
            from [low, high] ((90, 90) always turns by a quarter).
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        RandomRotation(seed=0, degrees=15)({"images": images, "boxes": boxes, "masks": masks})
    """

    def __init__(self, seed: int, degrees: float | tuple[float, float] = 10.0, min_area: float = 1.0,
                 min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.degrees = tuple(degrees) if isinstance(degrees, (tuple, list)) else (-degrees, degrees)
        self.generator = tf.random.Generator.from_seed(seed)

    def matrices(self, batch, height, width):
        low, high = self.degrees
        angle = self.generator.uniform([batch], low, high)
        cos, sin = tf.cos(angle * (math.pi / 180)), tf.sin(angle * (math.pi / 180))
        cx, cy = width / 2, height / 2
        # Output → input turns by −angle on screen, i.e. [[cos, −sin], [sin, cos]] with y pointing down, about (cx, cy).
        return _affine(batch, a=cos, b=-sin, c=cx - cos * cx + sin * cy, d=sin, e=cos, f=cy - sin * cx - cos * cy)


class RandomScale(GeometricTransform):
    """Zoom each example about the image centre by a random factor in [min_scale, max_scale]; the size is kept.

    A factor above 1 enlarges the content (its border leaves the image), below 1 shrinks it
    (zero fill around it).

    Args:
        seed: seeds the example-by-example draws.
        min_scale: the smallest factor.
        max_scale: the largest factor.
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        RandomScale(seed=0, min_scale=0.8, max_scale=1.25)({"images": images, "boxes": boxes})
    """

    def __init__(self, seed: int, min_scale: float = 0.8, max_scale: float = 1.25, min_area: float = 1.0,
                 min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.min_scale, self.max_scale = min_scale, max_scale
        self.generator = tf.random.Generator.from_seed(seed)

    def matrices(self, batch, height, width):
        inverse = 1.0 / self.generator.uniform([batch], self.min_scale, self.max_scale)
        cx, cy = width / 2, height / 2
        return _affine(batch, a=inverse, c=cx * (1.0 - inverse), e=inverse, f=cy * (1.0 - inverse))


class RandomCrop(GeometricTransform):
    """Zero-pad by `padding`, then cut a window of `size` at a random whole-pixel offset (the CIFAR crop).

    Args:
        seed: seeds the example-by-example draws.
        padding: pixels of zeros added on each side before cropping.
        size: (height, width) of the window; None keeps the input size. It must fit in the
            padded input.
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        RandomCrop(seed=0, padding=4)({"images": images, "boxes": boxes})   # 32 × 32 → 32 × 32, shifted ≤ 4 px
    """

    def __init__(self, seed: int, padding: int = 4, size: Optional[tuple[int, int]] = None, min_area: float = 1.0,
                 min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.padding = padding
        self.size = None if size is None else tuple(size)
        self.generator = tf.random.Generator.from_seed(seed)

    def output_size(self, height, width):
        return self.size or (height, width)

    def matrices(self, batch, height, width):
        out_h, out_w = self.output_size(height, width)
        span_h, span_w = height + 2 * self.padding - out_h, width + 2 * self.padding - out_w
        if min(span_h, span_w) < 0:
            raise ValueError(f"RandomCrop: size {(out_h, out_w)} exceeds the padded input "
                             f"{(height + 2 * self.padding, width + 2 * self.padding)}")
        top = self.generator.uniform([batch], 0, span_h + 1, dtype=tf.int32)
        left = self.generator.uniform([batch], 0, span_w + 1, dtype=tf.int32)
        return _affine(batch, c=left - self.padding, f=top - self.padding)


class RandomResizedCrop(GeometricTransform):
    """Inception-style crop: a random area fraction and aspect ratio, resized to `size` (Szegedy et al., 2015).

    For each example, up to `attempts` candidates are drawn as torchvision's `RandomResizedCrop`
    draws them: an area s·H·W with s uniform in `scale`, an aspect ratio r = w / h log-uniform in
    `ratio`, so w = √(s·H·W·r) and h = √(s·H·W / r); the first candidate that fits in the image
    is placed at a uniformly random position and resized (bilinear) to `size`. When none fits,
    the whole image is used, cut to the nearest ratio in `ratio` about its centre. Crop sides
    and offsets are fractional pixels (one affine map, no rounding), so every crop's area
    fraction and ratio lie exactly in their ranges. Images read the edge pixel beyond the
    border (as `Resize`), which only the half-pixel rim of a crop at the border can reach.

    Written here, not taken from a library: Keras 3.15 has no random resized crop, and
    keras-cv 0.9's `RandomCropAndResize` clips a candidate that does not fit to the image
    instead of redrawing it (so its area and ratio leave their ranges) and moves no keypoints.

    Args:
        seed: seeds the example-by-example draws.
        size: (height, width) of the output; None keeps the input size.
        scale: the range of the crop's area as a fraction of the image's (the paper: 0.08–1).
        ratio: the range of the crop's width / height (the paper: 3/4–4/3).
        attempts: candidates drawn per example before falling back to the centre.
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        RandomResizedCrop(seed=0, size=(32, 32))({"images": images, "boxes": boxes})
    """

    fill_mode = "nearest"

    def __init__(self, seed: int, size: Optional[tuple[int, int]] = None, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), attempts: int = 10, min_area: float = 1.0,
                 min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.size = None if size is None else tuple(size)
        self.scale, self.ratio, self.attempts = tuple(scale), tuple(ratio), attempts
        self.generator = tf.random.Generator.from_seed(seed)

    def output_size(self, height, width):
        return self.size or (height, width)

    def matrices(self, batch, height, width):
        out_h, out_w = self.output_size(height, width)
        area = self.generator.uniform([batch, self.attempts], *self.scale) * float(height * width)
        ratio = tf.exp(self.generator.uniform([batch, self.attempts], math.log(self.ratio[0]), math.log(self.ratio[1])))
        crop_w, crop_h = tf.sqrt(area * ratio), tf.sqrt(area / ratio)
        fits = (crop_w <= width) & (crop_h <= height)
        first = tf.argmax(tf.cast(fits, tf.int32), axis=1)      # the first candidate that fits (0 if none does)
        crop_w, crop_h = tf.gather(crop_w, first, batch_dims=1), tf.gather(crop_h, first, batch_dims=1)
        # No candidate fits: the whole image, cut to the nearest allowed ratio.
        whole = width / height
        fallback_w = float(height * self.ratio[1] if whole > self.ratio[1] else width)
        fallback_h = float(width / self.ratio[0] if whole < self.ratio[0] else height)
        any_fits = tf.reduce_any(fits, axis=1)
        crop_w, crop_h = tf.where(any_fits, crop_w, fallback_w), tf.where(any_fits, crop_h, fallback_h)
        position = self.generator.uniform([batch, 2])
        left = tf.where(any_fits, position[:, 0], 0.5) * (width - crop_w)
        top = tf.where(any_fits, position[:, 1], 0.5) * (height - crop_h)
        return _affine(batch, a=crop_w / out_w, c=left, e=crop_h / out_h, f=top)


class RandomShear(GeometricTransform):
    """Shear each example by random factors (s_x, s_y), as Keras's `RandomShear` does; zero fill.

    Keras's map, output → input in index coordinates (pixel (i, j) at (j, i)), is
    x_in = x + s_x·y, y_in = s_y·x + y: the top row and left column stay (up to the other
    factor), and the bottom row moves s_x·(H − 1) pixels sideways. s_x is uniform in
    [−x_factor, x_factor] and s_y in [−y_factor, y_factor] (Keras multiplies both by one random
    sign, which leaves that distribution unchanged). Boxes become the enclosing box of their
    sheared corners.

    Args:
        seed: seeds the example-by-example draws.
        x_factor: the largest horizontal shear (pixels moved per row), in [0, 1].
        y_factor: the largest vertical shear (pixels moved per column), in [0, 1].
        min_area, min_visibility: see `GeometricTransform`.

    Example::

        RandomShear(seed=0, x_factor=0.2)({"images": images, "boxes": boxes, "keypoints": keypoints})
    """

    def __init__(self, seed: int, x_factor: float = 0.2, y_factor: float = 0.0, min_area: float = 1.0,
                 min_visibility: float = 0.0):
        super().__init__(min_area, min_visibility)
        self.x_factor, self.y_factor = x_factor, y_factor
        self.generator = tf.random.Generator.from_seed(seed)

    def matrices(self, batch, height, width):
        shear = self.generator.uniform([batch, 2], -1.0, 1.0) * tf.constant([self.x_factor, self.y_factor])
        sx, sy = shear[:, 0], shear[:, 1]
        # Keras's index-space map in the contract's coordinates (index = contract − ½).
        return _affine(batch, b=sx, c=-0.5 * sx, d=sy, f=-0.5 * sy)


class Compose:
    """Apply `transforms` one after the other (each sees the previous one's output).

    Args:
        transforms: callables on a features dict, in order.

    Example::

        Compose([Resize((64, 64)), RandomFlip(seed=0), RandomCrop(seed=1, padding=8)])(features)
    """

    def __init__(self, transforms: Sequence):
        self.transforms = list(transforms)

    def __call__(self, features: dict) -> dict:
        for transform in self.transforms:
            features = transform(features)
        return features


class Fused(GeometricTransform):
    """Several transforms as ONE affine map per example: one warp of the images and masks instead of one each.

    The output → input matrices multiply (first transform's on the left), so the result equals the
    chain except where a chain would lose something in between: content pushed out of the image by
    one transform and back by the next reappears, and boxes are enclosed once, not once per step
    (a chain of rotations loosens them each time). Each transform still draws its own random
    parameters. Sizes chain too (a resize followed by a crop).

    Args:
        transforms: `GeometricTransform`s, in order; the strictest `min_area` and `min_visibility` apply.

    Example::

        Fused([RandomFlip(seed=0), RandomRotation(seed=1), RandomScale(seed=2)])(features)   # one warp
    """

    def __init__(self, transforms: Sequence[GeometricTransform]):
        super().__init__(max(t.min_area for t in transforms), max(t.min_visibility for t in transforms))
        self.transforms = list(transforms)
        self.interpolation = "nearest" if all(t.interpolation == "nearest" for t in transforms) else "bilinear"
        self.fill_mode = "nearest" if all(t.fill_mode == "nearest" for t in transforms) else "constant"

    def output_size(self, height, width):
        for transform in self.transforms:
            height, width = transform.output_size(height, width)
        return height, width

    def matrices(self, batch, height, width):
        total = None
        for transform in self.transforms:
            step = transform.matrices(batch, height, width)
            total = step if total is None else tf.matmul(total, step)
            height, width = transform.output_size(height, width)
        return total


__all__ = ["apply_affine", "Fused", "GeometricTransform", "Resize", "Pad", "Crop", "CenterCrop", "RandomFlip",
           "RandomTranslation", "RandomRotation", "RandomScale", "RandomCrop", "RandomResizedCrop", "RandomShear", "Compose"]
