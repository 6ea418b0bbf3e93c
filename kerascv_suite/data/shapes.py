"""The `shapes` source: seeded scenes of coloured shapes, with every annotation of the contract.

Detection, segmentation, keypoint and captioning tasks need labelled data that is small,
fast, exact and downloads nothing. `render_scenes` draws each scene on the pixel grid of
`kerascv_suite.data.examples` (pixel (i, j) covers [j, j + 1) × [i, i + 1)): a background
(plain, noisy, or a tinted crop of scikit-image's brick/grass/gravel textures), then one to a
few shapes of random class, colour, size, position and rotation, each painted over the
earlier ones. A pixel belongs to a shape when its centre lies inside the shape, and every
annotation is read from that one instance-id map, so boxes, masks, semantic masks and
keypoint visibility agree with the pixels exactly, occlusion included. Captions come from a
small grammar over the same objects ("a large red circle left of a small blue square").

Scene i depends only on (seed, i), never on how many scenes are asked for, and NumPy's
PCG64 generator gives the same numbers on every machine.

Example::

    scenes = render_scenes(4, seed=0, image_size=(32, 32), max_objects=2)
    scenes["images"].shape      # (4, 32, 32, 3)
    scenes["masks"].shape       # (4, 2, 32, 32)
    scenes["captions"][0]       # e.g. 'a large cyan square above a small red circle'
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import skimage.data
from pydantic import NonNegativeInt, PositiveInt

from kerascv_suite.data.examples import (
    BOXES, CAPTIONS, CLASSES, IMAGES, KEYPOINTS, LABELS, MASKS, PADDING_CLASS, SEMANTIC_MASK,
)
from kerascv_suite.data.sources import Source
from kerascv_suite.registry import DATASETS
from kerascv_suite.spec.errors import DataError

ShapeClass = Literal["circle", "square", "triangle", "rectangle", "pentagon", "hexagon", "star", "ellipse"]
Background = Literal["plain", "noisy", "textured"]
SHAPE_CLASSES: tuple[str, ...] = get_args(ShapeClass)
BACKGROUNDS: tuple[str, ...] = get_args(Background)
# Corners each class marks as keypoints after its centre (a star's are its five tips).
CORNERS = {"circle": 0, "ellipse": 0, "triangle": 3, "square": 4, "rectangle": 4, "pentagon": 5, "hexagon": 6, "star": 5}
REGULAR_POLYGONS = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}
# Saturated shape colours, named in captions; a scene uses those far from its background.
PALETTE = {
    "red": (230, 25, 25), "green": (30, 200, 40), "blue": (30, 80, 240), "yellow": (245, 225, 20),
    "magenta": (225, 35, 225), "cyan": (20, 215, 230), "orange": (250, 140, 0), "white": (250, 250, 250),
}
_PALETTE_RGB = np.array(list(PALETTE.values()), np.float64)
TEXTURES = ("brick", "grass", "gravel")

MIN_COLOUR_DISTANCE = 150.0   # RGB distance between a shape's colour and the background's base colour
NOISE_STD = 16.0              # grey levels of the noisy background's Gaussian noise
TEXTURE_CONTRAST = 0.6        # how strongly a texture modulates the background's base colour
MIN_VISIBLE_PIXELS = 8        # an object must keep this many visible pixels ...
MIN_VISIBLE_FRACTION = 0.25   # ... and this fraction of its own area, after occlusion
MIN_DIAMETER = 8.0            # pixels: the smallest shape whose corners still fall on its own pixels
ASPECT_RANGE = (0.45, 0.75)   # minor / major extent of rectangles and ellipses
STAR_INNER_RATIO = 0.45       # radius of a star's inner vertices relative to its tips
# A corner moves inward until it is this far from both its edges: more than half a pixel
# diagonal (0.707), so the pixel containing the keypoint has its centre inside the shape.
CORNER_MARGIN = 0.75
PLACEMENT_TRIES = 50          # samples of one object before the scene stops adding objects
SCENE_RESTARTS = 20           # fresh starts of a scene that could not reach min_objects


@dataclass(frozen=True)
class _Shape:
    """One object: class, centre (x, y), circumradius and rotation in pixels/radians, colour name."""

    kind: str
    cx: float
    cy: float
    radius: float
    angle: float
    aspect: float
    colour: str

    def vertices(self) -> np.ndarray:
        """The outline of a polygon class, counter-clockwise, as [V, 2] (x, y)."""
        if self.kind in REGULAR_POLYGONS:
            n = REGULAR_POLYGONS[self.kind]
            return self._on_circle(self.angle + 2 * np.pi * np.arange(n) / n, self.radius)
        if self.kind == "rectangle":
            half = math.atan(self.aspect)
            return self._on_circle(self.angle + np.array([half, np.pi - half, np.pi + half, -half]), self.radius)
        angles = self.angle + np.pi * np.arange(10) / 5  # star: tips and inner vertices alternate
        radii = np.where(np.arange(10) % 2 == 0, self.radius, STAR_INNER_RATIO * self.radius)
        return self._on_circle(angles, radii)

    def _on_circle(self, angles, radii) -> np.ndarray:
        return np.stack([self.cx + radii * np.cos(angles), self.cy + radii * np.sin(angles)], axis=1)

    def mask(self, height: int, width: int) -> np.ndarray:
        """bool [H, W]: the pixels whose centres lie inside the shape."""
        r0, r1 = max(0, int(self.cy - self.radius)), min(height, int(self.cy + self.radius) + 2)
        c0, c1 = max(0, int(self.cx - self.radius)), min(width, int(self.cx + self.radius) + 2)
        y = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
        x = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5
        if self.kind == "circle":
            inside = (x - self.cx) ** 2 + (y - self.cy) ** 2 <= self.radius ** 2
        elif self.kind == "ellipse":
            cos, sin = math.cos(self.angle), math.sin(self.angle)
            u, v = (x - self.cx) * cos + (y - self.cy) * sin, (y - self.cy) * cos - (x - self.cx) * sin
            inside = (u / self.radius) ** 2 + (v / (self.aspect * self.radius)) ** 2 <= 1
        elif self.kind == "star":
            outline = self.vertices()
            tips, inner = outline[0::2], outline[1::2]
            inside = _inside_convex(inner, x, y)
            for k in range(5):
                inside |= _inside_convex(np.stack([inner[k - 1], tips[k], inner[k]]), x, y)
        else:
            inside = _inside_convex(self.vertices(), x, y)
        full = np.zeros((height, width), bool)
        full[r0:r1, c0:c1] = inside
        return full

    def keypoints(self) -> np.ndarray:
        """[1 + corners, 2] (x, y): the centre, then each corner moved CORNER_MARGIN inside its edges."""
        points = [(self.cx, self.cy)]
        if CORNERS[self.kind]:
            outline = self.vertices()
            step = 2 if self.kind == "star" else 1
            for j in range(0, len(outline), step):
                vertex = outline[j]
                to_prev = _unit(outline[j - 1] - vertex)
                to_next = _unit(outline[(j + 1) % len(outline)] - vertex)
                half_angle = math.acos(float(np.clip(to_prev @ to_next, -1, 1))) / 2
                points.append(vertex + _unit(to_prev + to_next) * CORNER_MARGIN / math.sin(half_angle))
        return np.asarray(points)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _inside_convex(vertices: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points (x, y) inside or on the convex counter-clockwise polygon `vertices` [V, 2]."""
    inside = np.ones(np.broadcast_shapes(x.shape, y.shape), bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        inside &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0
    return inside


@functools.lru_cache(maxsize=None)
def _texture(name: str) -> np.ndarray:
    """One of scikit-image's bundled grayscale textures, as float in [0, 1] (no download)."""
    return getattr(skimage.data, name)().astype(np.float64) / 255.0


def _background(rng: np.random.Generator, height: int, width: int, background: str) -> tuple[np.ndarray, np.ndarray]:
    """float [H, W, 3] background pixels and its base colour [3]: a dark or light grey, tinted."""
    level = rng.uniform(10, 80) if rng.random() < 0.5 else rng.uniform(170, 235)
    base = np.clip(level + rng.uniform(-25, 25, size=3), 0, 255)
    pixels = np.broadcast_to(base, (height, width, 3)).copy()
    if background == "noisy":
        pixels += rng.normal(0.0, NOISE_STD, size=pixels.shape)
    elif background == "textured":
        texture = _texture(TEXTURES[rng.integers(len(TEXTURES))])
        # Crop `factor` times the image size and average factor × factor blocks: a random scale.
        factor = int(rng.integers(1, max(1, min(4, 512 // max(height, width))) + 1))
        need = (height * factor, width * factor)
        if need[0] > texture.shape[0] or need[1] > texture.shape[1]:
            texture = np.pad(texture, [(0, max(0, n - s)) for n, s in zip(need, texture.shape)], mode="symmetric")
        top = rng.integers(texture.shape[0] - need[0] + 1)
        left = rng.integers(texture.shape[1] - need[1] + 1)
        crop = texture[top:top + need[0], left:left + need[1]].reshape(height, factor, width, factor).mean(axis=(1, 3))
        pixels += (TEXTURE_CONTRAST * 255.0) * (crop - crop.mean())[..., None]
    return pixels, base


@dataclass(frozen=True)
class _Config:
    height: int
    width: int
    classes: tuple[str, ...]
    min_objects: int
    max_objects: int
    min_diameter: float
    max_diameter: float
    background: str


def _sample_shape(rng: np.random.Generator, config: _Config, colours: list[str]) -> _Shape:
    """A random shape lying wholly inside the image (every draw uses the same random numbers)."""
    kind = config.classes[rng.integers(len(config.classes))]
    radius = rng.uniform(config.min_diameter, config.max_diameter) / 2
    return _Shape(
        kind=kind,
        cx=rng.uniform(radius, config.width - radius),
        cy=rng.uniform(radius, config.height - radius),
        radius=radius,
        angle=rng.uniform(0, 2 * np.pi),
        aspect=rng.uniform(*ASPECT_RANGE),
        colour=colours[rng.integers(len(colours))],
    )


def _place_objects(rng: np.random.Generator, config: _Config, colours: list[str]) -> tuple[list[_Shape], np.ndarray]:
    """Shapes in depth order and the id map [H, W] (−1 background, k where object k is visible).

    A new object is resampled while it would leave any object (itself included) with too few
    visible pixels; when it cannot be placed the scene keeps what it has, or starts afresh
    while it has fewer than min_objects.
    """
    count = int(rng.integers(config.min_objects, config.max_objects + 1))
    for _ in range(SCENE_RESTARTS):
        shapes, areas = [], []
        ids = np.full((config.height, config.width), -1, np.int32)
        for k in range(count):
            for _ in range(PLACEMENT_TRIES):
                shape = _sample_shape(rng, config, colours)
                mask = shape.mask(config.height, config.width)
                candidate = np.where(mask, k, ids)
                visible = np.bincount(candidate[candidate >= 0], minlength=k + 1)
                needed = np.maximum(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * np.array(areas + [mask.sum()]))
                if np.all(visible >= needed):
                    shapes.append(shape)
                    areas.append(int(mask.sum()))
                    ids = candidate
                    break
            else:
                break
        if len(shapes) >= config.min_objects:
            return shapes, ids
    raise DataError(
        f"shapes: could not place {config.min_objects} visible objects of {config.min_diameter:g}–"
        f"{config.max_diameter:g} px in a {config.height}×{config.width} image; lower min_objects or max_size"
    )


def _caption(shapes: list[_Shape], visible: np.ndarray, config: _Config) -> str:
    """'a large red circle left of a small blue square': the two most visible objects, the larger first."""
    middle = (config.min_diameter + config.max_diameter) / 2

    def phrase(shape: _Shape) -> str:
        return f"a {'large' if 2 * shape.radius >= middle else 'small'} {shape.colour} {shape.kind}"

    order = np.argsort(-visible, kind="stable")
    subject = shapes[order[0]]
    if len(shapes) == 1:
        return phrase(subject)
    other = shapes[order[1]]
    dx, dy = subject.cx - other.cx, subject.cy - other.cy
    if abs(dx) >= abs(dy):
        relation = "left of" if dx < 0 else "right of"
    else:
        relation = "above" if dy < 0 else "below"
    return f"{phrase(subject)} {relation} {phrase(other)}"


def keypoint_names(classes) -> list[str]:
    """["centre", "corner_1", ...]: the keypoint slots of scenes drawing `classes`."""
    return ["centre"] + [f"corner_{i}" for i in range(1, 1 + max(CORNERS[c] for c in classes))]


def _check_arguments(n, seed, image_size, min_objects, max_objects, classes, background, min_size, max_size) -> None:
    problems = []
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        problems.append(f"shapes: number of scenes must be a positive integer, got {n!r}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        problems.append(f"shapes: seed must be a non-negative integer, got {seed!r}")
    size_ok = len(image_size) == 2 and min(image_size) >= MIN_DIAMETER
    if not size_ok:
        problems.append(f"shapes: image_size must be (height, width), each at least {MIN_DIAMETER:g} pixels, got {tuple(image_size)}")
    if not 1 <= min_objects <= max_objects:
        problems.append(f"shapes: need 1 <= min_objects <= max_objects, got min_objects={min_objects}, max_objects={max_objects}")
    unknown = [c for c in classes if c not in SHAPE_CLASSES]
    if not classes or unknown or len(set(classes)) != len(classes):
        problems.append(f"shapes: classes must be distinct names from {', '.join(SHAPE_CLASSES)}, got {list(classes)}")
    if background not in BACKGROUNDS:
        problems.append(f"shapes: background must be one of {', '.join(BACKGROUNDS)}, got {background!r}")
    if not 0 < min_size <= max_size <= 1:
        problems.append(f"shapes: need 0 < min_size <= max_size <= 1 (fractions of the shorter image side), "
                        f"got min_size={min_size}, max_size={max_size}")
    elif size_ok and min_size * min(image_size) < MIN_DIAMETER:
        problems.append(f"shapes: min_size={min_size} gives {min_size * min(image_size):g}-pixel shapes on a "
                        f"{image_size[0]}×{image_size[1]} image; at least {MIN_DIAMETER:g} pixels needed, so min_size >= "
                        f"{MIN_DIAMETER / min(image_size):.3g}")
    if problems:
        raise DataError(problems)


def render_scenes(
    n: int,
    seed: int = 0,
    image_size: tuple[int, int] = (64, 64),
    min_objects: int = 1,
    max_objects: int = 3,
    classes=("circle", "square", "triangle"),
    background: str = "plain",
    min_size: float = 0.25,
    max_size: float = 0.5,
) -> dict[str, np.ndarray]:
    """Render `n` seeded scenes and all their annotations, as arrays over the scenes.

    Args:
        n: number of scenes.
        seed: non-negative seed; scene i is drawn from ``np.random.default_rng([seed, i])``.
        image_size: (height, width) in pixels.
        min_objects: fewest objects in a scene (at least 1).
        max_objects: most objects in a scene; M, the number of object rows.
        classes: shape classes to draw, in class-id order (see `SHAPE_CLASSES`).
        background: "plain" (one grey or muted colour), "noisy" (plain plus Gaussian noise) or
            "textured" (a tinted crop of scikit-image's brick, grass or gravel texture).
        min_size: smallest shape diameter (of its circumscribed circle), as a fraction of the
            shorter image side; at least 8 pixels.
        max_size: largest shape diameter, as a fraction of the shorter image side (at most 1).

    Returns:
        The contract's features (`kerascv_suite.data.examples`), N = n, M = max_objects,
        K = 1 + the most corners of any class in `classes`: ``images`` uint8 [N, H, W, 3],
        ``labels`` int64 [N] (the most visible object's class), ``boxes`` float32 [N, M, 4],
        ``classes`` int32 [N, M], ``masks`` uint8 [N, M, H, W], ``semantic_mask`` uint8
        [N, H, W], ``keypoints`` float32 [N, M, K, 3] (centre, then corners; an occluded point
        keeps its (x, y) with visible 0; absent corners and padding rows are 0) and
        ``captions`` object [N] of str.

    Raises:
        DataError: an argument out of range, one line per problem.
    """
    classes = tuple(classes)
    _check_arguments(n, seed, image_size, min_objects, max_objects, classes, background, min_size, max_size)
    height, width = int(image_size[0]), int(image_size[1])
    short = min(height, width)
    config = _Config(height, width, classes, min_objects, max_objects, min_size * short, max_size * short, background)
    m, k_points = max_objects, len(keypoint_names(classes))
    out = {
        IMAGES: np.zeros((n, height, width, 3), np.uint8),
        LABELS: np.zeros(n, np.int64),
        BOXES: np.zeros((n, m, 4), np.float32),
        CLASSES: np.full((n, m), PADDING_CLASS, np.int32),
        MASKS: np.zeros((n, m, height, width), np.uint8),
        SEMANTIC_MASK: np.zeros((n, height, width), np.uint8),
        KEYPOINTS: np.zeros((n, m, k_points, 3), np.float32),
        CAPTIONS: np.empty(n, object),
    }
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        pixels, base = _background(rng, height, width, background)
        far = np.linalg.norm(_PALETTE_RGB - base, axis=1) >= MIN_COLOUR_DISTANCE
        colours = [c for c, keep in zip(PALETTE, far) if keep]
        shapes, ids = _place_objects(rng, config, colours)
        visible = np.bincount(ids[ids >= 0], minlength=len(shapes))
        for k, shape in enumerate(shapes):
            mask = ids == k
            class_id = classes.index(shape.kind)
            pixels[mask] = PALETTE[shape.colour]
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            out[BOXES][i, k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
            out[CLASSES][i, k] = class_id
            out[MASKS][i, k] = mask
            out[SEMANTIC_MASK][i][mask] = class_id + 1
            points = shape.keypoints()
            col, row = np.floor(points[:, 0]).astype(int), np.floor(points[:, 1]).astype(int)
            inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
            on_shape = inside & (ids[np.clip(row, 0, height - 1), np.clip(col, 0, width - 1)] == k)
            out[KEYPOINTS][i, k, :len(points)] = np.column_stack([points, on_shape])
        out[IMAGES][i] = np.clip(np.rint(pixels), 0, 255)
        out[LABELS][i] = classes.index(shapes[int(np.argmax(visible))].kind)
        out[CAPTIONS][i] = _caption(shapes, visible, config)
    return out


@DATASETS.register("shapes")
def shapes(
    num_images: PositiveInt = 2000,
    image_size: tuple[PositiveInt, PositiveInt] = (64, 64),
    min_objects: PositiveInt = 1,
    max_objects: PositiveInt = 3,
    classes: list[ShapeClass] = ["circle", "square", "triangle"],
    background: Background = "plain",
    min_size: float = 0.25,
    max_size: float = 0.5,
    scene_seed: NonNegativeInt = 0,
) -> Source:
    """Seeded scenes of coloured shapes with boxes, masks, keypoints and captions (no download).

    Each image's label is the class of its most visible object; `features` holds the other
    annotations (see `render_scenes` and `kerascv_suite.data.examples`).

    Args:
        num_images: number of scenes.
        image_size: (height, width) in pixels.
        min_objects: fewest objects in a scene.
        max_objects: most objects in a scene, and the number of object rows of every feature.
        classes: shape classes to draw, in class-id order: circle, square, triangle, rectangle,
            pentagon, hexagon, star, ellipse.
        background: plain, noisy (Gaussian noise) or textured (scikit-image brick/grass/gravel).
        min_size: smallest shape diameter as a fraction of the shorter image side (at least 8 px).
        max_size: largest shape diameter as a fraction of the shorter image side (at most 1).
        scene_seed: seed of the scenes (``seed`` is reserved for the seeds the library injects);
            scene i is the same whatever num_images.
    """
    scenes = render_scenes(num_images, scene_seed, tuple(image_size), min_objects, max_objects, classes, background,
                           min_size, max_size)
    images, labels = scenes.pop(IMAGES), scenes.pop(LABELS)
    return Source(
        labels=labels,
        class_names=list(classes),
        images=images,
        features=scenes,
        meta={"keypoint_names": keypoint_names(classes), "max_objects": max_objects,
              "semantic_class_names": ["background", *classes]},
    )


shapes.provides = frozenset({IMAGES, LABELS, BOXES, CLASSES, MASKS, SEMANTIC_MASK, KEYPOINTS, CAPTIONS})

__all__ = ["render_scenes", "keypoint_names", "shapes", "SHAPE_CLASSES", "BACKGROUNDS", "CORNERS", "PALETTE"]
