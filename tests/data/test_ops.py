"""The augmentations (cutout, randaugment, mixup, cutmix; random resized crops, shears, colour jitter, PCA colour
noise), checked on images built so that what each op did can be read back from the pixels."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data.ops import (binarize, colour_jitter, cutmix, cutout, mixup, pca_colour, randaugment,
                                    random_resized_crop, random_shear)
from kerascv_suite.spec.errors import DataError

B = 8
LEVELS = 10.0 * np.arange(1, B + 1, dtype=np.float32)  # example i is the constant image LEVELS[i] ...


def constant_batch(size=16, channels=3):
    """... and belongs to class i, so a mixed label row says which examples (and how much of each) an image holds."""
    images = np.broadcast_to(LEVELS[:, None, None, None], (B, size, size, channels)).copy()
    return tf.constant(images), tf.one_hot(np.arange(B), B)


def check_label_rows(labels):
    assert labels.shape == (B, B) and labels.dtype == np.float32
    assert labels.min() >= 0
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert ((labels > 1e-6).sum(axis=1) <= 2).all()  # each image mixes itself with at most one other


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixup_images_are_the_label_weighted_blend(seed):
    images, labels = constant_batch()
    mixed_images, mixed_labels = mixup(seed=seed, alpha=0.5)(images, labels)
    mixed_images, mixed_labels = mixed_images.numpy(), mixed_labels.numpy()
    assert mixed_images.shape == images.shape and mixed_images.dtype == np.float32
    check_label_rows(mixed_labels)
    # x̃_i = λ_i·x_i + (1 − λ_i)·x_j, and row i of the labels is λ_i at class i and 1 − λ_i at class j
    np.testing.assert_allclose(mixed_images, np.broadcast_to((mixed_labels @ LEVELS)[:, None, None, None], images.shape), rtol=1e-5)
    lam = np.diag(mixed_labels)
    assert ((lam > 0.01) & (lam < 0.99)).any()  # some images really are blends


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cutmix_pastes_one_rectangle_from_one_other_image(seed):
    images, labels = constant_batch()
    mixed_images, mixed_labels = cutmix(seed=seed)(images, labels)
    mixed_images, mixed_labels = mixed_images.numpy(), mixed_labels.numpy()
    assert mixed_images.shape == images.shape
    check_label_rows(mixed_labels)
    for image, own in zip(mixed_images, LEVELS):
        assert np.all(image == image[..., :1])  # the box covers every channel
        values = set(np.unique(image)) - {own}
        assert values <= set(LEVELS) and len(values) <= 1  # pixels are copied from one other image, never blended
        pasted = image[..., 0] != own
        rows, cols = np.flatnonzero(pasted.any(axis=1)), np.flatnonzero(pasted.any(axis=0))
        assert pasted.sum() == len(rows) * len(cols)  # a filled axis-aligned rectangle (or nothing)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cutmix_label_weights_are_the_pasted_area_fractions(seed):
    images, labels = constant_batch()
    mixed_images, mixed_labels = cutmix(seed=seed)(images, labels)
    mixed_images, mixed_labels = mixed_images.numpy(), mixed_labels.numpy()
    area = np.stack([(mixed_images[..., 0] == level).mean(axis=(1, 2)) for level in LEVELS], axis=1)  # [image, class]
    np.testing.assert_allclose(mixed_labels, area, atol=1e-6, err_msg="label weights differ from the pixel shares")


SIZE, SIDE = 0.25, 8  # a 32×32 image: the cutout square's side is 0.25·32 = 8


def blanked(images, fill):
    masks = images == fill
    assert np.all(masks == masks[..., :1])  # every channel of a blanked pixel
    return masks[..., 0]


def test_cutout_blanks_one_rectangle_with_the_fill_value():
    images = tf.ones((16, 32, 32, 3))
    got = cutout(seed=3, size=SIZE, fill_value=-1.0)(images).numpy()
    assert got.shape == (16, 32, 32, 3) and got.dtype == np.float32
    assert set(np.unique(got)) <= {1.0, -1.0}
    for mask in blanked(got, -1.0):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert mask.sum() == len(rows) * len(cols)  # one filled, axis-aligned rectangle
        assert mask.sum() <= SIDE * SIDE  # at most size² of the image


@pytest.mark.parametrize("seed", [3, 4])
def test_cutout_squares_have_side_size_times_the_image_side(seed):
    got = cutout(seed=seed, size=SIZE, fill_value=-1.0)(tf.ones((16, 32, 32, 3))).numpy()
    for index, mask in enumerate(blanked(got, -1.0)):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert len(rows) and len(cols), f"image {index}: nothing blanked"
        # a side shorter than 8 pixels is only allowed where the square is clipped by the border
        for kept, limit in ((rows, 31), (cols, 31)):
            clipped = kept[0] == 0 or kept[-1] == limit
            assert len(kept) == SIDE or (clipped and len(kept) < SIDE), (
                f"image {index}: blanked {len(rows)}×{len(cols)} at rows {rows[0]}–{rows[-1]}, cols {cols[0]}–{cols[-1]}; "
                f"expected a {SIDE}×{SIDE} square (smaller only at the border)")


@pytest.mark.parametrize("channels", [1, 3])
def test_randaugment_keeps_shape_dtype_and_range_and_changes_images(channels):
    keras.utils.set_random_seed(0)  # keras-cv's ops also draw op-level seeds that depend on how many ops ran before
    rng = np.random.default_rng(0)
    # Not the full [0, 1]: auto-contrast and equalize leave an image that already spans it unchanged.
    images = tf.constant(rng.uniform(0.2, 0.8, (8, 16, 16, channels)).astype(np.float32))
    got = randaugment(seed=1, input_shape=(16, 16, channels), magnitude=0.5)(images)
    assert got.shape == images.shape and got.dtype == tf.float32
    got = got.numpy()
    assert got.min() >= -1e-6 and got.max() <= 1 + 1e-6  # the value_range [0, 1]
    changed = np.abs(got - images.numpy()).max(axis=(1, 2, 3)) > 0.05
    assert changed.sum() >= B // 2


def test_binarize_thresholds_pixels_to_zero_and_one():
    image = tf.constant([[[0.2], [0.5]], [[0.51], [1.0]]])
    np.testing.assert_array_equal(binarize()(image).numpy()[..., 0], [[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(binarize(threshold=0.1)(image).numpy()[..., 0], [[1.0, 1.0], [1.0, 1.0]])


# --- random resized crops and shears: images whose pixels hold their own coordinates ---------------------------


def coordinate_images(batch, height, width, seed=0):
    """Channel 0 is each pixel's column index, channel 1 its row index, channel 2 random texture: wherever a warp
    samples inside the image, channels 0 and 1 read back the (x, y) it sampled (bilinear is exact on a ramp)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = np.random.default_rng(seed).random((batch, height, width), np.float32)
    return np.stack([np.broadcast_to(cols, texture.shape), np.broadcast_to(rows, texture.shape), texture], axis=-1)


def sample_bilinear(image, x, y, fill="constant"):
    """NumPy reference: `image` [H, W, C] sampled bilinearly at index coordinates (x, y) [h, w]; outside the image
    zeros ("constant") or the nearest edge pixel ("nearest")."""
    height, width = image.shape[:2]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    out = np.zeros(x.shape + image.shape[2:], np.float64)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - np.abs(x - xi)) * (1 - np.abs(y - yi))
            inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            values = image[np.clip(yi, 0, height - 1), np.clip(xi, 0, width - 1)]
            if fill == "constant":
                values = values * inside[..., None]
            out += weight[..., None] * values
    return out


def fit_line(inputs, values, keep):
    """Least-squares slope and intercept of values ≈ slope·inputs + intercept over the pixels `keep` selects."""
    slope, intercept = np.polyfit(inputs[keep].ravel(), values[keep].ravel(), 1)
    return slope, intercept


H, W, OUT = 32, 40, (24, 28)


def read_crops(out):
    """(left, top, crop width, crop height) of each output, from the coordinate channels of its interior pixels."""
    rows, cols = np.mgrid[0:OUT[0], 0:OUT[1]].astype(np.float64)
    crops = []
    for image in out:
        # output pixel centre (c + ½) maps to input x = left + (c + ½)·w/out_w; the input column index there is x − ½
        inner_x = (image[..., 0] > 1e-3) & (image[..., 0] < W - 1 - 1e-3)
        inner_y = (image[..., 1] > 1e-3) & (image[..., 1] < H - 1 - 1e-3)
        sx, bx = fit_line(cols + 0.5, image[..., 0] + 0.5, inner_x)
        sy, by = fit_line(rows + 0.5, image[..., 1] + 0.5, inner_y)
        crops.append((bx, by, sx * OUT[1], sy * OUT[0]))
    return np.array(crops)


def resized_crop_reference(image, left, top, crop_w, crop_h):
    """The crop [left, left + w) × [top, top + h) resized to OUT with half-pixel centres, the edge pixel beyond the border."""
    rows, cols = np.mgrid[0:OUT[0], 0:OUT[1]].astype(np.float64)
    x = left + (cols + 0.5) * crop_w / OUT[1] - 0.5
    y = top + (rows + 0.5) * crop_h / OUT[0] - 0.5
    return sample_bilinear(image, x, y, fill="nearest")


@pytest.mark.parametrize("seed", [0, 1])
def test_random_resized_crop_is_a_crop_of_the_drawn_area_and_ratio_resized(seed):
    images = coordinate_images(32, H, W)
    scale, ratio = (0.25, 0.9), (0.5, 2.0)
    out = random_resized_crop(seed=seed, size=OUT, scale=scale, ratio=ratio)(tf.constant(images)).numpy()
    assert out.shape == (32, *OUT, 3) and out.dtype == np.float32
    crops = read_crops(out)
    for image, original, (left, top, crop_w, crop_h) in zip(out, images, crops):
        np.testing.assert_allclose(image, resized_crop_reference(original, left, top, crop_w, crop_h), atol=2e-3)
    left, top, crop_w, crop_h = crops.T
    assert (left >= -1e-3).all() and (top >= -1e-3).all()
    assert (left + crop_w <= W + 1e-3).all() and (top + crop_h <= H + 1e-3).all()   # inside the image
    area = crop_w * crop_h / (H * W)
    assert (area >= scale[0] - 1e-3).all() and (area <= scale[1] + 1e-3).all()
    assert (crop_w / crop_h >= ratio[0] - 1e-3).all() and (crop_w / crop_h <= ratio[1] + 1e-3).all()
    assert area.min() < 0.3 and area.max() > 0.8 and (crop_w / crop_h).min() < 0.6 and (crop_w / crop_h).max() > 1.7   # the draws span their ranges
    assert np.ptp(left) > 5 and np.ptp(top) > 5


def test_random_resized_crop_falls_back_to_the_centre_at_the_nearest_ratio():
    # An area of at least 0.95·32² at a ratio of at least 2.5 is at least 49 px wide: no candidate fits the 32 × 32
    # image, so every image is cut to ratio 2.5 about its centre: 32 × 12.8 px from row 9.6.
    images = coordinate_images(4, 32, 32)
    out = random_resized_crop(seed=0, size=OUT, scale=(0.95, 1.0), ratio=(2.5, 3.0))(tf.constant(images)).numpy()
    for image, original in zip(out, images):
        np.testing.assert_allclose(image, resized_crop_reference(original, 0.0, 9.6, 32.0, 12.8), atol=2e-3)


def test_random_resized_crop_refuses_a_reversed_range():
    with pytest.raises(DataError, match=r"random_resized_crop: scale must be \[low, high\]"):
        random_resized_crop(seed=0, scale=(0.9, 0.5))


def read_shear(image):
    """(s_x, s_y) of one sheared coordinate image: channel 0 = c + s_x·r, channel 1 = s_y·c + r where it sampled inside.

    Read on the central window (rows 8–23, columns 10–29), which shears of at most 0.3 and 0.2 never take outside."""
    rows, cols = np.mgrid[8:24, 10:30].astype(np.float64)
    window = image[8:24, 10:30].astype(np.float64)
    sx = np.sum(rows * (window[..., 0] - cols)) / np.sum(rows ** 2)
    sy = np.sum(cols * (window[..., 1] - rows)) / np.sum(cols ** 2)
    return sx, sy


@pytest.mark.parametrize("path", ["images", "features"])
def test_random_shear_is_keras_shear_map_with_zero_fill(path):
    """The Keras layer (plain pipelines) and geometry.RandomShear (structured ones) both compute
    out(r, c) = in(s_y·c + r, c + s_x·r), bilinear, zero outside, with |s_x| <= x_factor, |s_y| <= y_factor."""
    images = coordinate_images(16, H, W)
    op = random_shear(seed=3, x_factor=0.3, y_factor=0.2)
    out = (op(tf.constant(images)) if path == "images" else op.transform_features({"images": tf.constant(images)})["images"])
    out = out.numpy()
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float64)
    factors = np.array([read_shear(image) for image in out])
    for image, original, (sx, sy) in zip(out, images, factors):
        np.testing.assert_allclose(image, sample_bilinear(original, cols + sx * rows, sy * cols + rows), atol=2e-3)
    assert (np.abs(factors[:, 0]) <= 0.3 + 1e-4).all() and (np.abs(factors[:, 1]) <= 0.2 + 1e-4).all()
    # the draws span their ranges (halved ranges would not reach these)
    assert factors[:, 0].min() < -0.2 and factors[:, 0].max() > 0.2 and factors[:, 1].min() < -0.13 and factors[:, 1].max() > 0.13


# --- colour jitter: each component alone, read back from the pixels and checked against NumPy ------------------


def colour_images(low=0.25, high=0.75, batch=16, seed=0):
    return np.random.default_rng(seed).uniform(low, high, (batch, 8, 8, 3)).astype(np.float32)


def jitter(images, **factors):
    """colour_jitter with only the given components on."""
    keys = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}
    return colour_jitter(seed=5, input_shape=images.shape[1:], **{**keys, **factors})(tf.constant(images)).numpy()


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (0.0, 255.0)])
def test_colour_jitter_brightness_adds_one_offset_per_image_within_the_range(value_range):
    span = value_range[1] - value_range[0]
    images = colour_images(0.25 * span, 0.75 * span)
    out = jitter(images, brightness=0.2, value_range=value_range)
    delta = (out - images).reshape(len(images), -1)
    np.testing.assert_allclose(delta, delta[:, :1].repeat(delta.shape[1], axis=1), atol=1e-4 * span)
    assert (np.abs(delta[:, 0]) <= 0.2 * span + 1e-4 * span).all()
    assert delta[:, 0].min() < -0.15 * span and delta[:, 0].max() > 0.15 * span   # the draws span ±0.2 of the range
    # a bright image is clipped at the top of the range
    bright = jitter(np.full((16, 8, 8, 3), 0.95 * span, np.float32), brightness=0.2, value_range=value_range)
    expected = np.clip(0.95 * span + delta[:, 0], *value_range)
    np.testing.assert_allclose(bright, np.broadcast_to(expected[:, None, None, None], bright.shape), atol=1e-4 * span)


def test_colour_jitter_contrast_scales_deviations_from_each_channel_mean():
    images = colour_images()
    out = jitter(images, contrast=0.5)
    mean = images.mean(axis=(1, 2), keepdims=True)
    factors = np.sum((out - mean) * (images - mean), axis=(1, 2, 3)) / np.sum((images - mean) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(out, (images - mean) * factors[:, None, None, None] + mean, atol=1e-5)
    assert (factors >= 0.5 - 1e-5).all() and (factors <= 1.5 + 1e-5).all() and factors.min() < 0.6 and factors.max() > 1.4


def test_colour_jitter_saturation_scales_hsv_saturation_and_keeps_hue_and_value():
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    images = colour_images()
    out = jitter(images, saturation=0.5)
    before, after = rgb_to_hsv(images), rgb_to_hsv(np.clip(out, 0, 1))
    factors = np.median(after[..., 1] / before[..., 1], axis=(1, 2))
    expected = hsv_to_rgb(np.stack([before[..., 0], np.clip(before[..., 1] * factors[:, None, None], 0, 1), before[..., 2]], -1))
    np.testing.assert_allclose(out, expected, atol=1e-4)
    assert (factors >= 0.5 - 1e-4).all() and (factors <= 1.5 + 1e-4).all() and factors.min() < 0.6 and factors.max() > 1.4


def test_colour_jitter_hue_turns_the_hue_and_keeps_saturation_and_value():
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    images = colour_images()
    out = jitter(images, hue=0.1)
    before = rgb_to_hsv(images)
    turn = (rgb_to_hsv(out)[..., 0] - before[..., 0] + 0.5) % 1.0 - 0.5   # in [−½, ½) of the circle
    shifts = np.median(turn, axis=(1, 2))
    expected = hsv_to_rgb(np.stack([(before[..., 0] + shifts[:, None, None]) % 1.0, before[..., 1], before[..., 2]], -1))
    np.testing.assert_allclose(out, expected, atol=1e-4)
    assert (np.abs(shifts) <= 0.1 + 1e-5).all() and shifts.min() < -0.08 and shifts.max() > 0.08


def test_colour_jitter_refuses_saturation_and_hue_on_grayscale_but_takes_brightness():
    with pytest.raises(DataError, match="colour_jitter: saturation and hue need RGB images, got 1 channel"):
        colour_jitter(seed=0, input_shape=(8, 8, 1))
    out = jitter(colour_images()[..., :1], brightness=0.2, contrast=0.2)
    assert out.shape == (16, 8, 8, 1)


# --- PCA colour noise ------------------------------------------------------------------------------------------

U = np.array([1.0, 1.0, 1.0]) / np.sqrt(3)   # the training pixels vary along two orthonormal colour axes only
V = np.array([1.0, -1.0, 0.0]) / np.sqrt(2)


def plane_images(count=64, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 0.2, (count, 8, 8, 1)), rng.normal(0, 0.05, (count, 8, 8, 1))
    return (0.5 + a * U + b * V).astype(np.float32)


def adapted_pca(seed=0, **kwargs):
    op = pca_colour(seed=seed, input_shape=(8, 8, 3), **kwargs)
    op.adapt(tf.data.Dataset.from_tensor_slices(plane_images()).batch(16))
    return op


def test_pca_colour_adapt_fits_the_covariance_of_every_training_pixel():
    op = adapted_pca()
    pixels = plane_images().reshape(-1, 3).astype(np.float64)
    covariance = np.cov(pixels, rowvar=False, bias=True)
    P, eigenvalues = op.eigenvectors.astype(np.float64), op.eigenvalues.astype(np.float64)
    np.testing.assert_allclose(P @ np.diag(eigenvalues) @ P.T, covariance, atol=1e-6)
    np.testing.assert_allclose(P.T @ P, np.eye(3), atol=1e-6)
    assert eigenvalues[0] >= eigenvalues[1] >= eigenvalues[2] >= 0 and eigenvalues[2] < 1e-6
    np.testing.assert_allclose(eigenvalues[:2], [0.04, 0.0025], rtol=0.05)   # the variances along U and V
    assert abs(P[:, 0] @ U) > 0.999 and abs(P[:, 1] @ V) > 0.999


def test_pca_colour_offset_is_constant_per_image_in_the_span_of_sqrt_lambda_p_with_sigma_spread():
    op = adapted_pca()
    images = np.random.default_rng(1).random((4000, 2, 2, 3)).astype(np.float32)
    out = op(tf.constant(images)).numpy()
    offset = (out - images).reshape(len(images), -1, 3)
    np.testing.assert_allclose(offset, offset[:, :1].repeat(4, axis=1), atol=1e-6)   # the same shift for every pixel
    offset = offset[:, 0].astype(np.float64)
    P, eigenvalues = op.eigenvectors.astype(np.float64), op.eigenvalues.astype(np.float64)
    # offset = Σᵢ αᵢ √λᵢ pᵢ: nothing along p₃ (λ₃ = 0, the direction the training colours never vary in) ...
    assert np.abs(offset @ np.cross(U, V)).max() < 1e-6
    np.testing.assert_allclose(offset, (offset @ P[:, :2]) @ P[:, :2].T, atol=1e-6)
    # ... and αᵢ = pᵢ·offset / √λᵢ ~ N(0, 0.1²), the default sigma: 4000 draws give its std within ±5% (3 s.e.)
    alpha = offset @ P[:, :2] / np.sqrt(eigenvalues[:2])
    np.testing.assert_allclose(alpha.std(axis=0), [0.1, 0.1], rtol=0.05)
    assert np.abs(alpha.mean(axis=0)).max() < 4 * 0.1 / np.sqrt(len(alpha))
    assert abs(np.corrcoef(alpha.T)[0, 1]) < 0.05


def test_pca_colour_needs_adapting_and_rgb():
    with pytest.raises(RuntimeError, match="adapt"):
        pca_colour(seed=0, input_shape=(8, 8, 3))(tf.zeros((2, 8, 8, 3)))
    with pytest.raises(DataError, match="pca_colour needs RGB images, got 1 channel"):
        pca_colour(seed=0, input_shape=(8, 8, 1))


NEW_OPS = {
    "random_resized_crop": lambda seed: random_resized_crop(seed=seed, scale=(0.2, 1.0)),
    "random_shear": lambda seed: random_shear(seed=seed, x_factor=0.3, y_factor=0.3),
    "colour_jitter": lambda seed: colour_jitter(seed=seed, input_shape=(8, 8, 3)),
    "pca_colour": lambda seed: adapted_pca(seed=seed),
}


@pytest.mark.parametrize("name", NEW_OPS)
def test_new_ops_repeat_with_a_seed_differ_across_seeds_and_run_in_tf_data(name):
    images = colour_images(batch=8)
    first, again, other = (NEW_OPS[name](seed)(tf.constant(images)).numpy() for seed in (1, 1, 2))
    assert first.shape == images.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first[0] - images[0], first[1] - images[1])   # each image draws its own
    # inside tf.data (graph mode) the same seed draws the same as eagerly, batch after batch
    in_graph = tf.data.Dataset.from_tensor_slices(images).batch(4).map(NEW_OPS[name](1))
    eager = NEW_OPS[name](1)
    np.testing.assert_allclose(np.concatenate(list(in_graph.as_numpy_iterator())),
                               np.concatenate([eager(tf.constant(images[i:i + 4])).numpy() for i in (0, 4)]), atol=1e-5)
