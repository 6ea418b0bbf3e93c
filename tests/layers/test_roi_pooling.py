"""RoI pooling and RoI Align against loop transcriptions of torchvision's roi_pool and roi_align."""

from __future__ import annotations

import numpy as np
import pytest

from kerascv_suite.layers.roi_pooling import roi_align, roi_pool


def bilinear(feature, y, x):
    """torchvision's bilinear_interpolate: 0 beyond one pixel outside, the edge within it."""
    height, width = feature.shape[:2]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return np.zeros(feature.shape[-1])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * feature[y_low, x_low] + hy * lx * feature[y_low, x_high]
            + ly * hx * feature[y_high, x_low] + ly * lx * feature[y_high, x_high])


def reference_roi_align(features, boxes, images, out, scale, ratio, aligned):
    result = np.zeros((len(boxes), out, out, features.shape[-1]))
    offset = 0.5 if aligned else 0.0
    for r, ((x0, y0, x1, y1), image) in enumerate(zip(boxes, images)):
        x0, y0, x1, y1 = x0 * scale - offset, y0 * scale - offset, x1 * scale - offset, y1 * scale - offset
        width, height = x1 - x0, y1 - y0
        if not aligned:
            width, height = max(width, 1.0), max(height, 1.0)
        bin_h, bin_w = height / out, width / out
        for i in range(out):
            for j in range(out):
                total = 0.0
                for iy in range(ratio):
                    y = y0 + i * bin_h + (iy + 0.5) * bin_h / ratio
                    for ix in range(ratio):
                        x = x0 + j * bin_w + (ix + 0.5) * bin_w / ratio
                        total = total + bilinear(features[image], y, x)
                result[r, i, j] = total / (ratio * ratio)
    return result


@pytest.mark.parametrize("aligned, ratio, scale", [(True, 2, 0.25), (False, 2, 0.25), (True, 1, 0.5), (False, 3, 1.0)])
def test_roi_align_equals_torchvisions_definition(aligned, ratio, scale):
    rng = np.random.default_rng(ratio)
    features = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    size = np.array([11, 9]) / scale                                   # the image the map came from, (x, y)
    corner = rng.uniform(-0.2, 0.9, (12, 2)) * size
    boxes = np.concatenate([corner, corner + rng.uniform(0.02, 0.6, (12, 2)) * size], -1).astype(np.float32)
    boxes[0] = [0, 0, size[0], size[1]]                                # the whole image
    boxes[1] = [3, 3, 3.5, 3.2]                                        # smaller than a feature pixel
    images = rng.integers(0, 2, 12)
    ours = roi_align(features, boxes, images, 4, spatial_scale=scale, sampling_ratio=ratio, aligned=aligned).numpy()
    np.testing.assert_allclose(ours, reference_roi_align(features, boxes, images, 4, scale, ratio, aligned), atol=2e-5)


def test_roi_align_of_a_constant_map_is_constant_inside_and_fades_outside():
    features = np.ones((1, 8, 8, 1), np.float32)
    inside = roi_align(features, [[1, 1, 6, 6]], [0], 2).numpy()
    far_out = roi_align(features, [[20, 20, 30, 30]], [0], 2).numpy()
    np.testing.assert_allclose(inside, 1.0, rtol=1e-6)
    np.testing.assert_array_equal(far_out, 0.0)
    with pytest.raises(ValueError, match="sampling_ratio must be at least 1"):
        roi_align(features, [[1, 1, 6, 6]], [0], 2, sampling_ratio=0)


def reference_roi_pool(features, boxes, images, out, scale):
    """torchvision's roi_pool CPU kernel, with its loops (C's round: halves away from zero)."""
    def c_round(v):
        return int(np.sign(v) * np.floor(abs(v) + 0.5))

    height, width = features.shape[1:3]
    result = np.zeros((len(boxes), out, out, features.shape[-1]))
    for r, ((x0, y0, x1, y1), image) in enumerate(zip(boxes, images)):
        start_w, start_h, end_w, end_h = (c_round(v * scale) for v in (x0, y0, x1, y1))
        bin_h, bin_w = max(end_h - start_h + 1, 1) / out, max(end_w - start_w + 1, 1) / out
        for ph in range(out):
            for pw in range(out):
                hs = min(max(int(np.floor(ph * bin_h)) + start_h, 0), height)
                he = min(max(int(np.ceil((ph + 1) * bin_h)) + start_h, 0), height)
                ws = min(max(int(np.floor(pw * bin_w)) + start_w, 0), width)
                we = min(max(int(np.ceil((pw + 1) * bin_w)) + start_w, 0), width)
                if he > hs and we > ws:
                    result[r, ph, pw] = features[image, hs:he, ws:we].max(axis=(0, 1))
    return result


@pytest.mark.parametrize("scale, out", [(0.25, 3), (1.0, 4), (0.5, 2)])
def test_roi_pool_equals_torchvisions_definition(scale, out):
    rng = np.random.default_rng(int(scale * 8) + out)
    features = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    size = np.array([11, 9]) / scale
    corner = rng.uniform(-0.3, 0.9, (14, 2)) * size
    boxes = np.concatenate([corner, corner + rng.uniform(0.02, 0.7, (14, 2)) * size], -1).astype(np.float32)
    boxes[0] = [2 / scale, 2 / scale, 2.5 / scale, 2.5 / scale]       # on a half: C's round goes up
    boxes[1] = [-30 / scale, -30 / scale, -20 / scale, -20 / scale]   # wholly outside: zeros
    images = rng.integers(0, 2, 14)
    ours = roi_pool(features, boxes, images, out, spatial_scale=scale).numpy()
    np.testing.assert_array_equal(ours, reference_roi_pool(features, boxes, images, out, scale))
    assert np.all(ours[1] == 0)
