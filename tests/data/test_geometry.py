"""Geometric transforms on feature dicts, checked against the pixels they move.

Each object is drawn as a filled rectangle into its own image channel, so after any transform
its box, mask and keypoints can be compared with where the warped rectangle actually lies.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data.geometry import (Compose, CenterCrop, Crop, Fused, Pad, RandomCrop, RandomFlip, RandomResizedCrop,
                                         RandomRotation, RandomScale, RandomShear, RandomTranslation, Resize, apply_affine)

SIZE = 48
# Rectangles near the centre (corners within 16 px of it), so rotations never push them out.
RECTS = np.array([(13, 13, 22, 21), (26, 14, 34, 22), (14, 26, 21, 34), (26, 27, 35, 35)], np.float32)
CLASS_IDS = np.array([3, 1, 0, 2, -1], np.int32)  # the last row is padding


def example():
    """One features dict: rectangle k fills channel k of the image, masks[k] and semantic class + 1; keypoints at its
    four corners and centre; a padding row at the end."""
    n = len(RECTS)
    images = np.zeros((SIZE, SIZE, n), np.float32)
    masks = np.zeros((n + 1, SIZE, SIZE), np.uint8)
    semantic = np.zeros((SIZE, SIZE), np.uint8)
    keypoints = np.zeros((n + 1, 5, 3), np.float32)
    for k, (x0, y0, x1, y1) in enumerate(RECTS.astype(int)):
        images[y0:y1, x0:x1, k] = 1.0
        masks[k, y0:y1, x0:x1] = 1
        semantic[y0:y1, x0:x1] = CLASS_IDS[k] + 1
        keypoints[k] = [(x0, y0, 1), (x1, y0, 1), (x0, y1, 1), (x1, y1, 1), ((x0 + x1) / 2, (y0 + y1) / 2, 1)]
    boxes = np.concatenate([RECTS, np.zeros((1, 4), np.float32)])
    return {"images": images, "boxes": boxes, "classes": CLASS_IDS.copy(), "masks": masks, "semantic_mask": semantic,
            "keypoints": keypoints, "labels": np.int64(7), "captions": "four rectangles"}


def batch(n):
    one = example()
    return {key: np.stack([value] * n) if key not in ("labels", "captions") else value for key, value in one.items()}


def numpy(features):
    return {key: value.numpy() if hasattr(value, "numpy") else value for key, value in features.items()}


def dilate(region):
    """The region grown by one pixel (8-neighbourhood)."""
    padded = np.pad(region, 1)
    h, w = region.shape
    return np.any([padded[i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=0)


def distance_to_region(point, region):
    """Distance from a point (x, y) to the nearest pixel square of `region`."""
    rows, cols = np.nonzero(region)
    dx = np.maximum.reduce([cols - point[0], np.zeros_like(cols, float), point[0] - cols - 1])
    dy = np.maximum.reduce([rows - point[1], np.zeros_like(rows, float), point[1] - rows - 1])
    return np.hypot(dx, dy).min()


def check_consistent(features):
    """Every box, mask and keypoint of one (numpy) example agrees with its warped rectangle within a pixel."""
    images, boxes, classes = features["images"], features["boxes"], features["classes"]
    masks, semantic, keypoints = features["masks"], features["semantic_mask"], features["keypoints"]
    height, width = images.shape[:2]
    assert masks.shape == (len(CLASS_IDS), height, width) and semantic.shape == (height, width)
    for k in range(len(RECTS)):
        region = images[..., k] > 0.5
        if classes[k] == -1:  # dropped: hardly anything of it is left, and it became a padding row
            assert region.sum() <= 2
            assert not boxes[k].any() and not masks[k].any() and not keypoints[k].any()
            continue
        assert classes[k] == CLASS_IDS[k]
        x0, y0, x1, y1 = boxes[k]
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        if not region.any():  # a sliver too thin for the 0.5 threshold
            assert min(x1 - x0, y1 - y0) <= 1.0
            continue
        rows, cols = np.nonzero(region)
        np.testing.assert_allclose(boxes[k], [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], atol=1.0 + 1e-4)
        mask = masks[k].astype(bool)
        assert (mask <= dilate(region)).all() and (region <= dilate(mask)).all()
        np.testing.assert_array_equal(semantic == CLASS_IDS[k] + 1, mask)
        touches_border = rows.min() == 0 or cols.min() == 0 or rows.max() == height - 1 or cols.max() == width - 1
        for j, (x, y, visible) in enumerate(keypoints[k]):
            if not visible:
                assert x == y == 0 and touches_border  # only a point that left the image turns invisible
                continue
            assert 0 <= x <= width and 0 <= y <= height
            assert distance_to_region((x, y), region) <= 1.0
            if j == 4 and not touches_border:  # the centre stays at the centroid
                centroid = (cols.mean() + 0.5, rows.mean() + 0.5)
                assert np.hypot(x - centroid[0], y - centroid[1]) <= 1.0
    padding = len(RECTS)
    assert classes[padding] == -1
    assert not boxes[padding].any() and not masks[padding].any() and not keypoints[padding].any()


OPS = {
    "resize_down": lambda: Resize((32, 40)),
    "resize_up_nearest": lambda: Resize((64, 56), "nearest"),
    "pad": lambda: Pad(3),
    "center_crop": lambda: CenterCrop((40, 36)),
    "crop": lambda: Crop((4, 6), (36, 40)),
    "crop_partly_outside": lambda: Crop((-4, 14), (48, 48)),
    "flip_horizontal": lambda: RandomFlip(seed=0, mode="horizontal"),
    "flip_vertical": lambda: RandomFlip(seed=1, mode="vertical"),
    "flip_both": lambda: RandomFlip(seed=2, mode="horizontal_and_vertical"),
    "translation": lambda: RandomTranslation(seed=3, fraction=0.3),
    "rotation": lambda: RandomRotation(seed=4, degrees=30),
    "rotation_90": lambda: RandomRotation(seed=5, degrees=(90, 90)),
    "scale": lambda: RandomScale(seed=6, min_scale=0.6, max_scale=1.5),
    "random_crop": lambda: RandomCrop(seed=7, padding=4),
    "random_crop_sized": lambda: RandomCrop(seed=8, padding=2, size=(36, 40)),
    "random_resized_crop": lambda: RandomResizedCrop(seed=9, size=(40, 36), scale=(0.3, 1.0)),
    "shear": lambda: RandomShear(seed=10, x_factor=0.3, y_factor=0.2),
}


@pytest.mark.parametrize("name", OPS)
def test_each_op_moves_boxes_masks_and_keypoints_with_the_image(name):
    out = numpy(OPS[name]()(batch(4)))
    for i in range(4):
        check_consistent({key: value[i] if key not in ("labels", "captions") else value for key, value in out.items()})


@pytest.mark.parametrize("order", [0, 1, 2])
def test_random_compositions_keep_features_together(order):
    # Mild enough that no rectangle leaves the image (a rotated box clipped at an image corner is looser than its pixels).
    ops = [RandomRotation(seed=10, degrees=15), RandomFlip(seed=11, mode="horizontal_and_vertical"),
           RandomScale(seed=12, min_scale=0.9, max_scale=1.1), RandomTranslation(seed=13, fraction=0.05),
           RandomCrop(seed=14, padding=2)]
    ops = [ops[i] for i in np.random.default_rng(order).permutation(len(ops))] + [Resize((40, 40))]
    out = numpy(Compose(ops)(batch(4)))
    for i in range(4):
        one = {key: value[i] if key not in ("labels", "captions") else value for key, value in out.items()}
        check_consistent(one)
        assert (one["classes"] == CLASS_IDS).all() and one["keypoints"][:4, :, 2].all()  # nothing left the image


@pytest.mark.parametrize("order", [0, 1])
def test_fused_transforms_keep_features_together_in_one_warp(order):
    ops = [RandomRotation(seed=10, degrees=15), RandomFlip(seed=11, mode="horizontal_and_vertical"),
           RandomScale(seed=12, min_scale=0.9, max_scale=1.1), RandomTranslation(seed=13, fraction=0.05)]
    ops = [ops[i] for i in np.random.default_rng(order).permutation(len(ops))] + [Resize((40, 40))]
    out = numpy(Fused(ops)(batch(4)))
    assert out["images"].shape == (4, 40, 40, 4)
    for i in range(4):
        one = {key: value[i] if key not in ("labels", "captions") else value for key, value in out.items()}
        check_consistent(one)
        assert (one["classes"] == CLASS_IDS).all()


def test_fused_equals_the_chain_where_nothing_leaves_the_image():
    def ops():   # lossless steps: a flip, a quarter turn and a whole-pixel shift of the padded rectangles
        return [RandomFlip(seed=3, mode="horizontal_and_vertical"), RandomRotation(seed=4, degrees=(90, 90)), Pad(2)]

    chained, fused = numpy(Compose(ops())(batch(6))), numpy(Fused(ops())(batch(6)))
    for key in ("images", "masks", "semantic_mask", "classes"):
        np.testing.assert_allclose(fused[key], chained[key], atol=1e-4)
    np.testing.assert_allclose(fused["boxes"], chained["boxes"], atol=1e-4)
    np.testing.assert_allclose(fused["keypoints"], chained["keypoints"], atol=1e-4)


def test_horizontal_flip_maps_x0_x1_to_width_minus_x1_x0_exactly():
    features = batch(8)
    out = numpy(RandomFlip(seed=0)(features))
    flipped = [np.array_equal(image, original[:, ::-1]) for image, original in zip(out["images"], features["images"])]
    kept = [np.array_equal(image, original) for image, original in zip(out["images"], features["images"])]
    assert any(flipped) and any(kept) and all(f != k for f, k in zip(flipped, kept))
    for i, is_flipped in enumerate(flipped):
        expected, points = RECTS.copy(), features["keypoints"][i, :4].copy()
        if is_flipped:
            expected[:, [0, 2]] = SIZE - RECTS[:, [2, 0]]
            points[..., 0] = SIZE - points[..., 0]
        np.testing.assert_allclose(out["boxes"][i, :4], expected, atol=1e-5)
        np.testing.assert_allclose(out["keypoints"][i, :4], points, atol=1e-5)
        np.testing.assert_array_equal(out["masks"][i], features["masks"][i][:, :, ::-1] if is_flipped else features["masks"][i])


def test_rotation_by_90_degrees_turns_pixels_and_boxes_exactly():
    features = example()
    out = numpy(RandomRotation(seed=0, degrees=(90, 90))(features))
    np.testing.assert_allclose(out["images"], np.rot90(features["images"]), atol=1e-4)   # counter-clockwise on screen
    np.testing.assert_array_equal(out["masks"], np.rot90(features["masks"], axes=(1, 2)))
    x0, y0, x1, y1 = RECTS.T
    np.testing.assert_allclose(out["boxes"][:4], np.stack([y0, SIZE - x1, y1, SIZE - x0], axis=1), atol=1e-4)
    points = features["keypoints"][:4]
    np.testing.assert_allclose(out["keypoints"][:4, :, :2], np.stack([points[..., 1], SIZE - points[..., 0]], -1), atol=1e-4)


def test_boxes_pushed_out_are_dropped_with_class_mask_and_keypoints():
    # The right 27 columns: rectangle 0 (x 13..22) keeps a 1-px strip, 2 (x 14..21) is gone, 1 and 3 stay whole.
    out = numpy(Crop((0, 21), (48, 27))(example()))
    np.testing.assert_array_equal(out["classes"], [3, 1, -1, 2, -1])
    np.testing.assert_allclose(out["boxes"][0], [0, 13, 1, 21])
    np.testing.assert_allclose(out["boxes"][1], RECTS[1] - [21, 0, 21, 0])
    assert not out["boxes"][2].any() and not out["masks"][2].any() and not out["keypoints"][2].any()
    assert out["masks"][0].sum() == 8
    np.testing.assert_array_equal(out["keypoints"][0, :, 2], [0, 1, 0, 1, 0])  # left corners and centre left
    check_consistent(out)
    # The strip is 1/9 of its box: a visibility threshold drops it ...
    strict = numpy(Crop((0, 21), (48, 27), min_visibility=0.5)(example()))
    np.testing.assert_array_equal(strict["classes"], [-1, 1, -1, 2, -1])
    # ... and so does the area threshold once the strip is thinner than 1/8 px (area < 1 px²).
    sliver = numpy(apply_affine(example(), [[1, 0, 21.9], [0, 1, 0], [0, 0, 1]], (48, 27)))
    np.testing.assert_array_equal(sliver["classes"], [-1, 1, -1, 2, -1])


def test_keypoints_leaving_the_image_turn_invisible_and_zero():
    out = numpy(apply_affine(example(), [[1, 0, 0], [0, 1, 15.5], [0, 0, 1]], (48, 48)))   # content up by 15.5 px
    # rectangle 0 (y 13..21) is cut at the top: its top corners leave, the others move up
    np.testing.assert_array_equal(out["keypoints"][0, :, 2], [0, 0, 1, 1, 1])
    assert not out["keypoints"][0, :2].any()
    np.testing.assert_allclose(out["keypoints"][0, 2:, :2], example()["keypoints"][0, 2:, :2] - [0, 15.5])
    np.testing.assert_allclose(out["boxes"][0], [13, 0, 22, 21 - 15.5])
    check_consistent(out)


def test_occluded_keypoints_move_and_absent_ones_stay_absent():
    features = example()
    features["keypoints"][1, 0, 2] = 0.0   # occluded: coordinates given, visible 0
    features["keypoints"][1, 1] = 0.0      # absent
    out = numpy(Pad(3)(features))
    np.testing.assert_allclose(out["keypoints"][1, 0], [26 + 3, 14 + 3, 0])
    assert not out["keypoints"][1, 1].any()
    np.testing.assert_allclose(out["keypoints"][1, 2:], features["keypoints"][1, 2:] + [3, 3, 0])


@pytest.mark.parametrize("make", [lambda seed: RandomRotation(seed=seed, degrees=30),
                                  lambda seed: RandomTranslation(seed=seed, fraction=0.2),
                                  lambda seed: RandomScale(seed=seed, min_scale=0.7, max_scale=1.4),
                                  lambda seed: RandomCrop(seed=seed, padding=4),
                                  lambda seed: RandomResizedCrop(seed=seed, scale=(0.5, 1.0)),
                                  lambda seed: RandomShear(seed=seed, x_factor=0.3, y_factor=0.2)])
def test_each_example_draws_its_own_transform_and_seeds_repeat(make):
    features = batch(6)
    first, again, other = (numpy(make(seed)(features)) for seed in (1, 1, 2))
    assert len({first["boxes"][i].tobytes() for i in range(6)}) > 1            # the examples differ
    for key in ("images", "boxes", "masks", "keypoints"):
        np.testing.assert_array_equal(first[key], again[key])                  # the same seed, the same result
    assert not np.array_equal(first["boxes"], other["boxes"])                   # another seed, another result


def test_works_inside_tf_data_unbatched_and_batched_with_static_shapes():
    one = example()
    dataset = tf.data.Dataset.from_tensors(one).repeat(4)
    unbatched = dataset.map(Compose([RandomRotation(seed=0, degrees=20), Resize((40, 32))]))
    assert unbatched.element_spec["images"].shape == (40, 32, 4)
    assert unbatched.element_spec["masks"].shape == (5, 40, 32)
    assert unbatched.element_spec["keypoints"].shape == (5, 5, 3)
    for features in unbatched:
        check_consistent(numpy(features))
    batched = dataset.batch(3).map(Compose([RandomFlip(seed=1), RandomCrop(seed=2, padding=4, size=(40, 40))]))
    assert batched.element_spec["images"].shape.as_list() == [None, 40, 40, 4]
    assert batched.element_spec["semantic_mask"].shape.as_list() == [None, 40, 40]
    assert dataset.batch(2, drop_remainder=True).map(Pad(2)).element_spec["boxes"].shape == (2, 5, 4)
    sizes = []
    for features in batched:
        features = numpy(features)
        sizes.append(len(features["images"]))
        for i in range(len(features["images"])):
            check_consistent({key: value[i] if key not in ("labels", "captions") else value for key, value in features.items()})
    assert sizes == [3, 1]


def test_other_keys_pass_through_and_dtypes_are_kept():
    features = example()
    features["images"] = (features["images"] * 200).astype(np.uint8)
    out = RandomTranslation(seed=0, fraction=0.2)(features)
    assert out["labels"] == 7 and out["captions"] == "four rectangles"
    assert out["images"].dtype == tf.uint8 and out["masks"].dtype == tf.uint8 and out["semantic_mask"].dtype == tf.uint8
    assert out["classes"].dtype == tf.int32 and out["boxes"].dtype == tf.float32
    only_boxes = Pad(2)({"images": features["images"], "boxes": features["boxes"]})   # absent features are skipped
    assert set(only_boxes) == {"images", "boxes"}
    np.testing.assert_allclose(only_boxes["boxes"].numpy()[:4], RECTS + 2)


def test_deterministic_ops_match_tensorflow_and_keras_references():
    image = np.random.default_rng(0).random((2, SIZE, SIZE, 3)).astype(np.float32)
    resized = Resize((32, 40))({"images": image})["images"]
    np.testing.assert_allclose(resized, tf.image.resize(image, (32, 40), antialias=False), atol=1e-5)
    enlarged = Resize((80, 72))({"images": image})["images"]
    np.testing.assert_allclose(enlarged, tf.image.resize(image, (80, 72), antialias=False), atol=1e-5)
    nearest = Resize((96, 96), "nearest")({"images": image})["images"]
    np.testing.assert_allclose(nearest, image.repeat(2, axis=1).repeat(2, axis=2), atol=1e-6)
    padded = Pad(3)({"images": image})["images"]
    np.testing.assert_allclose(padded, np.pad(image, [(0, 0), (3, 3), (3, 3), (0, 0)]), atol=1e-6)
    cropped = CenterCrop((40, 36))({"images": image})["images"]
    np.testing.assert_allclose(cropped, keras.layers.CenterCrop(40, 36)(image), atol=1e-6)
