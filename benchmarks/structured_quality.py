"""Quality runs of the first structured tasks on the library's shapes scenes, each a fresh `kcv run`.

    python -m benchmarks.structured_quality

- classification + localisation (pipelines/detection/localization_shapes.yaml) on single-object
  scenes: test accuracy and mean IoU of the predicted box; bars ≥ 0.95 and ≥ 0.75;
- semantic segmentation with an FCN (pipelines/segmentation/fcn_shapes.yaml) on scenes of one
  to three occluding objects: test mean IoU over background and the three classes; bar ≥ 0.85.

It writes benchmarks/results/structured_shapes.{json,md} and copies each run's pictures
(worst.png, masks.png, curves.png) beside them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.runs import RESULTS, kcv_run, machine

# pipeline → (the metrics.json section and key, bar) for each measure
RUNS = {
    "detection/localization_shapes": {"accuracy": ("localization", "accuracy", 0.95), "mean_iou": ("localization", "mean_iou", 0.75)},
    "segmentation/fcn_shapes": {"mean_iou": ("segmentation", "mean_iou", 0.85), "pixel_accuracy": ("segmentation", "pixel_accuracy", None)},
}
PICTURES = ("worst.png", "masks.png", "curves.png", "confusion_matrix.png")


def main() -> None:
    date = time.strftime("%Y-%m-%d")
    workdir = Path(tempfile.mkdtemp(prefix="structured-quality-"))
    results = {}
    for name, measures in RUNS.items():
        metrics, run_dir, seconds = kcv_run(name, workdir)
        stem = name.split("/")[-1]
        for picture in PICTURES:
            if (run_dir / picture).is_file():
                shutil.copy(run_dir / picture, RESULTS / f"{stem}_{picture}")
        values = {key: metrics[section][field] for key, (section, field, _) in measures.items()}
        results[name] = {
            **values,
            "bars": {key: bar for key, (_, _, bar) in measures.items() if bar is not None},
            "passed": {key: values[key] >= bar for key, (_, _, bar) in measures.items() if bar is not None},
            "per_class_iou": metrics.get("segmentation", {}).get("per_class_iou"),
            "epochs": metrics["train"]["epochs"], "train_examples": metrics["data"]["split_sizes"]["train"],
            "test_examples": metrics["data"]["split_sizes"]["test"], "command_seconds": round(seconds, 1),
        }
        print(name, results[name], flush=True)
    (RESULTS / "structured_shapes.json").write_text(json.dumps({"machine": machine(), "date": date, "results": results}, indent=2))
    lines = [f"# Structured tasks on shapes scenes ({date}, {machine()})", "",
             "The library's seeded shapes scenes (2,000 images of 64×64, split 70/15/15: 300 test images), resized to 32×32 by both pipelines (boxes and masks with them); localisation on single-object scenes, segmentation on scenes of 1–3 occluding objects. "
             "Each pipeline is a fresh `kcv run`; time is the whole command.", "",
             "| pipeline (pipelines/…yaml) | measure | test value | bar | epochs | `kcv run` seconds |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        for key in RUNS[name]:
            bar = r["bars"].get(key)
            verdict = "—" if bar is None else f"≥ {bar}: {'met' if r['passed'][key] else 'NOT met'}"
            lines.append(f"| {name} | {key} | {r[key]:.4f} | {verdict} | {r['epochs']} | {r['command_seconds']} |")
    fcn = results["segmentation/fcn_shapes"]["per_class_iou"]
    lines += ["", "FCN per-class IoU: " + ", ".join(f"{k} {v:.4f}" for k, v in fcn.items()), "",
              "Pictures: `localization_shapes_worst.png` (the test images with the lowest IoU; true box green, predicted "
              "red), `fcn_shapes_masks.png` (true and predicted class maps), `fcn_shapes_confusion_matrix.png` (pixels), "
              "and each run's `curves.png`."]
    (RESULTS / "structured_shapes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
