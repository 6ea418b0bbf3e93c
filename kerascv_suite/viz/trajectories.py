"""Optimiser paths on 2-D toy losses: what SGD, momentum and the adaptive methods do, drawn over contours.

Chapter 3 of the syllabus explains the update rules with pictures of their paths on small
surfaces; here the paths are the library's own optimizers (built from spec mappings, as `kcv run`
builds them) stepping a 2-element variable. Three surfaces, each showing one lesson:

- `ravine`, x²/20 + y²: twenty times steeper across the valley than along it. SGD at a rate
  that is fast along the valley zig-zags across it; momentum carries speed down the valley but
  overshoots; Nesterov overshoots less; the adaptive methods rescale each coordinate and move
  about evenly in both.
- `saddle`, x²/2 − y²/20, bounded by y⁴/160: a saddle point at the origin, minima at (0, ±2).
  Starting just off the ridge, the gradient along y is tiny, so SGD and momentum creep off
  the ridge for tens of steps, while the adaptive methods, which divide the tiny gradient by its own
  size, leave at once.
- `noisy_bowl`, (x² + y²)/4 with seeded Gaussian noise added to every gradient, as a
  minibatch's gradient is the true one plus noise: at a constant rate the paths jitter about
  the minimum instead of settling.

Example::

    paths = trajectories(SURFACES["ravine"], DEFAULT_OPTIMIZERS, steps=40)
    paths["SGD"].shape                          # (41, 2): the start, then one point per step
    plot_trajectories({name: trajectories(s, DEFAULT_OPTIMIZERS, 40) for name, s in SURFACES.items()}, "paths.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import keras
import matplotlib
import numpy as np
import tensorflow as tf
from pydantic import TypeAdapter

from kerascv_suite.registry import load_components
from kerascv_suite.spec import build_component
from kerascv_suite.spec.schema import component_union

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def ravine(x, y):
    """An elongated quadratic valley, curvature 1/10 along x and 2 across it (condition number 20)."""
    return x * x / 20 + y * y


def saddle(x, y):
    """x²/2 − y²/20 + y⁴/160: a saddle at the origin, up along x and gently down along y; minima (0, ±2), loss −0.1."""
    return x * x / 2 - y * y / 20 + y ** 4 / 160


def bowl(x, y):
    """An isotropic quadratic bowl, curvature 1/2 in every direction."""
    return (x * x + y * y) / 4


class Surface(NamedTuple):
    """A toy loss f(x, y), where its paths start, its minima, the window drawn, and the noise added to its gradient.

    The loss uses arithmetic only, so the same function gives TensorFlow tensors (and their
    gradients) for the optimizers and NumPy grids for the contours.
    """

    loss: Callable
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    window: tuple[float, float, float, float]  # x from, x to, y from, y to
    gradient_noise: float = 0.0                # standard deviation of the noise added to each gradient entry


SURFACES = {
    "ravine": Surface(ravine, start=(-7.0, 2.0), minima=((0.0, 0.0),), window=(-8.0, 3.0, -2.5, 2.5)),
    "saddle": Surface(saddle, start=(-2.0, 1e-2), minima=((0.0, 2.0), (0.0, -2.0)), window=(-2.5, 1.5, -0.5, 3.0)),
    "noisy_bowl": Surface(bowl, start=(-4.0, 3.0), minima=((0.0, 0.0),), window=(-5.0, 2.0, -2.0, 4.0), gradient_noise=0.3),
}

# SGD's rate is just under 2 / curvature = 1 across the ravine, where it is stable but flips
# sign every step; momentum's 0.1 / (1 − 0.9) is about the same speed once it has built up.
DEFAULT_OPTIMIZERS = {
    "SGD": {"name": "sgd", "learning_rate": 0.95},
    "SGD+momentum": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    "Nesterov": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    "AdaGrad": {"name": "adagrad", "learning_rate": 1.5},
    "RMSProp": {"name": "rmsprop", "learning_rate": 0.25},
    "Adam": {"name": "adam", "learning_rate": 0.3},
}


def build_optimizer(optimizer: dict) -> keras.optimizers.Optimizer:
    """A spec's `optimizer:` mapping, validated against the registry and built as `kcv run` builds it.

    Example::

        build_optimizer({"name": "sgd", "learning_rate": 0.1, "momentum": 0.9})   # keras SGD with momentum
    """
    load_components()
    return build_component(TypeAdapter(component_union("optimizers")).validate_python(optimizer))


def trajectories(surface: Surface, optimizers: dict[str, dict], steps: int, start: tuple[float, float] | None = None,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """Each optimizer's path [steps + 1, 2] from `start` (the surface's own by default), by label.

    `optimizers` maps a label to a spec mapping (`DEFAULT_OPTIMIZERS`). On a noisy surface every
    optimizer draws its gradient noise from the same `seed`, so the paths differ by their update
    rules, not by their luck.
    """
    paths = {}
    for label, spec in optimizers.items():
        optimizer = build_optimizer(spec)
        point = keras.Variable(np.asarray(surface.start if start is None else start, "float32"))
        noise = keras.random.SeedGenerator(seed)
        points = [np.asarray(point)]
        for _ in range(steps):
            with tf.GradientTape() as tape:
                loss = surface.loss(point[0], point[1])
            gradient = tape.gradient(loss, point)
            if surface.gradient_noise:
                gradient = gradient + keras.random.normal((2,), stddev=surface.gradient_noise, seed=noise)
            optimizer.apply_gradients([(gradient, point)])
            points.append(np.asarray(point))
        paths[label] = np.stack(points)
    return paths


def plot_trajectories(paths: dict[str, dict[str, np.ndarray]], path: str | Path) -> None:
    """One panel per surface (keys of `SURFACES`): its contour lines and every optimizer's path, start and end marked.

    `paths[surface][label]` is an array [steps + 1, 2] (what `trajectories` returns); each
    label keeps one colour across the panels.
    """
    labels = list(dict.fromkeys(label for by_label in paths.values() for label in by_label))
    colours = {label: plt.cm.tab10(index % 10) for index, label in enumerate(labels)}
    fig, axes = plt.subplots(1, len(paths), figsize=(6 * len(paths), 4.8), squeeze=False)
    for ax, (name, by_label) in zip(axes[0], paths.items()):
        surface = SURFACES[name]
        x0, x1, y0, y1 = surface.window
        grid_x, grid_y = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
        heights = surface.loss(grid_x, grid_y)
        # levels at quantiles of the window's heights: as many lines near the minimum as on the walls
        ax.contour(grid_x, grid_y, heights, levels=np.unique(np.quantile(heights, np.linspace(0, 1, 22)[1:-1])),
                   colors="0.75", linewidths=0.8)
        for label, points in by_label.items():
            ax.plot(points[:, 0], points[:, 1], "-", marker=".", ms=4, lw=1.2, color=colours[label], label=label)
            ax.plot(*points[-1], marker="X", ms=9, color=colours[label], markeredgecolor="black", markeredgewidth=0.6)
        start = next(iter(by_label.values()))[0]
        ax.plot(*start, marker="o", ms=8, color="white", markeredgecolor="black", label="start")
        ax.plot(*np.asarray(surface.minima).T, marker="*", ms=12, ls="none", color="gold", markeredgecolor="black",
                label="minimum")
        ax.set_aspect("equal")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        steps = len(next(iter(by_label.values()))) - 1
        noise = f", gradient noise σ = {surface.gradient_noise:g}" if surface.gradient_noise else ""
        ax.set_title(f"{name} ({steps} steps{noise})")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, title="X: end")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
