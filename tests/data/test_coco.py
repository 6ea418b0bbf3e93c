"""COCO in and out: export_coco writes what pycocotools reads, and the coco source reads it back exactly."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from kerascv_suite.data.coco import coco, export_coco
from kerascv_suite.data.examples import FEATURES
from kerascv_suite.data.shapes import shapes
from kerascv_suite.data.sources import Source
from kerascv_suite.registry import DATASETS
from kerascv_suite.spec.errors import DataError

from .conftest import make_spec


def load_with_pycocotools(path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def one_line_error(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and len(error.value.problems) == 1
    return message


def write_dataset(folder, annotations: list, sizes=((8, 8),), categories=None) -> tuple:
    """PNG images 1.png, 2.png, ... of the given (height, width) and their annotations.json."""
    (folder / "images").mkdir()
    rng = np.random.default_rng(0)
    images = []
    for k, (height, width) in enumerate(sizes, start=1):
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / "images" / f"{k}.png")
        images.append({"id": k, "file_name": f"{k}.png", "height": height, "width": width})
    document = {"images": images, "annotations": annotations, "categories": categories or [{"id": 1, "name": "thing"}]}
    (folder / "annotations.json").write_text(json.dumps(document))
    return folder / "annotations.json", folder / "images"


def box(id, bbox, image_id=1, category_id=1, **fields) -> dict:
    return {"id": id, "image_id": image_id, "category_id": category_id, "bbox": bbox, **fields}


# ---------------------------------------------------------------- round trips


def test_shapes_round_trip_through_pycocotools_and_the_coco_source(tmp_path):
    source = shapes(num_images=8, image_size=(32, 32), max_objects=3, classes=["circle", "square", "triangle", "star"])
    summary = export_coco(source, tmp_path / "out")
    features = source.features
    real = features["classes"] >= 0
    assert summary == {"out_dir": str(tmp_path / "out"), "images": 8,
                       "files": {"annotations.json": int(real.sum()), "captions.json": 8}}
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == sorted(f"{i}.png" for i in range(1, 9))

    api = load_with_pycocotools(tmp_path / "out" / "annotations.json")
    assert len(api.getImgIds()) == 8 and len(api.getAnnIds()) == real.sum()
    assert [c["name"] for c in api.loadCats(api.getCatIds())] == source.class_names
    for i in range(8):
        annotations = api.loadAnns(api.getAnnIds(imgIds=[i + 1]))
        assert len(annotations) == real[i].sum()
        for m, annotation in enumerate(annotations):
            x0, y0, x1, y1 = features["boxes"][i, m]
            np.testing.assert_allclose(annotation["bbox"], [x0, y0, x1 - x0, y1 - y0], atol=1e-6)
            assert annotation["category_id"] == features["classes"][i, m] + 1
            np.testing.assert_array_equal(api.annToMask(annotation), features["masks"][i, m])
            assert annotation["area"] == features["masks"][i, m].sum()

    back = coco(tmp_path / "out" / "annotations.json", tmp_path / "out" / "images", captions=tmp_path / "out" / "captions.json",
                max_objects=3)
    np.testing.assert_array_equal(back.images, source.images)
    np.testing.assert_array_equal(back.labels, source.labels)
    assert back.class_names == source.class_names and back.skipped == []
    assert set(back.features) == set(features)
    for key in ("classes", "masks", "semantic_mask", "keypoints", "captions"):
        np.testing.assert_array_equal(back.features[key], features[key], err_msg=key)
        assert back.features[key].dtype == features[key].dtype
    np.testing.assert_allclose(back.features["boxes"], features["boxes"], atol=1e-6)
    assert back.meta["provides"] == frozenset(FEATURES) == coco.provides
    assert back.meta["keypoint_names"] == source.meta["keypoint_names"]
    assert back.meta["semantic_class_names"] == source.meta["semantic_class_names"]


def test_hand_made_grayscale_source_round_trips_keypoint_visibility_and_captions(tmp_path):
    images = np.arange(3 * 6 * 5, dtype=np.uint8).reshape(3, 6, 5, 1)
    boxes = np.zeros((3, 2, 4), np.float32)
    boxes[0] = [[0, 0, 2, 3], [1.5, 2.25, 5, 6]]
    boxes[1, 0] = [2, 1, 4, 2]
    classes = np.array([[0, 1], [1, -1], [-1, -1]], np.int32)
    masks = np.zeros((3, 2, 6, 5), np.uint8)
    masks[0, 0, 0:3, 0:2] = 1
    masks[0, 1, 3:6, 2:5] = 1
    masks[1, 0, 1, 2:4] = 1
    keypoints = np.zeros((3, 2, 2, 3), np.float32)
    keypoints[0, 0] = [[0.5, 0.5, 1], [1.5, 2.5, 0]]  # visible; labelled but occluded
    keypoints[1, 0] = [[0, 0, 1], [0, 0, 0]]          # visible at the origin; absent
    captions = np.array(["two things", "", "nothing"], object)
    source = Source(labels=[1, 1, 0], class_names=["a", "b"], images=images,
                    features={"boxes": boxes, "classes": classes, "masks": masks, "keypoints": keypoints, "captions": captions},
                    meta={"keypoint_names": ["top", "bottom"]})
    export_coco(source, tmp_path / "out")

    document = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert [c["keypoints"] for c in document["categories"]] == [["top", "bottom"]] * 2
    assert all(c["skeleton"] == [] for c in document["categories"])
    by_id = {a["id"]: a for a in document["annotations"]}
    assert by_id[1]["keypoints"] == [0.5, 0.5, 2, 1.5, 2.5, 1] and by_id[1]["num_keypoints"] == 2
    assert by_id[3]["keypoints"] == [0, 0, 2, 0, 0, 0] and by_id[3]["num_keypoints"] == 1
    assert [a["category_id"] for a in document["annotations"]] == [1, 2, 2]
    assert by_id[2]["bbox"] == [1.5, 2.25, 3.5, 3.75]
    caption_file = json.loads((tmp_path / "out" / "captions.json").read_text())
    assert [(a["image_id"], a["caption"]) for a in caption_file["annotations"]] == [(1, "two things"), (3, "nothing")]

    back = coco(tmp_path / "out" / "annotations.json", tmp_path / "out" / "images", captions=tmp_path / "out" / "captions.json",
                max_objects=2, channels=1)
    np.testing.assert_array_equal(back.images, images)
    np.testing.assert_array_equal(back.features["boxes"], boxes)
    for key, expected in (("classes", classes), ("masks", masks), ("keypoints", keypoints), ("captions", captions)):
        np.testing.assert_array_equal(back.features[key], expected, err_msg=key)
    semantic = np.zeros((3, 6, 5), np.uint8)
    semantic[0][masks[0, 0] > 0], semantic[0][masks[0, 1] > 0], semantic[1][masks[1, 0] > 0] = 1, 2, 2
    np.testing.assert_array_equal(back.features["semantic_mask"], semantic)
    # the largest object's class; the image without objects gets label 0 and is counted
    assert back.labels.tolist() == [1, 1, 0] and back.meta["images_without_objects"] == 1


def test_split_indices_write_one_annotation_file_per_split(tmp_path):
    source = shapes(num_images=6, image_size=(32, 32), max_objects=2)
    summary = export_coco(source, tmp_path / "out", split_indices={"train": [0, 1, 2, 3], "val": np.array([5])})
    assert summary["images"] == 5
    assert set(summary["files"]) == {"annotations_train.json", "captions_train.json", "annotations_val.json", "captions_val.json"}
    val = coco(tmp_path / "out" / "annotations_val.json", tmp_path / "out" / "images", max_objects=2)
    np.testing.assert_array_equal(val.images, source.images[5:])
    np.testing.assert_array_equal(val.features["masks"], source.features["masks"][5:])
    with pytest.raises(DataError) as error:
        export_coco(source, tmp_path / "other", split_indices={"train": [6]})
    assert "split 'train' has indices outside [0, 6)" in one_line_error(error)


def test_export_refuses_to_overwrite_and_leaves_nothing_behind(tmp_path):
    source = shapes(num_images=2, image_size=(16, 16), max_objects=1, min_size=0.5)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(DataError) as error:
        export_coco(source, tmp_path / "taken")
    assert "already exists and is not empty" in one_line_error(error)
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    export_coco(source, tmp_path / "empty")  # an empty folder is fine
    with pytest.raises(DataError):
        export_coco(source, tmp_path / "empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "taken"]  # no staging folders left


# ---------------------------------------------------------------- reading hand-written files


def test_polygons_and_uncompressed_rle_decode_on_the_pixel_grid(tmp_path):
    rle_mask = np.zeros((6, 7), np.uint8)
    rle_mask[2:5, 4:6] = 1
    flat = rle_mask.flatten(order="F")  # COCO runs go down the columns, starting with a run of zeros
    changes = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    annotations = [
        box(1, [1, 1, 4, 3], segmentation=[[1, 1, 5, 1, 5, 4, 1, 4]]),
        box(2, [4, 2, 2, 3], segmentation={"size": [6, 7], "counts": counts}),
        box(3, [0, 0, 7, 6], iscrowd=1, segmentation={"size": [6, 7], "counts": [42]}),
    ]
    source = coco(*write_dataset(tmp_path, annotations, sizes=[(6, 7)]), max_objects=3)
    polygon = np.zeros((6, 7), np.uint8)
    polygon[1:4, 1:5] = 1  # corners (1, 1) and (5, 4): pixels whose centres lie inside
    np.testing.assert_array_equal(source.features["masks"][0, 0], polygon)
    np.testing.assert_array_equal(source.features["masks"][0, 1], rle_mask)
    np.testing.assert_array_equal(source.features["boxes"][0, :2], [[1, 1, 5, 4], [4, 2, 6, 5]])
    assert source.features["classes"][0].tolist() == [0, 0, -1]  # the crowd region is no object
    assert source.meta["crowd_annotations"] == 1
    assert source.meta["provides"] == frozenset({"images", "labels", "boxes", "classes", "masks", "semantic_mask"})


def test_objects_beyond_max_objects_are_dropped_and_counted(tmp_path):
    annotations = [box(k, [k, 0, 1, 1]) for k in range(1, 4)] + [box(4, [0, 0, 2, 2], image_id=2)]
    source = coco(*write_dataset(tmp_path, annotations, sizes=[(8, 8), (8, 8)]), max_objects=2)
    np.testing.assert_array_equal(source.features["boxes"][0], [[1, 0, 2, 1], [2, 0, 3, 1]])
    assert source.meta["dropped_objects"] == 1
    assert "masks" not in source.features and source.meta["provides"] == frozenset({"images", "labels", "boxes", "classes"})


BAD_ANNOTATIONS = [
    ({"bbox": [1, 2]}, "annotation 17: bbox must be 4 numbers [x, y, w, h] with w, h ≥ 0, got [1, 2]"),
    ({"bbox": [1, 2, -3, 4]}, "annotation 17: bbox must be 4 numbers"),
    ({"category_id": 9}, "annotation 17: category_id 9 is not in the file's categories"),
    ({"image_id": 99}, "annotation 17: image_id 99 is not in the file's images"),
    ({"segmentation": [[1, 2, 3]]}, "annotation 17: segmentation polygons must be lists of at least 3 (x, y) points"),
    ({"segmentation": {"size": [8, 8], "counts": "!!"}}, "annotation 17: segmentation RLE counts is not a valid compressed RLE string"),
    ({"segmentation": {"size": [8, 8], "counts": [3, 4]}}, "annotation 17: segmentation RLE runs must be non-negative and cover"),
    ({"segmentation": {"size": [4, 4], "counts": [16]}}, "annotation 17: segmentation RLE size [4, 4] is not the image's"),
    ({"segmentation": "polygon"}, "annotation 17: segmentation must be a list of polygons or an RLE {counts, size}"),
    ({"keypoints": [1, 2, 2]}, "annotation 17: keypoints must be 6 numbers ([x, y, v] for each of 2 keypoints), got 3"),
    ({"keypoints": [1, 2, 3, 0, 0, 0]}, "annotation 17: keypoints visibility v must be 0, 1 or 2, got [0, 3]"),
    ({"iscrowd": 2}, "annotation 17: iscrowd must be 0 or 1, got 2"),
    ({"bbox": None}, "annotation 17: bbox must be 4 numbers"),
]


@pytest.mark.parametrize("change, message", BAD_ANNOTATIONS)
def test_a_malformed_annotation_is_one_line_naming_its_id_and_field(tmp_path, change, message):
    categories = [{"id": 1, "name": "person", "keypoints": ["nose", "tail"], "skeleton": []}]
    path, images = write_dataset(tmp_path, [box(3, [0, 0, 1, 1]), {**box(17, [0, 0, 2, 2]), **change}], categories=categories)
    with pytest.raises(DataError) as error:
        coco(path, images)
    assert one_line_error(error).startswith(f"coco: {path}: {message}")


@pytest.mark.parametrize("text, message", [
    ('{"images": [\n  {"id": 1,}\n]}', "not valid JSON at line 2, column 12: Expecting property name"),
    ("[1, 2]", "not a COCO annotation file"),
    ('{"images": [{"id": 1, "height": 8, "width": 8}], "annotations": []}', "image 1: missing required field 'file_name'"),
    ('{"images": [{"id": 1, "file_name": "1.png", "height": 8, "width": 8}], "annotations": [{"id": 4, "image_id": 1}]}',
     "annotation 4: missing required field 'category_id'"),
    ('{"images": [{"id": 1, "file_name": "1.png", "height": 8, "width": 8}], "annotations": [{"image_id": 1}]}',
     "annotations[0]: missing required field 'id'"),
    ('{"images": [{"id": 1, "file_name": "1.png", "height": 8, "width": 8}], "categories": [{"id": 1, "name": "a"}],'
     ' "annotations": [{"id": 4, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, {"id": 4, "image_id": 1}]}',
     "annotation 4: id must be an integer not used by another annotation"),
    ('{"images": {"id": 1}}', "'images' must be a list, got dict"),
])
def test_a_malformed_file_is_one_line(tmp_path, text, message):
    (tmp_path / "images").mkdir()
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(DataError) as error:
        coco(tmp_path / "bad.json", tmp_path / "images")
    assert one_line_error(error).startswith(f"coco: {tmp_path / 'bad.json'}: {message}")


def test_missing_and_corrupt_images_are_skipped_with_their_annotations(tmp_path):
    annotations = [box(k, [0, 0, k, k], image_id=k) for k in range(1, 5)]
    path, images = write_dataset(tmp_path, annotations, sizes=[(8, 8)] * 4)
    (images / "2.png").unlink()
    (images / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    source = coco(path, images)
    assert source.skipped == [str(images / "2.png"), str(images / "3.png")]
    assert len(source.labels) == 2
    np.testing.assert_array_equal(source.features["boxes"][:, 0], [[0, 0, 1, 1], [0, 0, 4, 4]])
    (images / "1.png").unlink()
    (images / "4.png").unlink()
    with pytest.raises(DataError) as error:
        coco(path, images)
    assert "none of its 4 images could be read" in one_line_error(error)


def test_image_size_resizes_images_masks_boxes_and_keypoints(tmp_path):
    categories = [{"id": 5, "name": "b"}, {"id": 2, "name": "a", "keypoints": ["tip"]}]
    annotations = [
        box(1, [2, 2, 4, 2], category_id=2, keypoints=[3, 3, 2], segmentation=[[2, 2, 6, 2, 6, 4, 2, 4]]),
        box(2, [8, 4, 8, 4], image_id=2, category_id=5, keypoints=[]),
    ]
    path, images = write_dataset(tmp_path, annotations, sizes=[(8, 8), (8, 16)], categories=categories)
    with pytest.raises(DataError) as error:
        coco(path, images)
    assert "images differ in size (8×8 and 16×8 width×height); set image_size: [height, width]" in one_line_error(error)

    source = coco(path, images, image_size=(16, 16))
    assert source.images.shape == (2, 16, 16, 3)
    assert source.class_names == ["a", "b"] and source.meta["category_ids"] == [2, 5]  # sorted by category id
    np.testing.assert_allclose(source.features["boxes"][:, 0], [[4, 4, 12, 8], [8, 8, 16, 16]])
    np.testing.assert_allclose(source.features["keypoints"][:, 0], [[[6, 6, 1]], [[0, 0, 0]]])
    expected = np.zeros((16, 16), np.uint8)
    expected[4:8, 4:12] = 1  # nearest-neighbour doubling of rows 2–3, columns 2–5
    np.testing.assert_array_equal(source.features["masks"][0, 0], expected)
    np.testing.assert_array_equal(source.features["semantic_mask"][0], expected)  # class 0 → 1


def test_a_captions_only_file_gives_captions_and_one_class(tmp_path):
    path, images = write_dataset(tmp_path, [{"id": 1, "image_id": 1, "caption": "noise"}, {"id": 2, "image_id": 1, "caption": "more"}])
    document = json.loads(path.read_text())
    del document["categories"]
    path.write_text(json.dumps(document))
    source = coco(path, images)
    assert source.features["captions"].tolist() == ["noise"] and source.class_names == ["image"]
    assert source.meta["provides"] == frozenset({"images", "labels", "captions"})


def test_coco_is_registered_and_a_spec_can_name_it(tmp_path):
    path, images = write_dataset(tmp_path, [box(1, [0, 0, 1, 1])])
    assert DATASETS.get("coco") is coco and coco.provides == frozenset(FEATURES)
    spec = make_spec({"source": {"name": "coco", "annotations": str(path), "images": str(images), "image_size": [8, 8]}})
    assert spec.data.source.image_size == (8, 8)
