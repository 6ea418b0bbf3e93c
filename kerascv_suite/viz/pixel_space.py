"""What classifiers on raw pixels see (the syllabus's chapter 2): equal pixel distances, neighbours, templates.

Three pictures from CS231n's image-classification notes:

- **Pixel distance is a poor similarity.** `equal_distance_copies` makes three altered copies of
  one image — shifted by a few pixels, brightened everywhere, and partly occluded — that all
  lie at the same L2 distance from it, so a pixel k-NN finds them equally similar;
  `plot_equal_distances` draws them with that distance in their titles.
- **Whose neighbours?** `nearest_training_images` finds the nearest training images of some
  queries in a k-NN model's own space (pixels, or a trained network's features:
  `kerascv_suite.models.knn`), and `plot_neighbours` sets the pixel neighbours beside the
  feature neighbours, each marked by whether its class is the query's.
- **A linear classifier matches templates.** Its score for class c is W[:, c]·x + b_c, the dot
  product of the image with the weight column of c reshaped to the image's shape: one template
  per class (`linear_templates`, drawn by `plot_templates`).

Example::

    copies = equal_distance_copies(image)              # image [H, W, C] in [0, 1]
    plot_equal_distances(image, copies, "pixel_distance.png")
    plot_templates({"softmax": linear_templates("runs/softmax_digits")}, list("0123456789"), "templates.png")
"""

from __future__ import annotations

from pathlib import Path

import keras
import matplotlib
import numpy as np
from keras import ops

from kerascv_suite.models.knn import KNearestNeighbors, pairwise_distances
from kerascv_suite.models.transfer import resolve_source
from kerascv_suite.spec.errors import UserError
from kerascv_suite.viz.plots import to_unit_range

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_SAME, _OTHER = "tab:green", "tab:red"


def shift_images(images: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """`images` [..., H, W, C] moved `rows` pixels down and `columns` right (negative: up, left); the border they leave is 0.

    0 is the digits' background, so a digit that stays inside the frame moves unchanged.

    Example::

        shift_images(np.eye(3)[..., None], 0, 1)[..., 0]   # [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    """
    images = np.asarray(images)
    moved = np.zeros_like(images)
    height, width = images.shape[-3:-1]

    def spans(offset: int, size: int) -> tuple[slice, slice]:  # (where pixels go, where they come from)
        return (slice(offset, size), slice(0, size - offset)) if offset >= 0 else (slice(0, size + offset), slice(-offset, size))

    (rows_to, rows_from), (columns_to, columns_from) = spans(rows, height), spans(columns, width)
    moved[..., rows_to, columns_to, :] = images[..., rows_from, columns_from, :]
    return moved


def equal_distance_copies(image: np.ndarray, shift: tuple[int, int] = (1, 1), occluder: float = 0.0) -> dict[str, np.ndarray]:
    """Three copies of `image` [H, W, C] at one L2 pixel distance from it, each under a title saying what changed.

    The distance D is the shifted copy's (`shift` = rows down, columns right). The brightened copy
    adds D/√(H·W·C) to every pixel. The occluded copy covers the centre with the smallest square of
    value `occluder` (0: black, which erases a white-on-black digit's strokes there) whose
    difference reaches D, then scales that difference down to exactly D (so the square's pixels
    lie a little short of `occluder`, all by the same share).

    Raises ValueError when even a square over the whole image stays nearer than D.

    Example::

        copies = equal_distance_copies(digit)   # {"shifted 1 px down, 1 px right": ..., "brightened by 0.28": ..., ...}
        {title: np.linalg.norm(copy - digit) for title, copy in copies.items()}   # one distance, three times
    """
    image = np.asarray(image, np.float32)
    shifted = shift_images(image, *shift)
    distance = float(np.linalg.norm(shifted - image))
    brightness = distance / np.sqrt(image.size)
    height, width = image.shape[:2]
    for side in range(1, min(height, width) + 1):
        top, left = (height - side) // 2, (width - side) // 2
        difference = np.zeros_like(image)
        difference[top : top + side, left : left + side] = occluder - image[top : top + side, left : left + side]
        reach = float(np.linalg.norm(difference))
        if reach >= distance:
            break
    else:
        raise ValueError(f"a {occluder} square over the whole image is nearer ({reach:.2f}) than the shifted copy ({distance:.2f})")
    shade = {0.0: "black", 1.0: "white"}.get(float(occluder), f"{occluder:g}-grey")
    return {
        f"shifted {shift[0]} px down, {shift[1]} px right": shifted,
        f"brightened by {brightness:.2f}": image + brightness,
        f"occluded by a {side}×{side} {shade} square": image + difference * (distance / reach),
    }


def plot_equal_distances(image: np.ndarray, copies: dict[str, np.ndarray], path: str | Path,
                         title: str = "the same L2 pixel distance from the original") -> plt.Figure:
    """The original and its copies side by side, each copy titled with its L2 distance to the original, measured.

    Every panel shares one grey scale (0 to the brightest pixel shown), so brightening shows.
    Returns the (closed) figure.
    """
    image = np.asarray(image, np.float32)
    panels = {"original": image, **{text: np.asarray(copy, np.float32) for text, copy in copies.items()}}
    top = max(1.0, max(float(p.max()) for p in panels.values()))
    figure, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0))
    for axis, (text, panel) in zip(axes, panels.items()):
        _show(axis, panel, top)
        axis.set_title(text if panel is image else f"{text}\nL2 = {np.linalg.norm(panel - image):.2f}", fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return figure


def nearest_training_images(knn: KNearestNeighbors, queries: np.ndarray, references: np.ndarray, k: int) -> np.ndarray:
    """Indices [Q, k] of the `k` images of `references` nearest each query, nearest first, in `knn`'s space.

    The space is the model's own (`knn.embed`: pixels or its extractor's features) with its
    distance (L1 or L2); ties go to the earlier reference, as in the model's vote.

    Example::

        nearest = nearest_training_images(model, test_images[:6], train_images, k=5)
        train_labels[nearest]                    # the classes the five neighbours would vote for
    """
    distances = pairwise_distances(knn.embed(queries), knn.embed(references), knn.distance)
    return ops.convert_to_numpy(ops.top_k(-distances, k)[1])


def plot_neighbours(queries: np.ndarray, query_labels: np.ndarray, references: np.ndarray, reference_labels: np.ndarray,
                    neighbours: dict[str, np.ndarray], path: str | Path, class_names: list[str] | None = None,
                    title: str = "") -> plt.Figure:
    """One row per query: the query, then each group's neighbours (e.g. by pixel L2, by feature L2), titled by class.

    A neighbour's title is green when its class is the query's and red otherwise; each group's
    name heads its columns. `neighbours` maps a group's name to indices [Q, k] into `references`.
    All images share one grey scale. Returns the (closed) figure.
    """
    names = class_names or [str(c) for c in range(int(max(query_labels.max(), reference_labels.max())) + 1)]
    top = max(float(queries.max()), float(references.max()))
    first_columns, widths = [], [1.0]
    for indices in neighbours.values():   # a narrow empty column before each group
        first_columns.append(len(widths) + 1)
        widths += [0.35] + [1.0] * indices.shape[1]
    height = 1.45 * len(queries) + 0.8
    figure, axes = plt.subplots(len(queries), len(widths), figsize=(1.3 * sum(widths), height), squeeze=False,
                                gridspec_kw={"width_ratios": widths})
    for axis in axes.ravel():
        axis.axis("off")
    for row, (query, label) in enumerate(zip(queries, query_labels)):
        _show(axes[row, 0], query, top)
        axes[row, 0].set_title(f"query: {names[label]}", fontsize=8)
        for first, indices in zip(first_columns, neighbours.values()):
            for axis, index in zip(axes[row, first:], indices[row]):
                theirs = reference_labels[index]
                _show(axis, references[index], top)
                axis.set_title(names[theirs], fontsize=8, color=_SAME if theirs == label else _OTHER)
    figure.tight_layout(rect=(0, 0.3 / height if title else 0, 1, 1 - 0.4 / height))
    for first, (group, indices) in zip(first_columns, neighbours.items()):
        left, right = axes[0, first].get_position(), axes[0, first + indices.shape[1] - 1].get_position()
        figure.text((left.x0 + right.x1) / 2, 1 - 0.15 / height, group, ha="center", va="top", fontsize=10)
    if title:
        figure.text(0.5, 0.05 / height, title, ha="center", va="bottom", fontsize=9)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return figure


def linear_templates(model: keras.Model | str | Path) -> np.ndarray:
    """A linear classifier's weight columns reshaped to the image: templates [C, H, W, channels], one per class.

    `model` is a Keras model or where one is saved (a `.keras` file, a run folder, runs/<name>).
    The model must be linear — one Dense layer on the flattened image (`model: linear`, the
    softmax and SVM pipelines) — so that its score for class c is sum(templates[c] · x) + b_c.
    Anything else is a one-line UserError.

    Example::

        templates = linear_templates("runs/softmax_digits")   # [10, 8, 8, 1]
    """
    if not isinstance(model, keras.Model):
        try:
            model = keras.saving.load_model(resolve_source(model), compile=False)
        except ValueError as error:
            raise UserError(f"templates: {error}") from None
    shape = tuple(model.inputs[0].shape[1:])
    weighted = [layer for layer in model.layers if layer.weights]
    if len(weighted) != 1 or not isinstance(weighted[0], keras.layers.Dense) or weighted[0].kernel.shape[0] != np.prod(shape):
        raise UserError(f"templates: model '{model.name}' is not a linear classifier: its weighted layers are "
                        f"{', '.join(layer.name for layer in weighted) or 'none'}; templates need one Dense layer on the "
                        f"flattened image (model: linear)")
    return ops.convert_to_numpy(weighted[0].kernel).T.reshape((-1, *shape))


def plot_templates(templates: dict[str, np.ndarray], class_names: list[str], path: str | Path, title: str = "") -> plt.Figure:
    """One row per model (`templates` maps its name to [C, H, W, channels]), one template per class.

    A grey template is drawn as its weights on a red (positive) to blue (negative) scale centred
    on 0, each class on its own symmetric scale; a colour template is rescaled to [0, 1] by its
    own minimum and maximum, as in the CS231n notes. Returns the (closed) figure, whose images
    hold the arrays drawn.
    """
    rows, classes = len(templates), len(class_names)
    figure, axes = plt.subplots(rows, classes, figsize=(1.3 * classes + 0.8, 1.5 * rows + 0.4), squeeze=False)
    for row, (name, weights) in zip(axes, templates.items()):
        for axis, template, class_name in zip(row, np.asarray(weights, np.float32), class_names):
            if template.shape[-1] == 1:
                limit = float(np.abs(template).max()) or 1.0
                axis.imshow(template[..., 0], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            else:
                axis.imshow(to_unit_range(template), interpolation="nearest")
            axis.set_title(class_name, fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
        row[0].set_ylabel(name, fontsize=9)
    figure.suptitle(title or "linear classifier weights as class templates", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return figure


def _show(axis, image: np.ndarray, top: float) -> None:
    """`image` [H, W, 1 or 3] on the scale 0 → black, `top` → white (colour images clipped there), without axes."""
    if image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=top, interpolation="nearest")
    else:
        axis.imshow(np.clip(image / top, 0.0, 1.0), interpolation="nearest")
    axis.axis("off")
