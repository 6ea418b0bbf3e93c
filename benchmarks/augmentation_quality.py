"""Quality run of chapter 7's augmentations: one pipeline, three augmentation settings, single- and 10-crop tests.

pipelines/training/resnet20_colour_jitter_multicrop.yaml (ResNet-20 classifying single shapes of random
colour) is trained by a fresh `kcv run` with its own augmentations (random resized crops, shears,
flips, colour jitter), with flips and translations only, and with none, each over `SEEDS` (train.seed:
initialisation, shuffling and augmentation draws; the data and split stay fixed). Every run reports
the test split's single-crop accuracy and its 10-crop accuracy (28×28 corners and centre resized to
32×32, and their mirror images). Results, with the date and machine, go to
benchmarks/results/augmentation_shapes.{json,md}.

    python -m benchmarks.augmentation_quality
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.runs import RESULTS, kcv_run
from benchmarks.runs import machine as describe_machine

PIPELINE = "training/resnet20_colour_jitter_multicrop"
# Each setting: the overrides of the pipeline's data.augment (none: the pipeline's own).
SETTINGS = {
    "resized crops + shear + flip + colour jitter": (),
    "flip + translation 0.1": ("data.augment=[random_flip, {name: random_translation, fraction: 0.1}]",),
    "none": ("data.augment=[]",),
}
SEEDS = (0, 1)


def run_setting(overrides: tuple, workdir: Path) -> dict:
    runs = []
    for seed in SEEDS:
        metrics, _, seconds = kcv_run(PIPELINE, workdir, (*overrides, f"train.seed={seed}"))
        crops = metrics["test_crops"]
        assert abs(crops["single_crop_accuracy"] - metrics["test"]["accuracy"]) < 1e-6
        runs.append({"seed": seed, "single_crop": crops["single_crop_accuracy"], "ten_crop": crops["accuracy"],
                     "fit_seconds": metrics["train"]["seconds"], "command_seconds": round(seconds, 1),
                     "test_examples": metrics["data"]["split_sizes"]["test"],
                     "train_examples": metrics["data"]["split_sizes"]["train"]})
        print(overrides, runs[-1], flush=True)
    return {"runs": runs, **{f"{key}_mean": statistics.mean(r[key] for r in runs) for key in ("single_crop", "ten_crop")}}


def write_markdown(record: dict, path: Path) -> None:
    first = next(iter(record["settings"].values()))["runs"][0]
    lines = [
        f"# Chapter 7 augmentations on shapes ({record['date']}, {record['machine']})", "",
        f"`pipelines/{PIPELINE}.yaml`: ResNet-20, {first['train_examples']} training / {first['test_examples']} test "
        f"single-shape 32×32 scenes (3 classes), 15 epochs of Adam with cosine decay; only `data.augment` changes. "
        f"Train seeds {', '.join(map(str, SEEDS))} (initialisation, order, augmentation draws); the data and split are fixed.",
        "", "| augmentation | single-crop test accuracy | 10-crop test accuracy | fit seconds (mean) |", "|---|---|---|---|",
    ]
    for name, result in record["settings"].items():
        single = ", ".join(f"{r['single_crop']:.4f}" for r in result["runs"])
        ten = ", ".join(f"{r['ten_crop']:.4f}" for r in result["runs"])
        fit = statistics.mean(r["fit_seconds"] for r in result["runs"])
        lines.append(f"| {name} | {result['single_crop_mean']:.4f} ({single}) | {result['ten_crop_mean']:.4f} ({ten}) | {fit:.0f} |")
    lines += ["", "Means over the seeds, each seed's figure in brackets. 10 crops: the four 28×28 corners and the centre of "
              "each test image, resized to 32×32, and their mirror images; the softmax probabilities are averaged "
              "(`task.test_crops: 10`)."]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        settings = {name: run_setting(overrides, Path(workdir)) for name, overrides in SETTINGS.items()}
    record = {"date": time.strftime("%Y-%m-%d"), "machine": describe_machine(), "pipeline": PIPELINE,
              "seeds": list(SEEDS), "settings": settings}
    (RESULTS / "augmentation_shapes.json").write_text(json.dumps(record, indent=2) + "\n")
    write_markdown(record, RESULTS / "augmentation_shapes.md")
    print((RESULTS / "augmentation_shapes.md").read_text())


if __name__ == "__main__":
    main()
