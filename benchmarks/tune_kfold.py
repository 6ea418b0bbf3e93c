"""k-fold cross-validation in a hyperparameter search (CS231n, "Setting hyperparameters"), recorded on the digits.

One fresh `kcv tune` of pipelines/training/tune_mlp_kfold.yaml — a random search over an MLP's
learning rate (log-uniform) and dropout with only 30 labelled training digits per class, each
trial trained on 5 seeded, stratified folds of those 300 images and scored by the mean of its 5
validation accuracies — then one `kcv run` of the best spec it wrote, which is where the test
split is used, once, at the end. The trials' mean ± std fold accuracy, the best values, any
border warning, and that test accuracy go to benchmarks/results/tune_kfold_digits.{json,md}, and
tune_kfold_digits.png draws each trial's mean ± std fold accuracy against its learning rate (log
axis, the whole searched range), coloured by its dropout.

    python -m benchmarks.tune_kfold
"""

from __future__ import annotations

import csv
import datetime
import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.runs import RESULTS, ROOT, kcv  # noqa: E402
from benchmarks.runs import machine as describe_machine  # noqa: E402
from kerascv_suite.spec import load_spec  # noqa: E402

PIPELINE = "training/tune_mlp_kfold"


def trials(search_dir: Path) -> list[dict]:
    """The ranked trials of a finished search folder (its trials.csv), numbers as numbers."""
    with open(search_dir / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{
        "rank": int(row["rank"]), "trial": row["trial"],
        "optimizer.learning_rate": float(row["optimizer.learning_rate"]), "model.dropout": float(row["model.dropout"]),
        "val_accuracy_mean": float(row["val_accuracy"]), "val_accuracy_std": float(row["val_accuracy_std"]),
        "val_accuracy_folds": json.loads(row["val_accuracy_folds"]), "seconds": float(row["seconds"]),
    } for row in rows if row["status"] == "completed"]


def plot(report: dict, spec, path: Path) -> None:
    """Each trial's mean fold accuracy against its learning rate (log axis over the searched range), ± the folds' sample
    standard deviation, coloured by dropout; the best trial starred, and its spec's test accuracy after retraining."""
    search = spec.search
    rate, dropout = search.parameters["optimizer.learning_rate"], search.parameters["model.dropout"]
    rows, best = report["trials"], report["best"]
    levels = [dropout.min + i * dropout.step for i in range(round((dropout.max - dropout.min) / dropout.step) + 1)]
    colour_map = plt.get_cmap("viridis", len(levels))  # one colour per dropout the search could pick
    norm = matplotlib.colors.BoundaryNorm([v - dropout.step / 2 for v in levels] + [levels[-1] + dropout.step / 2], len(levels))
    figure, axis = plt.subplots(figsize=(8.5, 5.2))
    for row in rows:
        colour = colour_map(norm(row["model.dropout"]))
        x, y = row["optimizer.learning_rate"], row["val_accuracy_mean"]
        axis.errorbar([x], [y], yerr=[row["val_accuracy_std"]], fmt="o", ms=7, color=colour, capsize=4, zorder=2)
        # a neighbour just to the right (within a factor 1.5 in rate, 0.03 in accuracy) pushes the label to the left
        crowded = any(x < other["optimizer.learning_rate"] < 1.5 * x and abs(other["val_accuracy_mean"] - y) < 0.03 for other in rows)
        axis.annotate(f"trial {row['trial']}", (x, y), xytext=(-9 if crowded else 9, 0), textcoords="offset points", fontsize=8,
                      ha="right" if crowded else "left", va="center")
    axis.scatter([best["optimizer.learning_rate"]], [best["val_accuracy_mean"]], marker="*", s=320, facecolor="none",
                 edgecolor="tab:red", linewidth=1.5, zorder=3,
                 label=f"best: trial {best['trial']} (lr {best['optimizer.learning_rate']:.3g}, dropout {best['model.dropout']:g})")
    axis.axhline(report["best_spec_test_accuracy"], color="tab:red", ls=":", lw=1.2,
                 label=f"best spec retrained on all {spec.data.train_examples_per_class * 10} images: "
                       f"test accuracy {report['best_spec_test_accuracy']:.4f} ({report['test_images']} images)")
    axis.set_xscale("log")
    axis.set_xlim(rate.min / 1.3, rate.max * 1.3)  # the whole searched range, so one sees where the search looked
    axis.set(xlabel=f"Adam learning rate (log-uniform in [{rate.min:g}, {rate.max:g}])",
             ylabel=f"validation accuracy, mean ± sample std of {report['folds']} folds")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    bar = figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=colour_map), ax=axis, ticks=levels)
    bar.ax.set_yticklabels([f"{v:g}" for v in levels])
    bar.set_label(f"dropout (searched {dropout.min:g} to {dropout.max:g} in steps of {dropout.step:g})")
    figure.suptitle(f"{report['folds']}-fold cross-validated {search.strategy} search ({len(rows)} trials, seed {search.seed}): "
                    f"MLP {spec.model.hidden} ReLU, {spec.train.epochs} epochs,\n"
                    f"on scikit-learn's 8×8 digits with {spec.data.train_examples_per_class} labelled training images per class",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    spec = load_spec(ROOT / "pipelines" / f"{PIPELINE}.yaml")
    search, per_class = spec.search, spec.data.train_examples_per_class
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        started = time.time()
        kcv("tune", str(ROOT / "pipelines" / f"{PIPELINE}.yaml"), "--runs-dir", "runs", workdir=workdir)
        tune_seconds = time.time() - started
        (search_dir,) = workdir.glob("runs/*/tune-*")
        rows = trials(search_dir)
        warnings = json.loads((search_dir / "search.json").read_text())["border_warnings"]
        started = time.time()
        kcv("run", str(search_dir / "best_spec.yaml"), "--runs-dir", "runs", workdir=workdir)
        run_seconds = time.time() - started
        (metrics,) = workdir.glob("runs/*/*/metrics.json")
        metrics = json.loads(metrics.read_text())
    test, sizes = metrics["test"], metrics["data"]["split_sizes"]
    train_images, test_images = sizes["train"], sizes["test"]
    best = rows[0]
    date, machine = datetime.date.today().isoformat(), describe_machine()
    report = {
        "date": date, "machine": machine, "pipeline": f"pipelines/{PIPELINE}.yaml",
        "folds": search.folds, "trials": rows,
        "best": {key: best[key] for key in ("trial", "optimizer.learning_rate", "model.dropout", "val_accuracy_mean", "val_accuracy_std")},
        "border_warnings": warnings,
        "best_spec_test_accuracy": test["accuracy"], "test_images": test_images,
        "kcv_tune_seconds": round(tune_seconds, 1), "kcv_run_best_spec_seconds": round(run_seconds, 1),
    }
    (RESULTS / "tune_kfold_digits.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, spec, RESULTS / "tune_kfold_digits.png")
    lines = [
        f"# k-fold cross-validation in `kcv tune` ({date}, {machine})", "",
        f"`kcv tune pipelines/{PIPELINE}.yaml`: a {search.strategy} search ({search.trials} trials, seed {search.seed}) "
        f"over an MLP's (hidden {spec.model.hidden}, ReLU) Adam learning rate, log-uniform in [1e-4, 0.1], and dropout, "
        f"0 to 0.5 in steps of 0.1, on scikit-learn's digits with {per_class} labelled training images per class "
        f"({train_images}). Each trial trains {search.folds} times, {spec.train.epochs} epochs each, validating on one "
        f"of {search.folds} seeded, stratified folds of those {train_images} images (the same folds for every trial) "
        f"and training on the others, and is scored by the mean of the {search.folds} best-epoch validation accuracies. "
        "The val split is set aside and the test split is untouched until the best spec is trained.", "",
        "Picture: `tune_kfold_digits.png` (each trial's mean ± std fold accuracy against its learning rate, log axis, "
        "coloured by dropout; the best trial starred, its spec's test accuracy as a dotted line).", "",
        f"| rank | trial | learning rate | dropout | fold accuracy (mean ± std) | the {search.folds} folds | seconds |",
        "|---:|---|---:|---:|---:|---|---:|",
    ]
    lines += [f"| {r['rank']} | {r['trial']} | {r['optimizer.learning_rate']:.3g} | {r['model.dropout']:g} | "
              f"{r['val_accuracy_mean']:.4f} ± {r['val_accuracy_std']:.4f} | "
              f"{', '.join(f'{a:.3f}' for a in r['val_accuracy_folds'])} | {r['seconds']:.1f} |" for r in rows]
    lines += [
        "", f"Best: trial {best['trial']}, learning rate {best['optimizer.learning_rate']:.3g}, dropout "
        f"{best['model.dropout']:g}: {best['val_accuracy_mean']:.4f} ± {best['val_accuracy_std']:.4f} over the "
        f"{search.folds} folds (± the folds' sample standard deviation).",
        "", "Border warnings: " + ("; ".join(f"`{w}`" for w in warnings) if warnings else "none."),
        "", f"`kcv run best_spec.yaml` (the best values, trained on the {train_images} images): test accuracy "
        f"{test['accuracy']:.4f} on the {test_images} test images.",
        "", f"Time: `kcv tune` {tune_seconds:.0f} s ({len(rows)} trials × {search.folds} folds), "
        f"`kcv run` of the best spec {run_seconds:.0f} s.",
    ]
    (RESULTS / "tune_kfold_digits.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
