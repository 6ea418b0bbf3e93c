"""Fixed-size features of regions of a feature map: RoI pooling (Fast R-CNN) and RoI Align (Mask R-CNN).

`roi_pool` (Girshick, 2015) rounds each region to whole feature pixels, cuts it into
`output_size` bins of whole pixels (floor of the start, ceiling of the end) and takes each bin's
maximum — torchvision's `ops.roi_pool` definition; the rounding misaligns the features with the
region by up to half a stride, which RoI Align removes. It is computed bin by bin as a masked
maximum over the region's image, so its memory is R·H·W·C per bin: meant for the small maps of
this library's detectors (tf.image has no RoI pooling, keras-cv 0.9's does not run under Keras 3).

RoI Align (He et al., 2017): a fixed-size feature grid per region, sampled bilinearly with no rounding.

Each region of interest (x0, y0, x1, y1) in image pixels is mapped onto the feature map by
`spatial_scale` (1/stride), divided into `output_size` bins, and each bin is the mean of
`sampling_ratio`² bilinear samples at the centres of its sub-bins — torchvision's
`ops.roi_align` definition, with `aligned=True` shifting by half a pixel so that a box's
continuous coordinates land on pixel centres (aligned=False is Mask R-CNN's original, which also
widens regions to at least one feature pixel). A sample more than one pixel outside the map is 0;
one within a pixel of the edge reads the edge.

Built on `tf.image.crop_and_resize` (bilinear sampling at given points, a TF and TFLite kernel),
which samples a crop's corners exactly: the crop is set to run from the first sub-bin centre to
the last, the map is padded by one edge-replicated pixel so torchvision's clamping at the border
is reproduced, and the samples are averaged per bin. Why not keras-cv: keras-cv 0.9 has no
RoI Align that runs under Keras 3, and keras-hub has none.

Example::

    features = roi_align(feature_map, boxes, box_images, output_size=7, spatial_scale=1 / 16, sampling_ratio=2)
    # feature_map [B, H, W, C]; boxes [R, 4] pixels; box_images [R] which image → [R, 7, 7, C]
    pooled = roi_pool(feature_map, boxes, box_images, output_size=7, spatial_scale=1 / 16)
"""

from __future__ import annotations

import tensorflow as tf


def roi_align(feature_map, boxes, box_images, output_size: int | tuple[int, int], spatial_scale: float = 1.0,
              sampling_ratio: int = 2, aligned: bool = True) -> tf.Tensor:
    """Features [R, out_h, out_w, C] of regions `boxes` [R, 4] (x0, y0, x1, y1, image pixels) of images `box_images` [R].

    Args:
        feature_map: [B, H, W, C].
        output_size: bins per side (int) or (rows, columns).
        spatial_scale: feature pixels per image pixel (1/stride of the map).
        sampling_ratio: samples per bin per side (≥ 1; torchvision's adaptive ≤ 0 is not static-shaped).
        aligned: subtract half a pixel (the corrected RoI Align); False: the original, regions ≥ 1 pixel.
    """
    if sampling_ratio < 1:
        raise ValueError(f"sampling_ratio must be at least 1 (a fixed number of samples per bin), got {sampling_ratio}")
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    feature_map = tf.convert_to_tensor(feature_map)
    boxes = tf.cast(boxes, tf.float32) * spatial_scale - (0.5 if aligned else 0.0)
    x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
    width, height = x1 - x0, y1 - y0
    if not aligned:
        width, height = tf.maximum(width, 1.0), tf.maximum(height, 1.0)
    rows, columns = out_h * sampling_ratio, out_w * sampling_ratio
    padded = tf.pad(feature_map, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")    # one edge pixel each side
    size_h, size_w = tf.cast(tf.shape(padded)[1] - 1, tf.float32), tf.cast(tf.shape(padded)[2] - 1, tf.float32)
    # first and last sub-bin centres, shifted by the padding, as crop_and_resize's normalised corners
    first_y, last_y = y0 + 0.5 * height / rows + 1.0, y0 + (rows - 0.5) * height / rows + 1.0
    first_x, last_x = x0 + 0.5 * width / columns + 1.0, x0 + (columns - 0.5) * width / columns + 1.0
    crop_boxes = tf.stack([first_y / size_h, first_x / size_w, last_y / size_h, last_x / size_w], axis=-1)
    samples = tf.image.crop_and_resize(tf.cast(padded, tf.float32), crop_boxes, tf.cast(box_images, tf.int32),
                                       [rows, columns], method="bilinear", extrapolation_value=0.0)
    channels = samples.shape[-1]
    bins = tf.reshape(samples, [-1, out_h, sampling_ratio, out_w, sampling_ratio, channels])
    return tf.cast(tf.reduce_mean(bins, axis=[2, 4]), feature_map.dtype)


def _round_half_away(x):
    """C's round(): halves away from zero (tf.round rounds halves to even)."""
    return tf.sign(x) * tf.floor(tf.abs(x) + 0.5)


def roi_pool(feature_map, boxes, box_images, output_size: int | tuple[int, int], spatial_scale: float = 1.0) -> tf.Tensor:
    """Max-pooled features [R, out_h, out_w, C] of regions `boxes` [R, 4] (x0, y0, x1, y1, image pixels) of images `box_images` [R].

    A bin with no pixel inside the map is 0 (torchvision's rule).
    """
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    feature_map = tf.convert_to_tensor(feature_map)
    height, width = tf.shape(feature_map)[1], tf.shape(feature_map)[2]
    corners = tf.cast(_round_half_away(tf.cast(boxes, tf.float32) * spatial_scale), tf.int32)
    x0, y0, x1, y1 = tf.unstack(corners, axis=-1)
    bin_h = tf.cast(tf.maximum(y1 - y0 + 1, 1), tf.float32) / out_h
    bin_w = tf.cast(tf.maximum(x1 - x0 + 1, 1), tf.float32) / out_w
    regions = tf.gather(feature_map, tf.cast(box_images, tf.int32))                     # [R, H, W, C]
    rows, columns = tf.range(height)[None, :], tf.range(width)[None, :]

    def span(start, bin_size, index, size):
        low = tf.clip_by_value(tf.cast(tf.floor(index * bin_size), tf.int32) + start, 0, size)
        high = tf.clip_by_value(tf.cast(tf.math.ceil((index + 1) * bin_size), tf.int32) + start, 0, size)
        return low[:, None], high[:, None]

    lowest = tf.constant(float("-inf"), regions.dtype)
    pooled = []
    for i in range(out_h):
        low, high = span(y0, bin_h, i, height)
        in_rows = (rows >= low) & (rows < high)                                           # [R, H]
        row_max = tf.reduce_max(tf.where(in_rows[:, :, None, None], regions, lowest), axis=1)   # [R, W, C]
        for j in range(out_w):
            left, right = span(x0, bin_w, j, width)
            in_columns = (columns >= left) & (columns < right)                            # [R, W]
            value = tf.reduce_max(tf.where(in_columns[:, :, None], row_max, lowest), axis=1)     # [R, C]
            pooled.append(tf.where(tf.math.is_inf(value) & (value < 0), tf.zeros_like(value), value))
    return tf.reshape(tf.stack(pooled, axis=1), [-1, out_h, out_w, feature_map.shape[-1]])


__all__ = ["roi_align", "roi_pool"]
