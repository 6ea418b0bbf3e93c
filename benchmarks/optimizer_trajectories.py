"""Optimiser paths on the three toy losses of `kerascv_suite.viz.trajectories`, drawn and tabulated.

Runs every default optimizer (SGD, SGD + momentum, Nesterov, AdaGrad, RMSProp, Adam) for the
same number of steps from each surface's start, draws the paths over the contours, and records
each path's final loss and its distance to the nearest minimum. On the noisy bowl the loss is
the noiseless one: the noise is in the gradients only. A few seconds on the 2-core machine.

    python -m benchmarks.optimizer_trajectories                  # benchmarks/results/optimizer_trajectories.{png,md}
    python -m benchmarks.optimizer_trajectories --steps 100 --out /tmp/paths
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.runs import RESULTS, machine
from kerascv_suite.viz.compare import optimizer_summary
from kerascv_suite.viz.trajectories import DEFAULT_OPTIMIZERS, SURFACES, plot_trajectories, trajectories

STEPS = 40


def end_points(paths: dict[str, dict[str, np.ndarray]]) -> list[dict]:
    """One row per surface and optimizer: the final loss and the distance from the last point to the nearest minimum."""
    rows = []
    for name, by_label in paths.items():
        surface = SURFACES[name]
        for label, points in by_label.items():
            end = points[-1].astype("float64")
            rows.append({"surface": name, "optimizer": label, "loss": float(surface.loss(*end)),
                         "distance": float(np.linalg.norm(np.asarray(surface.minima) - end, axis=1).min())})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    paths = {name: trajectories(surface, DEFAULT_OPTIMIZERS, args.steps) for name, surface in SURFACES.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    plot_trajectories(paths, args.out / "optimizer_trajectories.png")
    lines = [f"# Optimiser paths on toy losses ({time.strftime('%Y-%m-%d')}, {machine()})", "",
             f"{args.steps} steps from each surface's start; loss and distance at the last point (the noisy bowl's "
             f"loss without its gradient noise, seed 0). Picture: `optimizer_trajectories.png`.", "",
             "| surface | optimizer | spec | final loss | distance to the nearest minimum |", "|---|---|---|---:|---:|"]
    lines += [f"| {row['surface']} | {row['optimizer']} | `{optimizer_summary(DEFAULT_OPTIMIZERS[row['optimizer']])}` | "
              f"{row['loss']:.4f} | {row['distance']:.4f} |" for row in end_points(paths)]
    (args.out / "optimizer_trajectories.md").write_text("\n".join(lines) + "\n")
    print((args.out / "optimizer_trajectories.md").read_text())


if __name__ == "__main__":
    main()
