"""The regularising augmentations from keras-cv (cutout, randaugment, mixup, cutmix), checked on images built so
that what each op did can be read back from the pixels."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data.ops import binarize, cutmix, cutout, mixup, randaugment

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
