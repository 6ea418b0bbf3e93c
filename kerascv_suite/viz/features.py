"""What the network learned: filters, feature maps, embeddings and the patches a unit likes (CS231n's chapter 8).

Each function takes any `keras.Model` and images [B, H, W, C] float32 already preprocessed as
the model expects; the model runs in inference mode (`training=False`). A `layer` is the name
of a top-level layer of the model.

- `filter_grid`: the first convolution's kernels as one image, each filter scaled to [0, 1] by
  its own minimum and maximum (`plot_filters` draws it). First-layer filters are the only ones
  that live in pixel space, so only they can be looked at directly: oriented edges and blobs.
- `layer_activations`: the feature maps [B, h, w, K] of a layer (`plot_activations` draws one
  image's K channels as a grid): which channels fire where, and how many never do.
- `embed_features`: the flattened features of a layer (default: what the classifier head reads,
  `classifier_features`) reduced to 2-D with scikit-learn's PCA or t-SNE; `plot_embedding`
  scatters them coloured by class and, given the images, sets `tsne_image_grid` beside them:
  every image placed at its embedded position snapped to a grid (one image per cell).
- `max_activating_patches`: for one channel of a layer, the k image positions where it is
  largest and the input patch each sees, its receptive field (`receptive_fields`), clipped to
  the image (`plot_patches` draws them): what the unit looks for.

For nearest neighbours in pixel space against feature space see `kerascv_suite.viz.pixel_space`.

Example::

    model = keras.saving.load_model("runs/lenet5_digits/<timestamp>/model.keras")
    plot_filters(filter_grid(model), "filters.png")
    plot_embedding(embed_features(model, images, method="tsne"), labels, "tsne.png", images=images)
    plot_patches({"c3_act #0": max_activating_patches(model, images, "c3_act", 0, k=8)}, images, "patches.png")
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import keras
import matplotlib
import numpy as np

from kerascv_suite.layers.classifier import classifier_features
from kerascv_suite.models.arithmetic import receptive_fields
from kerascv_suite.viz.plots import to_unit_range
from kerascv_suite.viz.saliency import image_batch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BATCH_SIZE = 256  # images per model call; memory, not results, depends on it
METHODS = ("pca", "tsne")


def _outputs(model: keras.Model, tensor, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The values of the symbolic `tensor` of `model` for `images`, batched, in inference mode."""
    probe = keras.Model(model.inputs[0] if len(model.inputs) == 1 else model.inputs, tensor)
    return np.concatenate([keras.ops.convert_to_numpy(probe(images[i : i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)])


# ------------------------------------------------------------------ first-layer filters

def first_conv_layer(model: keras.Model) -> keras.layers.Layer:
    """The first Conv2D of `model` in its layer order, looking inside nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            return layer
        if isinstance(layer, keras.Model):
            try:
                return first_conv_layer(layer)
            except ValueError:
                continue
    raise ValueError(f"{model.name} has no Conv2D layer whose filters could be drawn")


def filter_grid(model: keras.Model, layer: str | None = None, columns: int | None = None, border: int = 1,
                border_value: float = 1.0) -> np.ndarray:
    """A conv layer's K filters [kh, kw, C] as one image [rows·(kh+border)−border, columns·(kw+border)−border, C].

    Each filter is scaled to [0, 1] by its own minimum and maximum (a constant filter becomes
    0), as CS231n draws AlexNet's first layer: the shape of each filter shows, not its size.
    Filter f sits at row f // columns, column f % columns; `border` pixels of `border_value`
    separate them and fill the unused cells.

    Args:
        layer: a Conv2D's name; default the first Conv2D (`first_conv_layer`), the only one whose
            filters are images. The filters must have 1 (grey) or 3 (colour) input channels.
        columns: filters per row; default ⌈√K⌉.

    Example::

        grid = filter_grid(lenet)                     # 6 filters of 5×5×1 → a 11×17×1 image
        plot_filters(grid, "filters.png")
    """
    conv = model.get_layer(layer) if layer else first_conv_layer(model)
    kernel = keras.ops.convert_to_numpy(conv.kernel).astype(np.float32)   # [kh, kw, C, K]
    kh, kw, channels, count = kernel.shape
    if channels not in (1, 3):
        raise ValueError(f"layer '{conv.name}' has {channels} input channels; a filter grid draws 1- or 3-channel filters "
                         f"(the first layer's)")
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.full((rows * (kh + border) - border, columns * (kw + border) - border, channels), border_value, np.float32)
    for f in range(count):
        top, left = (f // columns) * (kh + border), (f % columns) * (kw + border)
        grid[top : top + kh, left : left + kw] = to_unit_range(kernel[..., f])
    return grid


def plot_filters(grid: np.ndarray, path: str | Path, title: str = "first-layer filters, each scaled to its own range") -> None:
    """`filter_grid`'s image drawn pixel by pixel (grey for one channel, RGB for three) to `path`."""
    grid = np.asarray(grid, np.float32)
    height, width = grid.shape[:2]
    scale = 4.0 / max(height, width)
    figure, axis = plt.subplots(figsize=(max(width * scale, 2.5), height * scale + 0.5))
    axis.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axis.axis("off")
    axis.set_title(title, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ------------------------------------------------------------------ feature maps

def layer_activations(model: keras.Model, images, layer: str, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The output of `layer` for each image, [B, h, w, K] for a conv layer (any shape the layer has).

    Example::

        maps = layer_activations(lenet, images[:1], "c1_act")     # [1, 28, 28, 6]
        plot_activations(maps[0], "c1.png")
    """
    return _outputs(model, model.get_layer(layer).output, image_batch(images), batch_size)


def plot_activations(maps: np.ndarray, path: str | Path, columns: int | None = None, title: str = "") -> None:
    """One image's feature maps [h, w, K] as a grid of K panels, each on the shared scale of all K (so dead channels look dead)."""
    maps = np.asarray(maps, np.float32)
    count = maps.shape[-1]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    low, high = float(maps.min()), float(maps.max())
    figure, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.2 * rows + 0.4), squeeze=False)
    for k, axis in enumerate(axes.ravel()):
        axis.axis("off")
        if k < count:
            axis.imshow(maps[..., k], cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
            axis.set_title(f"#{k}", fontsize=7)
    figure.suptitle(title or f"{count} feature maps, one scale [{low:.2g}, {high:.2g}]", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# ------------------------------------------------------------------ embeddings

def features_of(model: keras.Model, images, layer: str | None = None, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The flattened output of `layer` (default: the input of the classifier head, `classifier_features`), [B, D]."""
    tensor = model.get_layer(layer).output if layer else classifier_features(model)
    values = _outputs(model, tensor, image_batch(images), batch_size)
    return values.reshape(len(values), -1)


def embed_features(model: keras.Model, images, layer: str | None = None, method: str = "pca", seed: int = 0,
                   perplexity: float = 30.0) -> np.ndarray:
    """2-D coordinates [B, 2] of the images' flattened features, by scikit-learn's PCA or t-SNE.

    PCA (`sklearn.decomposition.PCA(2)`) is the linear projection that keeps the most variance;
    t-SNE (`sklearn.manifold.TSNE(2, init="pca")`, van der Maaten & Hinton, 2008) keeps who is
    near whom, not distances, so only its neighbourhoods are meaningful. On features a network
    learned, classes form clusters that they do not form on pixels.

    Args:
        layer: whose output to embed; default the classifier's input (`classifier_features`).
        method: "pca" or "tsne".
        seed: t-SNE's `random_state` (PCA here is exact and needs none).
        perplexity: t-SNE's effective number of neighbours, lowered to B − 1 for tiny batches.

    Example::

        xy = embed_features(lenet, test_images, method="tsne", seed=0)
        plot_embedding(xy, test_labels, "tsne.png", images=test_images)
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got '{method}'")
    features = features_of(model, images, layer)
    if method == "pca":
        return PCA(n_components=2, svd_solver="full").fit_transform(features).astype(np.float32)
    tsne = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(perplexity, len(features) - 1.0))
    return tsne.fit_transform(features).astype(np.float32)


def tsne_image_grid(coordinates, images, side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each image placed at its 2-D position snapped to a side×side grid, one image per cell: (canvas, cells).

    The coordinates are scaled to the unit square and each image goes to a distinct cell so that
    the summed squared distance from positions to cell centres is least (an optimal assignment,
    `scipy.optimize.linear_sum_assignment`), so every image appears exactly once and none
    overlap (Karpathy's CNN-codes t-SNE picture).

    Args:
        coordinates: [B, 2], e.g. `embed_features(..., method="tsne")`.
        images: [B, H, W, C].
        side: cells per row and column; default ⌈√B⌉ (side² ≥ B is required).

    Returns:
        canvas [side·H, side·W, C], 0 where a cell is empty; cells [B, 2], the (row, column) of each image.

    Example::

        canvas, cells = tsne_image_grid(xy, test_images)
    """
    from scipy.optimize import linear_sum_assignment

    coordinates, images = np.asarray(coordinates, np.float64), image_batch(images)
    count, (height, width, channels) = len(images), images.shape[1:]
    side = side or math.ceil(math.sqrt(count))
    if side * side < count:
        raise ValueError(f"a {side}×{side} grid has fewer cells than the {count} images")
    low, span = coordinates.min(axis=0), np.ptp(coordinates, axis=0)
    unit = (coordinates - low) / np.where(span > 0, span, 1.0)
    # y grows upwards in a scatter, rows grow downwards in an image: flip so the two pictures agree
    unit[:, 1] = 1.0 - unit[:, 1]
    centres = (np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1).reshape(-1, 2) + 0.5) / side
    cost = np.sum((unit[:, None, ::-1] - centres[None]) ** 2, axis=-1)    # (row ↔ y, column ↔ x)
    owners, chosen = linear_sum_assignment(cost)
    cells = np.zeros((count, 2), np.int64)
    cells[owners] = np.stack(np.divmod(chosen, side), -1)
    canvas = np.zeros((side * height, side * width, channels), np.float32)
    for image, (row, column) in zip(images, cells):
        canvas[row * height : (row + 1) * height, column * width : (column + 1) * width] = image
    return canvas, cells


def plot_embedding(coordinates, labels, path: str | Path, images=None, class_names: list[str] | None = None,
                   title: str = "") -> None:
    """A scatter of the 2-D `coordinates` coloured by class and, given `images`, their `tsne_image_grid` beside it."""
    coordinates, labels = np.asarray(coordinates), np.asarray(labels)
    names = class_names or [str(c) for c in range(int(labels.max()) + 1)]
    panels = 1 if images is None else 2
    figure, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 5.0), squeeze=False)
    colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for c, name in enumerate(names):
        mine = labels == c
        axes[0, 0].scatter(coordinates[mine, 0], coordinates[mine, 1], s=8, color=colours(c % colours.N), label=name)
    axes[0, 0].legend(fontsize=7, markerscale=2, loc="best", ncol=2)
    axes[0, 0].set_xticks([])
    axes[0, 0].set_yticks([])
    axes[0, 0].set_title("embedding, coloured by class", fontsize=9)
    if images is not None:
        canvas, _ = tsne_image_grid(coordinates, images)
        shown = to_unit_range(canvas)
        axes[0, 1].imshow(shown[..., 0] if shown.shape[-1] == 1 else shown, cmap="gray", vmin=0, vmax=1)
        axes[0, 1].axis("off")
        axes[0, 1].set_title("each image at its position, snapped to a grid", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# ------------------------------------------------------------------ maximally activating patches

class Patch(NamedTuple):
    """Where a unit fired: image index, position (row, column) on the layer's map, the activation, and the input box."""

    image: int
    row: int
    column: int
    activation: float
    box: tuple[int, int, int, int]   # top, left, bottom, right (exclusive), clipped to the image


def receptive_box(model: keras.Model, layer: str, row: int, column: int) -> tuple[int, int, int, int]:
    """The input pixels (top, left, bottom, right; exclusive) that position (row, column) of `layer`'s map sees, clipped.

    The receptive field r and jump j come from `receptive_fields`; the centre of position p is
    p·j + offset, with the offset that centres the layer's n positions in the input of size W:
    offset = (W − 1 − (n − 1)·j) / 2. That is exact for 'valid' convolutions and pooling and for
    'same' ones of stride 1; TensorFlow's 'same' padding of an even stride pads one more pixel
    at the bottom and right, which moves the true window up to j/2 pixels up-left of this one.
    """
    row_of = {r.layer: r for r in receptive_fields(model)}[layer]
    size = tuple(int(d) for d in model.inputs[0].shape[1:3])
    box = []
    for p, r, j, n, w in zip((row, column), row_of.receptive_field, row_of.jump, row_of.output_size, size):
        centre = p * j + (w - 1 - (n - 1) * j) / 2
        start = int(math.floor(centre - (r - 1) / 2 + 0.5))
        box.append((max(start, 0), min(start + r, w)))
    (top, bottom), (left, right) = box
    return top, left, bottom, right


def max_activating_patches(model: keras.Model, images, layer: str, channel: int, k: int = 8,
                           one_per_image: bool = True, batch_size: int = BATCH_SIZE) -> list[Patch]:
    """The k (image, position) pairs where channel `channel` of `layer` is largest, largest first, and the box each sees.

    Zeiler & Fergus's and CS231n's "what does this neuron look for": run many images, keep the
    top activations of one unit, and crop the input to the unit's receptive field there
    (`receptive_box`). The crop is `images[p.image, top:bottom, left:right]` for p.box.

    Args:
        layer: a top-level layer with a [B, h, w, K] output.
        channel: which of its K channels.
        one_per_image: keep each image's largest position only (the k images the unit likes
            most); False: the k largest positions over all images (one image may give several).
        Ties go to the earlier image, then the earlier position in row-major order.

    Example::

        patches = max_activating_patches(lenet, test_images, "c3_act", channel=5, k=8)
        [test_images[p.image, p.box[0]:p.box[2], p.box[1]:p.box[3]] for p in patches]   # 14×14 crops
    """
    images = image_batch(images)
    maps = layer_activations(model, images, layer, batch_size)
    if maps.ndim != 4:
        raise ValueError(f"layer '{layer}' outputs shape {maps.shape[1:]}, not an [h, w, K] map")
    unit = maps[..., channel].reshape(len(images), -1)
    width = maps.shape[2]
    if one_per_image:
        where = np.argmax(unit, axis=1)
        best = unit[np.arange(len(unit)), where]
        order = np.argsort(-best, kind="stable")[:k]
        picked = [(int(b), int(where[b])) for b in order]
    else:
        order = np.argsort(-unit.ravel(), kind="stable")[:k]
        picked = [tuple(int(v) for v in divmod(flat, unit.shape[1])) for flat in order]
    patches = []
    for b, position in picked:
        row, column = divmod(position, width)
        patches.append(Patch(b, row, column, float(unit[b, position]), receptive_box(model, layer, row, column)))
    return patches


def crop(images, patch: Patch) -> np.ndarray:
    """The input pixels `patch` sees: `images[patch.image, top:bottom, left:right]`."""
    top, left, bottom, right = patch.box
    return np.asarray(images)[patch.image, top:bottom, left:right]


def plot_patches(units: dict[str, list[Patch]], images, path: str | Path, title: str = "") -> None:
    """One row per unit (`units` maps its name to `max_activating_patches`), its patches left to right with their activations."""
    images = image_batch(images)
    low, high = float(images.min()), float(images.max())
    columns = max(len(patches) for patches in units.values())
    figure, axes = plt.subplots(len(units), columns, figsize=(1.1 * columns + 1.0, 1.25 * len(units) + 0.5), squeeze=False)
    for row, (name, patches) in zip(axes, units.items()):
        for axis in row:
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_frame_on(False)
        for axis, patch in zip(row, patches):
            piece = to_unit_range(crop(images, patch), low, high)
            axis.imshow(piece[..., 0] if piece.shape[-1] == 1 else piece, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axis.set_title(f"{patch.activation:.2f}", fontsize=7)
        row[0].set_ylabel(name, fontsize=7)
    figure.suptitle(title or "input patches where each unit is largest (its receptive field)", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


__all__ = ["first_conv_layer", "filter_grid", "plot_filters", "layer_activations", "plot_activations", "features_of",
           "embed_features", "tsne_image_grid", "plot_embedding", "Patch", "receptive_box", "max_activating_patches",
           "crop", "plot_patches"]
