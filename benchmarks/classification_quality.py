"""Quality runs of the classification chapters: each pipeline trained by a fresh `kcv run`.

Records the digits test accuracy of a chapter's pipelines (pipelines/<chapter>/<name>.yaml),
the wall-clock time of the whole command (fresh process: imports, data, training, reports), and
the machine, in benchmarks/results/<chapter>_digits.{json,md}.

    python -m benchmarks.classification_quality                  # the image-classification chapter
    python -m benchmarks.classification_quality architectures    # the CNN zoo's quality run
    python -m benchmarks.classification_quality optimizers       # one MLP, eight update rules
    python -m benchmarks.classification_quality transfer         # pre-train on 0–4, 5 labels per class of 5–9

A chapter's pipelines run in order in one working folder, so a transfer pipeline finds the
pre-training run it names (runs/<name>) made by an earlier one. In the transfer chapter the
three few-label pipelines run once per data seed (`DATA_SEEDS`), and the table gives their mean
and spread. `kcv compare` draws the chapter's curves into <chapter>_digits_curves.png.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runs import RESULTS, kcv_run
from benchmarks.runs import machine as describe_machine

# Each chapter's pipelines (paths under pipelines/, without .yaml) and their test-accuracy bars.
CHAPTERS = {
    "classification": {f"classification/{name}": bar for name, bar in
                       {"lenet5": 0.97, "knn_l2": 0.97, "knn_l1": 0.97, "softmax": 0.94, "svm": 0.93, "mlp": 0.96}.items()},
    "architectures": {"classification/lenet5": 0.97, "architectures/vgg11": 0.97, "architectures/resnet20": 0.97,
                      "architectures/densenet121": 0.97, "architectures/mobilenet_v2": 0.97},
    "optimizers": {f"training/optimizer_{name}": 0.9 for name in
                   ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs")},
    # No bars but the pre-training's: the result is the comparison of the three few-label runs.
    "transfer": {"training/transfer_pretrain": 0.97, "training/transfer_scratch": None,
                 "training/transfer_finetune": None, "training/transfer_linear_probe": None},
}
# Chapters whose unbarred pipelines are compared over several data seeds: with a few labels per class,
# which images are labelled (drawn by data.seed, with the split) moves test accuracy by several points.
DATA_SEEDS = {"transfer": (0, 1, 2, 3, 4)}


def run(name: str, workdir: Path, overrides: tuple = ()) -> tuple[dict, Path]:
    """One fresh `kcv run` of pipelines/<name>.yaml in `workdir`; its figures and its run folder."""
    metrics, run_dir, seconds = kcv_run(name, workdir, overrides)
    return {"accuracy": metrics["test"]["accuracy"], "command_seconds": round(seconds, 1),
            "fit_seconds": metrics["train"]["seconds"], "epochs": metrics["train"]["epochs"],
            "test_examples": metrics["data"]["split_sizes"]["test"], "train_examples": metrics["data"]["split_sizes"]["train"],
            **metrics.get("model", {})}, run_dir


def run_pipeline(chapter: str, name: str, workdir: Path) -> tuple[dict, Path]:
    """A pipeline's result: one run, or for a compared pipeline the mean and spread over the chapter's data seeds."""
    bar = CHAPTERS[chapter][name]
    seeds = DATA_SEEDS.get(chapter, ()) if bar is None else ()
    if not seeds:
        result, run_dir = run(name, workdir)
        return {**result, "bar": bar}, run_dir
    runs = [run(name, workdir, (f"data.seed={seed}",)) for seed in seeds]
    accuracies = [r["accuracy"] for r, _ in runs]
    first, run_dir = runs[0]
    return {**first, "bar": bar, "data_seeds": list(seeds), "accuracies": accuracies,
            "accuracy": statistics.mean(accuracies), "accuracy_std": statistics.stdev(accuracies),
            "command_seconds": round(statistics.mean(r["command_seconds"] for r, _ in runs), 1)}, run_dir


def main(chapter: str = "classification") -> None:
    from kerascv_suite.viz.compare import compare_runs

    results, run_dirs = {}, []
    with tempfile.TemporaryDirectory() as workdir:
        for name in CHAPTERS[chapter]:
            results[name], run_dir = run_pipeline(chapter, name, Path(workdir))
            run_dirs.append(run_dir)
            print(name, results[name], flush=True)
        compare_runs(run_dirs, RESULTS / f"{chapter}_digits_curves.png", overwrite=True)
    machine = describe_machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{chapter}_digits.json").write_text(json.dumps({"machine": machine, "date": time.strftime("%Y-%m-%d"),
                                                                     "results": results}, indent=2))
    lines = [f"# Digits classification quality, chapter '{chapter}' ({time.strftime('%Y-%m-%d')}, {machine})", "",
             "scikit-learn's 1,797 digits, seeded 70/15/15 split (test: 270 images; a class subset's test split is that "
             "subset's share). Time: the whole `kcv run` command.", "",
             "| pipeline (pipelines/…yaml) | test accuracy | bar | training / test images | epochs | `kcv run` seconds |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        bar = f"≥ {r['bar']}" if r["bar"] is not None else "—"
        accuracy = f"{r['accuracy']:.4f}"
        if "accuracies" in r:
            accuracy += f" ± {r['accuracy_std']:.4f} (data seeds {', '.join(map(str, r['data_seeds']))}: " \
                        f"{', '.join(f'{a:.4f}' for a in r['accuracies'])})"
        lines.append(f"| {name} | {accuracy} | {bar} | {r['train_examples']} / {r['test_examples']} | {r['epochs']} | "
                     f"{r['command_seconds']} |")
    if chapter in DATA_SEEDS:
        lines += ["", f"Unbarred pipelines: mean ± standard deviation over data seeds {list(DATA_SEEDS[chapter])} (each seed "
                  "draws its own split and labelled images; the runs of one seed share them). `kcv run` seconds: their mean."]
    lines += ["", f"Curves (the first run of each pipeline, `kcv compare`): `{chapter}_digits_curves.png`."]
    (RESULTS / f"{chapter}_digits.md").write_text("\n".join(lines) + "\n")
    print((RESULTS / f"{chapter}_digits.md").read_text())


if __name__ == "__main__":
    main(*sys.argv[1:])
