"""The degradation experiment (He et al., 2015, Fig. 1 and 6): plain and residual networks of 20 and 56 layers.

Four fresh `kcv run`s on the 32×32 digits, identical but for depth and shortcuts —
pipelines/architectures/degradation_plain.yaml and degradation_resnet.yaml, each at depth 20 and
56 — and their training-error curves (1 − the training accuracy Keras logs per epoch) side by
side in benchmarks/results/degradation_digits.png, with the figures in degradation_digits.{json,md}.

The paper's finding, which the results file checks: the deeper *plain* network has the higher
training error — not overfitting, an optimisation failure, since the 56-layer network could copy
the 20-layer one and make its other layers identities — while with shortcuts the 56-layer
network trains best of all.

    python -m benchmarks.degradation
"""

from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.runs import RESULTS, kcv_run  # noqa: E402
from benchmarks.runs import machine as describe_machine  # noqa: E402
from kerascv_suite.viz.plots import read_history  # noqa: E402

RUNS = {f"{kind}-{depth}": (f"architectures/degradation_{kind}", depth) for kind in ("plain", "resnet") for depth in (20, 56)}


def training_error(history: dict) -> list[float]:
    """1 − the training accuracy of each epoch (Keras's running mean over the epoch's batches)."""
    return [round(1.0 - accuracy, 4) for accuracy in history["accuracy"]]


def findings(errors: dict[str, list[float]]) -> dict[str, bool]:
    """The paper's two claims on the recorded curves: final and mean-over-epochs training error.

    "Below both" is judged on the mean over epochs, as the curves are: a network that fits the
    digits in the end can still have trained slower, and the final errors of the easier runs may
    all be 0.
    """
    final = {name: curve[-1] for name, curve in errors.items()}
    mean = {name: sum(curve) / len(curve) for name, curve in errors.items()}
    return {
        "plain-56 ends above plain-20": final["plain-56"] > final["plain-20"],
        "plain-56 above plain-20 on average": mean["plain-56"] > mean["plain-20"],
        "resnet-56 below both plain networks on average": mean["resnet-56"] < min(mean["plain-20"], mean["plain-56"]),
    }


def plot(errors: dict[str, list[float]], path: Path) -> None:
    """Two panels as the paper's Fig. 6: plain networks left, residual right; 20 layers dashed, 56 solid."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, kind, title in zip(axes, ("plain", "resnet"), ("plain networks", "residual networks (ResNet)")):
        for depth, style in ((20, "--"), (56, "-")):
            curve = errors[f"{kind}-{depth}"]
            axis.plot(range(1, len(curve) + 1), [100 * e for e in curve], style, label=f"{kind}-{depth}")
        axis.set(title=title, xlabel="epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    axes[0].set_ylabel("training error (%)")
    figure.suptitle("Degradation: training error on the 32×32 digits (scikit-learn), SGD momentum 0.9, lr 0.02 cosine")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    errors, rows = {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, (pipeline, depth) in RUNS.items():
            metrics, run_dir, seconds = kcv_run(pipeline, Path(workdir), overrides=(f"model.depth={depth}",))
            errors[name] = training_error(read_history(run_dir / "history.csv"))
            rows[name] = {"pipeline": pipeline, "depth": depth, "final_training_error": errors[name][-1],
                          "mean_training_error": round(sum(errors[name]) / len(errors[name]), 4),
                          "test_accuracy": metrics["test"]["accuracy"], "kcv_run_seconds": round(seconds, 1),
                          "training_error_per_epoch": errors[name]}
            print(name, rows[name]["final_training_error"], rows[name]["mean_training_error"], flush=True)
    plot(errors, RESULTS / "degradation_digits.png")
    checks = findings(errors)
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "degradation_digits.json").write_text(json.dumps({"date": date, "machine": machine, "runs": rows,
                                                                  "findings": checks}, indent=2) + "\n")
    lines = [f"# The degradation experiment ({date}, {machine})", "",
             "Training error (1 − training accuracy, per epoch) of the plain and residual CIFAR networks on the "
             "32×32 digits (1,258 training images), 15 epochs, SGD with momentum 0.9, learning rate 0.02 "
             "cosine-decayed, no augmentation. Picture: `degradation_digits.png`.", "",
             "| network | final training error | mean over epochs | test accuracy | `kcv run` seconds |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {row['final_training_error']:.4f} | {row['mean_training_error']:.4f} | "
              f"{row['test_accuracy']:.4f} | {row['kcv_run_seconds']} |" for name, row in rows.items()]
    lines += ["", *(f"- {claim}: {'yes' if held else 'NO'}" for claim, held in checks.items())]
    (RESULTS / "degradation_digits.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
