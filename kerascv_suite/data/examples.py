"""The features-dict contract: what one example holds beyond (image, label).

A source that provides more than images and labels (the `shapes` scene generator, a `coco`
annotation file) gives each example as a dict of named features, with static shapes so a
batch has one shape for XLA:

| key             | dtype   | shape (one example)  | meaning                                                        |
|-----------------|---------|----------------------|----------------------------------------------------------------|
| `images`        | uint8   | [H, W, C]            | pixels (float32 after preprocessing)                            |
| `labels`        | int64   | []                   | one class per image (for shapes: the largest object's class)    |
| `boxes`         | float32 | [M, 4]               | xyxy pixels (x0, y0, x1, y1), x1/y1 exclusive; padding rows 0   |
| `classes`       | int32   | [M]                  | object class ids; −1 marks a padding row                        |
| `masks`         | uint8   | [M, H, W]            | instance masks (1 on the object's visible pixels)               |
| `semantic_mask` | uint8   | [H, W]               | 0 background, c + 1 on pixels of an object of class c           |
| `keypoints`     | float32 | [M, K, 3]            | (x, y, visible) in pixels; visible 0 or 1; padding all 0        |
| `captions`      | string  | []                   | one sentence describing the image                              |

M is the source's `max_objects` (objects beyond it are dropped, rows past the real objects are
padding), K its keypoints per object. Pixel coordinates: x runs along the width, y along the
height, and the pixel (row i, column j) covers [j, j + 1) × [i, i + 1), so a box around it
is (j, i, j + 1, i + 1) and its centre is (j + 0.5, i + 0.5).

A task names the features it consumes (`Task.requires`); a source names the ones it
provides (the registered builder's `provides` attribute, default `CLASSIC`); the spec loader
refuses a pairing that lacks one.

Example::

    from kerascv_suite.data.examples import BOXES, CLASSES, missing_features
    missing_features(task_requires=(BOXES, CLASSES), provides=CLASSIC)   # ['boxes', 'classes']
"""

from __future__ import annotations

IMAGES = "images"
LABELS = "labels"
BOXES = "boxes"
CLASSES = "classes"
MASKS = "masks"
SEMANTIC_MASK = "semantic_mask"
KEYPOINTS = "keypoints"
CAPTIONS = "captions"

FEATURES = (IMAGES, LABELS, BOXES, CLASSES, MASKS, SEMANTIC_MASK, KEYPOINTS, CAPTIONS)
# What every (image, label) source provides.
CLASSIC = frozenset({IMAGES, LABELS})
# Features that move with the image under geometric ops (captions and labels do not).
GEOMETRIC = (BOXES, MASKS, SEMANTIC_MASK, KEYPOINTS)
PADDING_CLASS = -1


def provides(builder) -> frozenset:
    """The features a registered source builder provides (its `provides` attribute, else images and labels)."""
    return frozenset(getattr(builder, "provides", CLASSIC))


def missing_features(task_requires, provides) -> list[str]:
    """The features a task needs that a source lacks, in the contract's order."""
    return [key for key in FEATURES if key in set(task_requires) and key not in set(provides)]


__all__ = ["IMAGES", "LABELS", "BOXES", "CLASSES", "MASKS", "SEMANTIC_MASK", "KEYPOINTS", "CAPTIONS",
           "FEATURES", "CLASSIC", "GEOMETRIC", "PADDING_CLASS", "provides", "missing_features"]
