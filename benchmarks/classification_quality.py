"""Quality runs of the classification chapters: each pipeline trained by a fresh `kcv run`.

Records the digits test accuracy of a chapter's pipelines (pipelines/<chapter>/<name>.yaml),
the wall-clock time of the whole command (fresh process: imports, data, training, reports), and
the machine, in benchmarks/results/<chapter>_digits.{json,md}.

    python -m benchmarks.classification_quality                  # the image-classification chapter
    python -m benchmarks.classification_quality architectures    # the CNN zoo's quality run
    python -m benchmarks.classification_quality optimizers       # one MLP, eight update rules
    python -m benchmarks.classification_quality transfer         # pre-train on 0–4, 5 labels per class of 5–9

A chapter's pipelines run in order in one working folder, so a transfer pipeline finds the
pre-training run it names (runs/<name>) made by an earlier one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# Each chapter's pipelines (paths under pipelines/, without .yaml) and their test-accuracy bars.
CHAPTERS = {
    "classification": {f"classification/{name}": bar for name, bar in
                       {"lenet5": 0.97, "knn_l2": 0.97, "knn_l1": 0.97, "softmax": 0.94, "svm": 0.93, "mlp": 0.96}.items()},
    "architectures": {"classification/lenet5": 0.97, "architectures/vgg11": 0.97, "architectures/resnet20": 0.97,
                      "architectures/densenet121": 0.97, "architectures/mobilenet_v2": 0.97},
    "optimizers": {f"training/optimizer_{name}": 0.9 for name in
                   ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs")},
    # No bars but the pre-training's: the result is the comparison of the three 5-label runs.
    "transfer": {"training/transfer_pretrain": 0.97, "training/transfer_scratch": None,
                 "training/transfer_finetune": None, "training/transfer_linear_probe": None},
}


def run(chapter: str, name: str, workdir: Path) -> dict:
    spec = ROOT / "pipelines" / f"{name}.yaml"
    before = set(workdir.glob("runs/*/*/metrics.json"))
    started = time.time()
    subprocess.run([sys.executable, "-m", "kerascv_suite.cli", "run", str(spec), "--runs-dir", "runs"], cwd=workdir,
                   check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.time() - started
    (finished,) = set(workdir.glob("runs/*/*/metrics.json")) - before
    metrics = json.loads(finished.read_text())
    return {"accuracy": metrics["test"]["accuracy"], "bar": CHAPTERS[chapter][name], "command_seconds": round(seconds, 1),
            "fit_seconds": metrics["train"]["seconds"], "epochs": metrics["train"]["epochs"],
            "test_examples": metrics["data"]["split_sizes"]["test"], "train_examples": metrics["data"]["split_sizes"]["train"],
            **metrics.get("model", {})}


def main(chapter: str = "classification") -> None:
    import tensorflow as tf

    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in CHAPTERS[chapter]:
            results[name] = run(chapter, name, Path(workdir))
            print(name, results[name], flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, tensorflow {tf.__version__}"
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
        lines.append(f"| {name} | {r['accuracy']:.4f} | {bar} | {r['train_examples']} / {r['test_examples']} | {r['epochs']} | "
                     f"{r['command_seconds']} |")
    (RESULTS / f"{chapter}_digits.md").write_text("\n".join(lines) + "\n")
    print((RESULTS / f"{chapter}_digits.md").read_text())


if __name__ == "__main__":
    main(*sys.argv[1:])
