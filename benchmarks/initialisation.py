"""Initialisation failures and fixes (chapter 7), recorded: `kcv activations` on the 10-layer tanh and ReLU MLPs.

Runs `kcv activations` (every initialiser of `kerascv_suite.layers.initializers.COMPARED`: all-zero
weights, N(0, 0.01²), N(0, 1), Xavier and He) on pipelines/training/activations_tanh.yaml and
activations_relu.yaml, and copies each report's picture and table to
benchmarks/results/activations_<activation>.{png,md}.

    python -m benchmarks.initialisation
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.runs import RESULTS, ROOT, kcv


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        for activation in ("tanh", "relu"):
            out = Path(workdir) / activation
            printed = kcv("activations", str(ROOT / f"pipelines/training/activations_{activation}.yaml"), "--out", str(out),
                          workdir=Path(workdir)).stdout
            print(printed, flush=True)
            shutil.copy(out / "activations.png", RESULTS / f"activations_{activation}.png")
            shutil.copy(out / "activations.md", RESULTS / f"activations_{activation}.md")


if __name__ == "__main__":
    main()
