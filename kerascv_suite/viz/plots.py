"""Plots written into run folders: training curves, confusion matrices and image grids.

Example::

    plot_curves(read_history("runs/lenet5_digits/20261123-101500/history.csv"), "curves.png")
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def to_unit_range(values, low: float | None = None, high: float | None = None) -> np.ndarray:
    """`values` scaled linearly so `low` (default: their minimum) → 0 and `high` (their maximum) → 1; all 0 when flat.

    How every picture here shows arrays that are not pixels (preprocessed or whitened images,
    filters, templates): each on its own range, or on a range shared by several.
    """
    values = np.asarray(values, np.float32)
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def show_image(axis, image, value_range=None) -> None:
    """Draw `image` [H, W, 1 or 3] on `axis` without ticks: scaled to [0, 1] by `value_range` (low, high), or by its own
    minimum and maximum when None; one channel in grey (several, not three, averaged), three in colour, clipped."""
    shown = np.clip(to_unit_range(image, *(value_range or (None, None))), 0.0, 1.0)
    if shown.shape[-1] == 3:
        axis.imshow(shown)
    else:
        axis.imshow(shown.mean(axis=-1), cmap="gray", vmin=0, vmax=1)
    axis.set_xticks([])
    axis.set_yticks([])


def read_history(path: str | Path) -> dict[str, list[float]]:
    """Read a Keras CSVLogger file; an epoch logged twice (a resume after a kill) keeps its last row.

    A column Keras logged as "NA" throughout (the `val_` metrics of a run without a validation
    split) is left out; an "NA" among numbers reads as NaN.
    """
    rows: dict[int, dict] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            rows[int(row["epoch"])] = row
    columns = [c for c in (next(iter(rows.values())) if rows else {}) if c != "epoch"]
    history = {"epoch": sorted(rows)}
    for column in columns:
        values = [rows[e][column] for e in history["epoch"]]
        if all(v in ("NA", "") for v in values):
            continue
        history[column] = [float("nan") if v in ("NA", "") else float(v) for v in values]
    return history


def plot_curves(history: dict[str, list[float]], path: str | Path, title: str = "") -> None:
    """One panel per metric (loss, accuracy, ...), train and validation curves by epoch, and the learning rate."""
    metrics = [k for k in history if k != "epoch" and not k.startswith("val_")]
    fig, axes = plt.subplots(1, max(len(metrics), 1), figsize=(4.5 * max(len(metrics), 1), 3.5), squeeze=False)
    epochs = np.asarray(history["epoch"]) + 1
    for ax, metric in zip(axes[0], metrics):
        if metric == "learning_rate":
            ax.plot(epochs, history[metric], marker="o", ms=3, color="tab:green")
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_title("learning rate (log scale)")
            ax.grid(alpha=0.3)
            continue
        ax.plot(epochs, history[metric], marker="o", ms=3, label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker="o", ms=3, label="val")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_layer_series(rows: dict[tuple[int, str], float], path: str | Path, title: str, ylabel: str,
                      log: bool = False, reference: float | None = None, xlabel: str = "epoch") -> None:
    """One line per layer (or weight) of a per-epoch measurement: `rows[(epoch, name)]` is its value.

    What `DeadReluMonitor` (shares in %, epoch 0 = initialisation) and `UpdateRatioMonitor`
    (‖ΔW‖/‖W‖ on a log scale beside the 1e-3 rule) draw; `reference` adds a dashed line.
    """
    names = list(dict.fromkeys(name for _, name in sorted(rows, key=lambda key: key[0])))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(len(names), 1)))
    for colour, name in zip(colours, names):
        epochs = sorted(epoch for epoch, other in rows if other == name)
        ax.plot(epochs, [rows[(epoch, name)] for epoch in epochs], marker="o", ms=3, color=colour, label=name)
    if reference is not None:
        ax.axhline(reference, color="black", ls="--", lw=1, label=f"{reference:g}")
    if log:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if len(names) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str], path: str | Path, title: str = "") -> None:
    """Counts of true (rows) against predicted (columns) classes."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(4.0, 0.45 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(matrix, display_labels=class_names).plot(ax=ax, colorbar=False, cmap="Blues")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def image_grid(images: np.ndarray, titles: list[str], path: str | Path, columns: int = 8) -> None:
    """Images [N, H, W, C] in a grid, each scaled to its own [min, max] for display, with titles."""
    n = len(images)
    rows = max(1, int(np.ceil(n / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 2.1 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, text in zip(axes.ravel(), images, titles):
        image = to_unit_range(image)
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
        ax.set_title(text, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tile_images(images: np.ndarray, path: str | Path, columns: int = 8, title: str = "") -> None:
    """Images [N, H, W, C] with values in [0, 1] tiled edge to edge in one picture, on one grey scale.

    Unlike `image_grid`, every image keeps the same scale, so generated samples, reconstructions
    and latent traversals compare pixel for pixel.
    """
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, height, width, channels = images.shape
    rows = int(np.ceil(n / columns))
    canvas = np.ones((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), np.float32)
    for index, image in enumerate(images):
        top, left = 1 + (index // columns) * (height + 1), 1 + (index % columns) * (width + 1)
        canvas[top : top + height, left : left + width] = image
    fig, ax = plt.subplots(figsize=(max(2.0, 0.35 * canvas.shape[1] / 8), max(2.0, 0.35 * canvas.shape[0] / 8)))
    ax.imshow(canvas[..., 0] if channels == 1 else canvas, cmap="gray" if channels == 1 else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def annotated_grid(images: np.ndarray, titles: list[str], path: str | Path, columns: int = 8, boxes=None,
                   predicted_boxes=None, masks=None, keypoints=None, mask_classes: int | None = None,
                   mask_alpha: float = 0.55) -> None:
    """Images with what they hold drawn on them: boxes (green; predictions red, dashed), a class map, keypoints.

    Args:
        images: [N, H, W, C], each scaled to its own [min, max] for display (as `image_grid`).
        titles: one per image (a caption, the true and predicted class, ...).
        boxes, predicted_boxes: per image an array [M, 4] of xyxy pixel boxes (rows of zeros are padding).
        masks: per image an integer class map [H, W] (0 background), drawn translucent over the image.
        keypoints: per image [M, K, 3] (x, y, visible); visible points are drawn as dots.
        mask_classes: the number of classes of `masks` (fixes their colours across images).
        mask_alpha: opacity of the class map (1: the map alone, background included; None in `masks`
            leaves that image bare).

    Coordinates follow `kerascv_suite.data.examples`: pixel (i, j) covers [j, j + 1) × [i, i + 1),
    matplotlib draws its centre at (j, i), hence the half-pixel shift.
    """
    from matplotlib.patches import Rectangle

    n = len(images)
    rows = max(1, int(np.ceil(n / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    colours = plt.get_cmap("tab10")
    for index, (ax, image, text) in enumerate(zip(axes.ravel(), images, titles)):
        image = to_unit_range(image)
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
        if masks is not None and masks[index] is not None:
            classes = np.asarray(masks[index])
            shown = classes if mask_alpha >= 1 else np.ma.masked_where(classes == 0, classes)
            ax.imshow(shown, cmap="tab10", alpha=mask_alpha, vmin=0, vmax=max(9, mask_classes or int(classes.max())),
                      interpolation="nearest")
        for box_set, colour, style in ((boxes, "lime", "-"), (predicted_boxes, "red", "--")):
            if box_set is None:
                continue
            for x0, y0, x1, y1 in np.asarray(box_set[index]).reshape(-1, 4):
                if x1 > x0 and y1 > y0:
                    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linestyle=style, lw=1.2))
        if keypoints is not None:
            for object_index, points in enumerate(np.asarray(keypoints[index])):
                seen = points[points[:, 2] > 0]
                ax.scatter(seen[:, 0] - 0.5, seen[:, 1] - 0.5, s=6, color=colours(object_index % 10), edgecolors="black", linewidths=0.3)
        ax.set_title(text, fontsize=7, wrap=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
