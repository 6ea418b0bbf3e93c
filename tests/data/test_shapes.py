"""The shapes scene generator: annotations checked pixel by pixel against the rendered scenes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kerascv_suite.data.examples import FEATURES, provides
from kerascv_suite.data.shapes import BACKGROUNDS, CORNERS, PALETTE, SHAPE_CLASSES, keypoint_names, render_scenes
from kerascv_suite.registry import DATASETS, load_components
from kerascv_suite.spec import build_component
from kerascv_suite.spec.errors import DataError

from .conftest import make_spec

CAPTION = re.compile(r"^a (small|large) (\w+) (\w+)(?: (left of|right of|above|below) a (small|large) (\w+) (\w+))?$")


@pytest.fixture(scope="module")
def scenes():
    """Non-square images (to catch x/y swaps), every class, up to four objects, noisy background."""
    return render_scenes(150, seed=3, image_size=(40, 48), max_objects=4, classes=SHAPE_CLASSES, background="noisy")


def real_objects(scenes):
    """(scene, object) index pairs of the non-padding rows."""
    return list(zip(*np.nonzero(scenes["classes"] >= 0)))


def id_map(scenes, i):
    """[H, W]: −1 on background, k on object k's visible pixels."""
    masks = scenes["masks"][i]
    return np.where(masks.any(axis=0), masks.argmax(axis=0), -1)


def test_features_follow_the_contract(scenes):
    n, m, h, w, k = 150, 4, 40, 48, 1 + max(CORNERS.values())
    expected = {
        "images": (np.uint8, (n, h, w, 3)), "labels": (np.int64, (n,)), "boxes": (np.float32, (n, m, 4)),
        "classes": (np.int32, (n, m)), "masks": (np.uint8, (n, m, h, w)), "semantic_mask": (np.uint8, (n, h, w)),
        "keypoints": (np.float32, (n, m, k, 3)), "captions": (object, (n,)),
    }
    assert set(scenes) == set(FEATURES)
    for key, (dtype, shape) in expected.items():
        assert scenes[key].dtype == dtype and scenes[key].shape == shape, key
    assert all(isinstance(c, str) for c in scenes["captions"])
    assert set(np.unique(scenes["masks"])) <= {0, 1}
    counts = (scenes["classes"] >= 0).sum(axis=1)
    assert counts.min() >= 1 and counts.max() == 4
    np.testing.assert_array_equal(scenes["classes"] >= 0, np.arange(4) < counts[:, None])  # real rows come first


def test_boxes_are_the_tight_boxes_of_the_visible_masks(scenes):
    for i, k in real_objects(scenes):
        mask = scenes["masks"][i, k].astype(bool)
        rows, cols = np.nonzero(mask)
        assert tuple(scenes["boxes"][i, k]) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        x0, y0, x1, y1 = scenes["boxes"][i, k].astype(int)
        assert mask[y0:y1, x0:x1].sum() == mask.sum()


def test_instance_masks_are_disjoint_visible_and_in_depth_order(scenes):
    assert scenes["masks"].sum(axis=1).max() == 1
    areas = scenes["masks"].sum(axis=(2, 3))
    assert np.all(areas[scenes["classes"] >= 0] >= 8) and np.all(areas[scenes["classes"] < 0] == 0)
    # Objects keep their colour on every visible pixel: later objects were painted over earlier ones.
    for i, k in real_objects(scenes)[:100]:
        colours = scenes["images"][i][scenes["masks"][i, k].astype(bool)]
        assert len(np.unique(colours, axis=0)) == 1 and tuple(colours[0]) in set(PALETTE.values())


def test_semantic_mask_is_the_labelled_union_of_instance_masks(scenes):
    labelled = (scenes["masks"] * (scenes["classes"][:, :, None, None] + 1).astype(np.uint8)).sum(axis=1)
    np.testing.assert_array_equal(scenes["semantic_mask"], labelled)
    assert np.all((scenes["semantic_mask"] == 0) == (scenes["masks"].sum(axis=1) == 0))


def test_labels_are_the_class_of_the_most_visible_object(scenes):
    areas = scenes["masks"].sum(axis=(2, 3))
    np.testing.assert_array_equal(scenes["labels"], scenes["classes"][np.arange(150), areas.argmax(axis=1)])


def test_visible_keypoints_lie_on_their_shape_and_occluded_ones_under_a_later_shape(scenes):
    occluded = 0
    for i, k in real_objects(scenes):
        ids = id_map(scenes, i)
        points = scenes["keypoints"][i, k]
        corners = CORNERS[SHAPE_CLASSES[scenes["classes"][i, k]]]
        assert np.all(points[1 + corners:] == 0)
        for x, y, visible in points[:1 + corners]:
            owner = ids[int(np.floor(y)), int(np.floor(x))]
            if visible:
                assert owner == k
            else:
                # Never background: an unoccluded corner always falls on its own pixels.
                assert owner > k
                occluded += 1
    assert occluded > 20


def test_keypoints_are_the_centre_then_corners_around_it(scenes):
    for i, k in real_objects(scenes):
        points = scenes["keypoints"][i, k]
        x0, y0, x1, y1 = scenes["boxes"][i, k]
        corners = CORNERS[SHAPE_CLASSES[scenes["classes"][i, k]]]
        if points[0, 2]:
            assert x0 <= points[0, 0] < x1 and y0 <= points[0, 1] < y1
        radii = np.hypot(*(points[1:1 + corners, :2] - points[0, :2]).T)
        if corners and SHAPE_CLASSES[scenes["classes"][i, k]] != "rectangle":
            np.testing.assert_allclose(radii, radii[0], rtol=1e-4)  # regular polygons and star tips


def test_padding_rows_are_zero(scenes):
    padding = scenes["classes"] < 0
    assert padding.any()
    assert np.all(scenes["classes"][padding] == -1)
    assert np.all(scenes["boxes"][padding] == 0) and np.all(scenes["masks"][padding] == 0)
    assert np.all(scenes["keypoints"][padding] == 0)


def test_same_seed_same_scenes_and_scene_i_does_not_depend_on_n():
    first, again = render_scenes(20, seed=7), render_scenes(20, seed=7)
    fewer, other = render_scenes(5, seed=7), render_scenes(20, seed=8)
    for key in FEATURES:
        np.testing.assert_array_equal(first[key], again[key])
        np.testing.assert_array_equal(first[key][:5], fewer[key])
    assert not np.array_equal(first["images"], other["images"])
    assert not np.array_equal(first["captions"], other["captions"])


@pytest.mark.parametrize("kind", SHAPE_CLASSES)
def test_every_class_renders_with_its_corners(kind):
    scenes = render_scenes(30, seed=1, image_size=(32, 32), classes=[kind], max_objects=2)
    real = scenes["classes"] >= 0
    assert np.all(scenes["classes"][real] == 0) and np.all(scenes["labels"] == 0)
    assert scenes["keypoints"].shape[2] == 1 + CORNERS[kind] == len(keypoint_names([kind]))
    assert scenes["keypoints"][..., 2][real].mean() > 0.5
    assert all(kind in caption for caption in scenes["captions"])


def test_a_lone_circle_fills_its_box_like_a_disk():
    scenes = render_scenes(20, seed=2, classes=["circle"], max_objects=1)
    for i in range(20):
        x0, y0, x1, y1 = scenes["boxes"][i, 0]
        assert abs((x1 - x0) - (y1 - y0)) <= 1
        area = scenes["masks"][i, 0].sum()
        assert abs(area - np.pi * ((x1 - x0) / 2) ** 2) < 0.12 * area


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_every_background_renders_distinct_from_the_shapes(background):
    scenes = render_scenes(20, seed=4, background=background)
    for i in range(20):
        pixels = scenes["images"][i][scenes["semantic_mask"][i] == 0].astype(float)
        spread = pixels.std(axis=0).max()
        assert spread == 0 if background == "plain" else spread > 3
        for k in np.flatnonzero(scenes["classes"][i] >= 0):
            colour = scenes["images"][i][scenes["masks"][i, k].astype(bool)][0].astype(float)
            assert np.linalg.norm(colour - pixels.mean(axis=0)) > 100


def test_captions_name_colours_classes_and_relations_of_objects_in_the_scene(scenes):
    for i, caption in enumerate(scenes["captions"]):
        match = CAPTION.match(caption)
        assert match, caption
        real = np.flatnonzero(scenes["classes"][i] >= 0)
        objects = []
        for k in real:
            colour = tuple(scenes["images"][i][scenes["masks"][i, k].astype(bool)][0])
            objects.append((next(name for name, rgb in PALETTE.items() if rgb == colour), SHAPE_CLASSES[scenes["classes"][i, k]]))
        areas = scenes["masks"][i, real].sum(axis=(1, 2))
        order = np.argsort(-areas, kind="stable")
        size, colour, kind, relation, _, other_colour, other_kind = match.groups()
        assert (colour, kind) == objects[order[0]]
        assert SHAPE_CLASSES[scenes["labels"][i]] == kind
        if len(real) == 1:
            assert relation is None
            continue
        assert (other_colour, other_kind) == objects[order[1]]
        (ax, ay), (bx, by) = scenes["keypoints"][i, real[order[0]], 0, :2], scenes["keypoints"][i, real[order[1]], 0, :2]
        expected = ("left of" if ax < bx else "right of") if abs(ax - bx) >= abs(ay - by) else ("above" if ay < by else "below")
        assert relation == expected, caption


def test_the_registered_source_builds_through_the_spec():
    load_components()
    source = DATASETS.get("shapes")(num_images=20)
    assert source.images.shape == (20, 64, 64, 3) and source.images.dtype == np.uint8
    assert source.class_names == ["circle", "square", "triangle"]
    assert {k: (v.dtype, v.shape) for k, v in source.features.items()} == {
        "boxes": (np.float32, (20, 3, 4)), "classes": (np.int32, (20, 3)), "masks": (np.uint8, (20, 3, 64, 64)),
        "semantic_mask": (np.uint8, (20, 64, 64)), "keypoints": (np.float32, (20, 3, 5, 3)), "captions": (np.dtype(object), (20,)),
    }
    assert source.meta == {"keypoint_names": ["centre", "corner_1", "corner_2", "corner_3", "corner_4"], "max_objects": 3,
                           "semantic_class_names": ["background", "circle", "square", "triangle"]}
    assert provides(DATASETS.get("shapes")) == set(FEATURES)

    spec = make_spec({"source": {"name": "shapes", "num_images": 12, "image_size": [32, 40], "classes": ["star", "ellipse"],
                                 "background": "textured", "scene_seed": 5}})
    built = build_component(spec.data.source)
    assert built.images.shape == (12, 32, 40, 3) and built.class_names == ["star", "ellipse"]
    np.testing.assert_array_equal(built.images, render_scenes(12, 5, (32, 40), classes=["star", "ellipse"], background="textured")["images"])


@pytest.mark.parametrize("arguments, words", [
    ({"min_objects": 4, "max_objects": 3}, "min_objects=4"),
    ({"max_size": 1.5}, "max_size=1.5"),
    ({"min_size": 0.6, "max_size": 0.5}, "min_size=0.6"),
    ({"image_size": (16, 16)}, "min_size=0.25 gives 4-pixel"),
    ({"image_size": (4, 64)}, "(4, 64)"),
    ({"classes": ["circle", "blob"]}, "'blob'"),
    ({"classes": ["circle", "circle"]}, "distinct"),
    ({"background": "stripes"}, "'stripes'"),
    ({"n": 0}, "got 0"),
    ({"seed": -1}, "got -1"),
])
def test_bad_arguments_raise_one_line_data_errors(arguments, words):
    arguments = {"n": 4, **arguments}
    with pytest.raises(DataError) as error:
        render_scenes(**arguments)
    assert len(error.value.problems) == 1 and "\n" not in str(error.value) and words in str(error.value)


def test_a_crowded_impossible_scene_is_a_data_error():
    with pytest.raises(DataError, match="could not place 8 visible objects"):
        render_scenes(2, image_size=(16, 16), min_objects=8, max_objects=8, min_size=0.9, max_size=1.0)
