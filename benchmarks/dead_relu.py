"""Dead ReLUs through training (chapter 7): the same MLP at a sound learning rate and at one far too high.

Two fresh `kcv run`s of pipelines/training/mlp_relu_dead_units.yaml (three hidden ReLU layers
of 100 units, plain SGD, the `dead_relu` callback), at learning rate 0.05 and 1.0. Writes each
run's dead_relu.png as benchmarks/results/dead_relu_lr<rate>.png and the per-layer shares at
initialisation and after the last epoch, with test accuracy, in dead_relu.{json,md}.

    python -m benchmarks.dead_relu
"""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
from pathlib import Path

from benchmarks.runs import RESULTS, kcv_run
from benchmarks.runs import machine as describe_machine
from kerascv_suite.training.callbacks import EpochTable

PIPELINE = "training/mlp_relu_dead_units"
RATES = (0.05, 1.0)


def read_shares(path: Path) -> dict[int, dict[str, float]]:
    """dead_relu.csv (`EpochTable`) as {epoch: {layer: share}}."""
    shares: dict[int, dict[str, float]] = {}
    for (epoch, layer), share in EpochTable.read(path).items():
        shares.setdefault(epoch, {})[layer] = share
    return shares


def main() -> None:
    rows = {}
    with tempfile.TemporaryDirectory() as workdir:
        for rate in RATES:
            metrics, run_dir, seconds = kcv_run(PIPELINE, Path(workdir), overrides=(f"optimizer.learning_rate={rate}",))
            shares = read_shares(run_dir / "dead_relu.csv")
            last = max(shares)
            shutil.copy(run_dir / "dead_relu.png", RESULTS / f"dead_relu_lr{rate:g}.png")
            rows[f"{rate:g}"] = {"initialisation": shares[0], "after_epoch": last, "end": shares[last],
                                 "test_accuracy": metrics["test"]["accuracy"], "kcv_run_seconds": round(seconds, 1)}
            print(rate, rows[f"{rate:g}"], flush=True)
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "dead_relu.json").write_text(json.dumps({"date": date, "machine": machine, "pipeline": PIPELINE,
                                                        "runs": rows}, indent=2) + "\n")
    layers = list(next(iter(rows.values()))["end"])
    lines = [f"# Dead ReLU units through training ({date}, {machine})", "",
             f"`pipelines/{PIPELINE}.yaml`: an MLP of three hidden ReLU layers (100 units, He initialisation), plain SGD, "
             "30 epochs on the digits; a unit is dead when it is 0 on all 256 fixed training images. "
             "Pictures: `dead_relu_lr0.05.png`, `dead_relu_lr1.png`.", "",
             "| learning rate | " + " | ".join(f"{layer}: init → end" for layer in layers) + " | test accuracy |",
             "|---|" + "---|" * len(layers) + "---|"]
    for rate, row in rows.items():
        cells = [f"{100 * row['initialisation'][layer]:.0f}% → {100 * row['end'][layer]:.0f}%" for layer in layers]
        lines.append(f"| {rate} | " + " | ".join(cells) + f" | {row['test_accuracy']:.4f} |")
    (RESULTS / "dead_relu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
