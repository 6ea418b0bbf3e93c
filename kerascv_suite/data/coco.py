"""COCO-format data in and out: read a COCO annotation file as a source, write any source as one.

COCO's JSON layout (images, annotations, categories) is what most detection, segmentation and
keypoint tools read and write, so it is how data enters and leaves the library. `coco` reads
a file into the features-dict contract of `kerascv_suite.data.examples`; `export_coco` writes
an in-memory source (the `shapes` scenes, a `coco` source) back out, so a round trip keeps
boxes, classes, masks, keypoints and captions exactly.

Mapping between the two (both directions):

* Boxes: the library's xyxy (x1/y1 exclusive) ↔ COCO's [x, y, w, h] = [x0, y0, x1 − x0, y1 − y0].
* Classes: class c ↔ ``category_id`` c + 1 when exporting; when reading, category ids map to
  0..C−1 in sorted id order (``meta["category_ids"][c]`` is class c's COCO id).
* Masks: written as compressed RLE (``pycocotools.mask.encode``, counts as a str), which is
  exact; read from polygons or RLE (compressed or uncompressed) with ``annToMask``.
  The semantic mask is not written: the reader rebuilds it from the instance masks.
* Keypoints: both use pixel coordinates with x along the width; no shift is applied, so the
  library's continuous convention (pixel (i, j) covers [j, j + 1) × [i, i + 1), centre
  j + 0.5) carries through. COCO's own files store integer pixel indices; add 0.5 to read
  those as centres. Visibility: visible 1 ↔ v = 2; visible 0 with coordinates ↔ v = 1
  (labelled, not visible); all zero ↔ v = 0 (not labelled).
* Captions: COCO keeps them in a separate file, so `export_coco` writes ``captions.json``
  (``{"images", "annotations": [{"id", "image_id", "caption"}]}``) beside
  ``annotations.json``, and `coco` reads it through its ``captions`` argument.

Example::

    from kerascv_suite.data.coco import coco, export_coco
    from kerascv_suite.data.shapes import shapes
    export_coco(shapes(num_images=100), "out/")   # out/images/1.png ..., annotations.json, captions.json
    source = coco("out/annotations.json", "out/images", captions="out/captions.json", max_objects=3)
    source.features["boxes"].shape                # (100, 3, 4)
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import DirectoryPath, FilePath, PositiveInt

from kerascv_suite.data.examples import BOXES, CAPTIONS, CLASSES, FEATURES, IMAGES, KEYPOINTS, LABELS, MASKS, PADDING_CLASS, SEMANTIC_MASK
from kerascv_suite.data.sources import Source
from kerascv_suite.registry import DATASETS
from kerascv_suite.spec.errors import DataError

# ---------------------------------------------------------------- writing


def export_coco(source: Source, out_dir, split_indices: Optional[dict] = None) -> dict:
    """Write an in-memory source as COCO: ``out_dir/images/<id>.png`` and ``out_dir/annotations.json``.

    Image ids are the source's example index + 1 and annotation ids count from 1 (COCO's
    evaluator treats id 0 as "unmatched"). Boxes and classes become instance annotations
    (``iscrowd`` 0, ``area`` the mask's pixel count, else w × h), masks their RLE
    ``segmentation``, keypoints their flat [x, y, v, ...] with ``num_keypoints``, and every
    category lists the keypoint names (``meta["keypoint_names"]``) with an empty skeleton.
    Captions go to ``captions.json``. Image-level labels have no COCO field and are not
    written (the reader takes the largest object's class). Everything is written into a
    temporary folder beside `out_dir`, then renamed, so a failed export leaves nothing behind.

    Args:
        source: an in-memory `Source` (``images`` set), with any of the contract's features.
        out_dir: a folder that does not exist yet or is empty; a non-empty one is refused.
        split_indices: split name → example indices (e.g. a pipeline's ``indices``); when given,
            one ``annotations_<split>.json`` (and ``captions_<split>.json``) per split, sharing
            ``images/``, instead of one ``annotations.json`` for every example.

    Returns:
        ``{"out_dir": str, "images": images written, "files": {json file name: annotations in it}}``.
    """
    out_dir = Path(out_dir)
    if source.images is None:
        raise DataError("export_coco: the source streams its images; only in-memory sources (images set) can be exported")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DataError(f"export_coco: {out_dir} already exists and is not empty; choose a new folder (exports never overwrite)")
    splits = {"": range(len(source.labels))} if split_indices is None else _checked_splits(split_indices, len(source.labels))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        from PIL import Image

        (staging / "images").mkdir()
        written = sorted({int(i) for indices in splits.values() for i in indices})
        for index in written:
            image = source.images[index]
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(staging / "images" / f"{index + 1}.png")
        files = {}
        for split, indices in splits.items():
            suffix = f"_{split}" if split else ""
            instances, captions = _coco_documents(source, [int(i) for i in indices])
            (staging / f"annotations{suffix}.json").write_text(json.dumps(instances))
            files[f"annotations{suffix}.json"] = len(instances["annotations"])
            if captions is not None:
                (staging / f"captions{suffix}.json").write_text(json.dumps(captions))
                files[f"captions{suffix}.json"] = len(captions["annotations"])
        if out_dir.exists():
            out_dir.rmdir()
        os.rename(staging, out_dir)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"export_coco: cannot write {out_dir}: {error}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"out_dir": str(out_dir), "images": len(written), "files": files}


def _checked_splits(split_indices: dict, count: int) -> dict:
    splits = {}
    for name, indices in split_indices.items():
        indices = [int(i) for i in indices]
        if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
            raise DataError(f"export_coco: split names must be letters, digits, '_' or '-' (they name files), got {name!r}")
        if any(not 0 <= i < count for i in indices):
            raise DataError(f"export_coco: split {name!r} has indices outside [0, {count})")
        splits[str(name)] = indices
    return splits


def _coco_documents(source: Source, indices: list[int]) -> tuple[dict, Optional[dict]]:
    """The instances document and (when the source has captions) the captions document of `indices`."""
    from pycocotools import mask as mask_utils

    features = source.features or {}
    _, height, width, _ = source.images.shape
    images = [{"id": i + 1, "file_name": f"{i + 1}.png", "height": int(height), "width": int(width)} for i in indices]
    categories = [{"id": c + 1, "name": name} for c, name in enumerate(source.class_names)]
    if KEYPOINTS in features:
        count = features[KEYPOINTS].shape[2]
        names = list(source.meta.get("keypoint_names") or [f"keypoint_{k}" for k in range(count)])
        for category in categories:
            category.update(keypoints=names, skeleton=[])
    annotations = []
    if BOXES in features and CLASSES in features:
        for i in indices:
            for m in np.flatnonzero(features[CLASSES][i] != PADDING_CLASS):
                x0, y0, x1, y1 = (float(v) for v in features[BOXES][i, m])
                annotation = {"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(features[CLASSES][i, m]) + 1,
                              "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
                if MASKS in features:
                    mask = np.asfortranarray(features[MASKS][i, m].astype(np.uint8))
                    rle = mask_utils.encode(mask)
                    annotation["segmentation"] = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}
                    annotation["area"] = float(mask.sum())
                if KEYPOINTS in features:
                    annotation["keypoints"], annotation["num_keypoints"] = _coco_keypoints(features[KEYPOINTS][i, m])
                annotations.append(annotation)
    info = {"description": "exported by kerascv_suite"}
    instances = {"info": info, "licenses": [], "images": images, "annotations": annotations, "categories": categories}
    if CAPTIONS not in features:
        return instances, None
    captions = []
    for i in indices:
        text = features[CAPTIONS][i]
        text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
        if text:
            captions.append({"id": len(captions) + 1, "image_id": i + 1, "caption": text})
    return instances, {"info": info, "licenses": [], "images": images, "annotations": captions}


def _coco_keypoints(points: np.ndarray) -> tuple[list[float], int]:
    """(x, y, visible) rows → COCO's flat [x, y, v, ...] (v 2 visible, 1 labelled only, 0 absent) and their count."""
    flat, labelled = [], 0
    for x, y, visible in points.astype(float):
        v = 2 if visible > 0 else (1 if x or y else 0)
        flat += [x, y, v] if v else [0.0, 0.0, 0]
        labelled += v > 0
    return flat, labelled


# ---------------------------------------------------------------- reading


@DATASETS.register("coco")
def coco(
    annotations: FilePath,
    images: DirectoryPath,
    captions: Optional[FilePath] = None,
    max_objects: PositiveInt = 20,
    image_size: Optional[tuple[PositiveInt, PositiveInt]] = None,
    channels: Literal[1, 3] = 3,
) -> Source:
    """A COCO annotation file: boxes, classes, masks, keypoints and captions, whichever it holds.

    Boxes and classes come from the instance annotations; masks (and the semantic mask painted
    from them, later annotations on top) when any has a segmentation (one without gets an empty
    mask); keypoints when the categories declare them; captions from caption annotations (the
    first of each image; "" when none). Crowd annotations (``iscrowd`` 1) mark regions, not
    objects, and are left out (counted in ``meta["crowd_annotations"]``). ``labels`` is the class
    of the image's largest object (mask pixels, else box area); an image without objects gets
    label 0, counted in ``meta["images_without_objects"]``. A file without categories (captions
    only) has the single class ``"image"``. Every annotation is checked first, so a malformed
    one is a one-line `DataError` naming its id and field; a missing or unreadable image file is
    skipped with its annotations and listed in ``skipped``.

    Args:
        annotations: the COCO JSON file (``images``, ``annotations``, ``categories``).
        images: the folder the images' ``file_name`` entries are relative to.
        captions: an optional COCO captions file (``annotations`` of ``{id, image_id, caption}``)
            for the same images.
        max_objects: the contract's M: objects per image beyond it are dropped (the first ones in
            file order are kept) and counted in ``meta["dropped_objects"]``.
        image_size: (height, width) to resize every image to (bilinear; masks nearest; boxes and
            keypoints scaled); needed when the images differ in size.
        channels: 3 for RGB, 1 for grayscale.

    ``meta`` holds ``provides`` (the features this file gave), ``category_ids``, ``max_objects``,
    ``dropped_objects``, ``crowd_annotations``, ``images_without_objects``, and
    ``keypoint_names`` / ``semantic_class_names`` when those features are present.
    """
    from pycocotools.coco import COCO

    where = f"coco: {annotations}"
    document = _checked_document(_read_json(annotations), where, captions_only=False)
    if captions is not None:
        caption_file = _checked_document(_read_json(captions), f"coco: {captions}", captions_only=True, images=document["images"])
        document["captions"] += caption_file["captions"]
    api = COCO()
    api.dataset = {"images": list(document["images"].values()), "annotations": document["instances"], "categories": document["categories"]}
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()

    category_ids = sorted(c["id"] for c in document["categories"])
    class_of = {cid: c for c, cid in enumerate(category_ids)}
    keypoint_names = document["keypoint_names"]
    has_masks = any(_has_segmentation(a) and not a.get("iscrowd", 0) for a in document["instances"])
    first_caption = {}
    for annotation in document["captions"]:
        first_caption.setdefault(annotation["image_id"], annotation["caption"])

    examples, skipped, size = [], [], image_size
    dropped = crowds = 0
    for image_id, entry in document["images"].items():
        pixels = _read_image(Path(images) / entry["file_name"], channels)
        if pixels is None:
            skipped.append(str(Path(images) / entry["file_name"]))
            continue
        if pixels.shape[:2] != (entry["height"], entry["width"]):
            raise DataError(f"{where}: image {image_id} ({entry['file_name']}) is {pixels.shape[1]}×{pixels.shape[0]} pixels "
                            f"but the file says width {entry['width']}, height {entry['height']}")
        size = size or pixels.shape[:2]
        if tuple(size) != pixels.shape[:2] and image_size is None:
            raise DataError(f"{where}: images differ in size ({size[1]}×{size[0]} and {pixels.shape[1]}×{pixels.shape[0]} "
                            "width×height); set image_size: [height, width] to resize them to one")
        objects = [a for a in api.imgToAnns[image_id] if not a.get("iscrowd", 0)]
        crowds += len(api.imgToAnns[image_id]) - len(objects)
        dropped += max(0, len(objects) - max_objects)
        example = _example(api, pixels, objects, tuple(size), class_of, len(keypoint_names), max_objects, channels)
        examples.append({**example, CAPTIONS: first_caption.get(image_id, "")})
    if not examples:
        raise DataError(f"{where}: none of its {len(document['images'])} images could be read from {images}")

    provided = {IMAGES, LABELS}
    if document["instances"]:
        provided |= {BOXES, CLASSES}
        if has_masks:
            provided |= {MASKS, SEMANTIC_MASK}
        if keypoint_names:
            provided.add(KEYPOINTS)
    if document["captions"]:
        provided.add(CAPTIONS)
    features = {key: np.stack([e[key] for e in examples]) for key in FEATURES if key in provided and key not in (IMAGES, LABELS, CAPTIONS)}
    if CAPTIONS in provided:
        features[CAPTIONS] = np.array([e[CAPTIONS] for e in examples], object)
    names = {c["id"]: c["name"] for c in document["categories"]}
    class_names = [names[cid] for cid in category_ids] or ["image"]
    meta = {
        "provides": frozenset(provided), "category_ids": category_ids, "max_objects": max_objects, "dropped_objects": dropped,
        "crowd_annotations": crowds, "images_without_objects": sum(e["count"] == 0 for e in examples),
    }
    if KEYPOINTS in provided:
        meta["keypoint_names"] = keypoint_names
    if SEMANTIC_MASK in provided:
        meta["semantic_class_names"] = ["background", *class_names]
    return Source(labels=[e[LABELS] for e in examples], class_names=class_names, images=np.stack([e[IMAGES] for e in examples]),
                  skipped=skipped, features=features, meta=meta)


coco.provides = frozenset(FEATURES)


def _example(api, pixels, objects, size, class_of, keypoint_count, max_objects, channels) -> dict:
    """One image's features at `size` (height, width), from its non-crowd annotations."""
    from PIL import Image

    height, width = pixels.shape[:2]
    sy, sx = size[0] / height, size[1] / width
    if (height, width) != size:
        resized = Image.fromarray(pixels[..., 0] if channels == 1 else pixels).resize((size[1], size[0]), Image.BILINEAR)
        pixels = np.asarray(resized).reshape(*size, channels)
    boxes = np.zeros((max_objects, 4), np.float32)
    classes = np.full(max_objects, PADDING_CLASS, np.int32)
    masks = np.zeros((max_objects, *size), np.uint8)
    keypoints = np.zeros((max_objects, keypoint_count, 3), np.float32)
    semantic = np.zeros(size, np.uint8)
    label, largest = 0, -1.0
    for m, annotation in enumerate(objects):
        x, y, w, h = (float(v) for v in annotation["bbox"])
        mask = api.annToMask(annotation) if _has_segmentation(annotation) else None
        area = float(mask.sum()) if mask is not None else w * h
        if area > largest:
            label, largest = class_of[annotation["category_id"]], area
        if mask is not None and (height, width) != size:
            mask = np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))
        if mask is not None:
            semantic[mask > 0] = class_of[annotation["category_id"]] + 1
        if m >= max_objects:
            continue
        boxes[m] = [x * sx, y * sy, (x + w) * sx, (y + h) * sy]
        classes[m] = class_of[annotation["category_id"]]
        if mask is not None:
            masks[m] = mask
        if annotation.get("keypoints"):
            points = np.asarray(annotation["keypoints"], np.float64).reshape(-1, 3)
            labelled = points[:, 2] > 0
            keypoints[m, :, 0] = np.where(labelled, points[:, 0] * sx, 0)
            keypoints[m, :, 1] = np.where(labelled, points[:, 1] * sy, 0)
            keypoints[m, :, 2] = points[:, 2] == 2
    return {IMAGES: pixels, LABELS: label, BOXES: boxes, CLASSES: classes, MASKS: masks, SEMANTIC_MASK: semantic,
            KEYPOINTS: keypoints, "count": len(objects)}


def _read_image(path: Path, channels: int) -> Optional[np.ndarray]:
    """The image's uint8 pixels [H, W, channels], or None when the file is missing or unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return pixels.reshape(*pixels.shape[:2], channels)


def _has_segmentation(annotation: dict) -> bool:
    return bool(annotation.get("segmentation"))


# ---------------------------------------------------------------- checking the file


def _read_json(path) -> object:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"coco: {path}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"coco: {path}: cannot read the file ({error})") from None


def _checked_document(data, where: str, captions_only: bool, images: Optional[dict] = None) -> dict:
    """The file's parts once every entry is well formed: images by id, categories, instances, captions, keypoint names.

    `captions_only` checks a captions file, whose annotations must be captions of `images`.
    """
    required = ("annotations",) if captions_only else ("images",)
    if not isinstance(data, dict) or any(key not in data for key in required):
        raise DataError(f"{where}: not a COCO annotation file (expected a JSON object with "
                        f"{'an annotations list' if captions_only else 'images, annotations and categories lists'})")
    for key in ("images", "annotations", "categories"):
        if key in data and not isinstance(data[key], list):
            raise DataError(f"{where}: '{key}' must be a list, got {type(data[key]).__name__}")
    if images is None:
        images = {}
        for k, entry in enumerate(data["images"]):
            label = _entry_label("image", entry, k, "images")
            _require(entry, ("id", "file_name", "height", "width"), where, label)
            if not _is_int(entry["id"]) or entry["id"] in images:
                raise DataError(f"{where}: {label}: id must be an integer not used by another image, got {entry['id']!r}")
            if not isinstance(entry["file_name"], str) or not entry["file_name"]:
                raise DataError(f"{where}: {label}: file_name must be a non-empty string, got {entry['file_name']!r}")
            for field in ("height", "width"):
                if not _is_int(entry[field]) or entry[field] <= 0:
                    raise DataError(f"{where}: {label}: {field} must be a positive integer, got {entry[field]!r}")
            images[entry["id"]] = entry
        if not images:
            raise DataError(f"{where}: the file lists no images")
    categories = {}
    for k, entry in enumerate(data.get("categories", [])):
        label = _entry_label("category", entry, k, "categories")
        _require(entry, ("id", "name"), where, label)
        if not _is_int(entry["id"]) or entry["id"] in categories:
            raise DataError(f"{where}: {label}: id must be an integer not used by another category, got {entry['id']!r}")
        if not isinstance(entry["name"], str):
            raise DataError(f"{where}: {label}: name must be a string, got {entry['name']!r}")
        names = entry.get("keypoints", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(f"{where}: {label}: keypoints must be a list of keypoint names, got {names!r}")
        categories[entry["id"]] = entry
    keypoint_names = _keypoint_names(categories, where)
    instances, captions, seen = [], [], set()
    for k, entry in enumerate(data.get("annotations", [])):
        label = _entry_label("annotation", entry, k, "annotations")
        _require(entry, ("id", "image_id"), where, label)
        if not _is_int(entry["id"]) or entry["id"] in seen:
            raise DataError(f"{where}: {label}: id must be an integer not used by another annotation, got {entry['id']!r}")
        seen.add(entry["id"])
        if not _is_int(entry["image_id"]) or entry["image_id"] not in images:
            raise DataError(f"{where}: {label}: image_id {entry['image_id']!r} is not in the file's images")
        if "caption" in entry or captions_only:
            _require(entry, ("caption",), where, label)
            if not isinstance(entry["caption"], str):
                raise DataError(f"{where}: {label}: caption must be a string, got {entry['caption']!r}")
            captions.append(entry)
            continue
        _check_instance(entry, where, label, categories, images[entry["image_id"]])
        instances.append(entry)
    return {"images": images, "categories": list(categories.values()), "instances": instances, "captions": captions,
            "keypoint_names": keypoint_names}


def _check_instance(entry: dict, where: str, label: str, categories: dict, image: dict) -> None:
    _require(entry, ("category_id", "bbox"), where, label)
    if not _is_int(entry["category_id"]) or entry["category_id"] not in categories:
        raise DataError(f"{where}: {label}: category_id {entry['category_id']!r} is not in the file's categories")
    bbox = entry["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox) and bbox[2] >= 0 and bbox[3] >= 0):
        raise DataError(f"{where}: {label}: bbox must be 4 numbers [x, y, w, h] with w, h ≥ 0, got {bbox!r}")
    if entry.get("iscrowd", 0) not in (0, 1) or isinstance(entry.get("iscrowd", 0), bool):
        raise DataError(f"{where}: {label}: iscrowd must be 0 or 1, got {entry['iscrowd']!r}")
    if "segmentation" in entry:
        problem = _segmentation_problem(entry["segmentation"], image["height"], image["width"])
        if problem:
            raise DataError(f"{where}: {label}: segmentation {problem}")
    names = categories[entry["category_id"]].get("keypoints", [])
    points = entry.get("keypoints", [])
    if not isinstance(points, list) or not all(_is_number(v) for v in points):
        raise DataError(f"{where}: {label}: keypoints must be a list of numbers [x, y, v, ...], got {points!r}")
    if points and not names:
        raise DataError(f"{where}: {label}: keypoints given but category {entry['category_id']} declares no keypoint names")
    if points and len(points) != 3 * len(names):
        raise DataError(f"{where}: {label}: keypoints must be {3 * len(names)} numbers ([x, y, v] for each of "
                        f"{len(names)} keypoints), got {len(points)}")
    if any(v not in (0, 1, 2) for v in points[2::3]):
        raise DataError(f"{where}: {label}: keypoints visibility v must be 0, 1 or 2, got {sorted(set(points[2::3]))}")


def _segmentation_problem(segmentation, height: int, width: int) -> str:
    """What is wrong with a polygon list or RLE (empty when nothing), checked so pycocotools only sees valid input."""
    if isinstance(segmentation, list):
        for polygon in segmentation:
            if not (isinstance(polygon, list) and len(polygon) >= 6 and len(polygon) % 2 == 0 and all(_is_number(v) for v in polygon)):
                return "polygons must be lists of at least 3 (x, y) points as an even count of numbers"
        return ""
    if not isinstance(segmentation, dict) or "counts" not in segmentation or "size" not in segmentation:
        return "must be a list of polygons or an RLE {counts, size}"
    if segmentation["size"] != [height, width]:
        return f"RLE size {segmentation['size']!r} is not the image's [height, width] [{height}, {width}]"
    counts = segmentation["counts"]
    if isinstance(counts, str):
        runs = _rle_string_runs(counts)
        if runs is None:
            return "RLE counts is not a valid compressed RLE string"
    elif isinstance(counts, list) and all(_is_int(v) for v in counts):
        runs = counts
    else:
        return "RLE counts must be a compressed string or a list of integers"
    if any(r < 0 for r in runs) or sum(runs) != height * width:
        return f"RLE runs must be non-negative and cover height × width = {height * width} pixels, got {sum(runs)}"
    return ""


def _rle_string_runs(counts: str) -> Optional[list[int]]:
    """The run lengths of a compressed RLE string (pycocotools' rleFrString), or None when it is malformed.

    Decoded here because pycocotools writes past its buffer on runs that do not sum to h × w.
    """
    runs, value, shift = [], 0, 0
    for char in counts:
        code = ord(char) - 48
        if not 0 <= code < 64:
            return None
        value |= (code & 0x1F) << (5 * shift)
        shift += 1
        if code & 0x20:
            continue
        if code & 0x10:
            value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
        value = shift = 0
    return runs if shift == 0 else None


def _keypoint_names(categories: dict, where: str) -> list[str]:
    """The one keypoint list the categories declare (the contract has one K per source)."""
    declared = {cid: c["keypoints"] for cid, c in categories.items() if c.get("keypoints")}
    lists = list(declared.values())
    if any(names != lists[0] for names in lists):
        ids = [cid for cid, names in declared.items() if names != lists[0]]
        raise DataError(f"{where}: categories {next(iter(declared))} and {ids[0]} declare different keypoints; one keypoint list per file is supported")
    return list(lists[0]) if lists else []


def _entry_label(kind: str, entry, index: int, key: str) -> str:
    if not isinstance(entry, dict):
        return f"{key}[{index}]"
    return f"{kind} {entry['id']}" if "id" in entry and _is_int(entry["id"]) else f"{key}[{index}]"


def _require(entry, fields: tuple, where: str, label: str) -> None:
    if not isinstance(entry, dict):
        raise DataError(f"{where}: {label}: must be a JSON object, got {type(entry).__name__}")
    missing = [f for f in fields if f not in entry]
    if missing:
        raise DataError(f"{where}: {label}: missing required field '{missing[0]}'")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


__all__ = ["coco", "export_coco"]
