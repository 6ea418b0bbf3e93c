"""Which pixels matter (chapter 8): every saliency method of `kerascv_suite.viz.saliency` on a ResNet-20 of the digits.

A fresh `kcv run` of pipelines/architectures/resnet20.yaml (ResNet-20 trained by this library on
scikit-learn's digits upscaled to 32×32, no pretrained weights; it ends in global average
pooling and one dense layer, so CAM applies, and its ReLUs are `Activation("relu")` layers, so
guided backpropagation has something to override). Its model.keras is then explained on test
images:

- benchmarks/results/saliency_digits.png: SHOWN test images (the first of digits 0–5) × every method;
- benchmarks/results/saliency_digits.md: per method, on the first MEASURED test images, the
  share of the map's mass on the digit's stroke (pixels ≥ STROKE, the rest is black background)
  against the stroke's share of the image, the drop of the target logit when the map's top
  DELETE of pixels are set to 0 (the background) against as many random pixels, and seconds;
  integrated gradients' completeness error; and how far Grad-CAM at the pooled map is from CAM.

    python -m benchmarks.saliency
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import numpy as np

from benchmarks.runs import RESULTS, trained_model
from benchmarks.runs import machine as describe_machine

PIPELINE = "architectures/resnet20"
MODEL_TEXT = "ResNet-20 (pipelines/architectures/resnet20.yaml) trained by this library on scikit-learn's digits, no pretrained weights"
SHOWN = 6            # rows of the picture: the first test image of each of the digits 0 … SHOWN − 1
MEASURED = 50        # test images the figures are measured on
STROKE = 0.5         # a pixel is on the stroke when its [0, 1] intensity is at least this
DELETE = 0.05        # share of pixels deleted (set to 0) by the deletion check
PATCH, STRIDE, STEPS, NOISE, SAMPLES, SEED = 4, 2, 64, 0.15, 25, 0


def methods(model) -> dict:
    """Method name → function(images, classes) → map, with this benchmark's settings."""
    from kerascv_suite.viz import saliency

    return {
        f"occlusion {PATCH}×{PATCH}/{STRIDE}": lambda x, c: saliency.occlusion_sensitivity(model, x, c, patch=PATCH, stride=STRIDE),
        "gradient": lambda x, c: saliency.gradient_saliency(model, x, c),
        "guided backprop": lambda x, c: saliency.guided_backprop(model, x, c),
        "CAM": lambda x, c: saliency.class_activation_map(model, x, c),
        "Grad-CAM": lambda x, c: saliency.grad_cam(model, x, c),
        f"integrated gradients ({STEPS})": lambda x, c: saliency.integrated_gradients(model, x, c, steps=STEPS),
        f"SmoothGrad ({SAMPLES}, {NOISE:.0%})": lambda x, c: saliency.smoothgrad(model, x, c, noise=NOISE, samples=SAMPLES, seed=SEED),
    }


def importance(maps: np.ndarray) -> np.ndarray:
    """A non-negative [B, H, W] importance: Σ_c |·| of a per-channel map, the positive part of a signed one."""
    from kerascv_suite.viz.saliency import channel_map

    return channel_map(maps) if np.ndim(maps) == 4 else np.maximum(maps, 0)


def deletion_drop(model, images, classes, scores: np.ndarray) -> float:
    """Mean drop of the target logit when each image's top DELETE pixels by `scores` [B, H, W] are set to 0."""
    from kerascv_suite.viz.saliency import logits_of

    flat = scores.reshape(len(images), -1)
    count = int(round(DELETE * flat.shape[1]))
    top = np.argsort(-flat, axis=1, kind="stable")[:, :count]
    deleted = images.reshape(len(images), -1, images.shape[-1]).copy()
    np.put_along_axis(deleted, top[..., None], 0.0, axis=1)
    pick = lambda x: np.take_along_axis(logits_of(model, x.reshape(images.shape)), classes[:, None], axis=1)[:, 0]
    return float(np.mean(pick(images) - pick(deleted)))


def measure(model, images, labels) -> dict:
    from kerascv_suite.viz import saliency

    classes = saliency.target_classes(model, images)
    stroke = images[..., 0] >= STROKE
    rows = {}
    for name, method in methods(model).items():
        started = time.time()
        maps = method(images, classes)
        seconds = time.time() - started
        weight = importance(maps)
        rows[name] = {"maps": maps, "seconds": seconds,
                      "stroke_mass": float(np.sum(weight * stroke) / np.sum(weight)),
                      "deletion_drop": deletion_drop(model, images, classes, weight)}
        print(name, {k: v for k, v in rows[name].items() if k != "maps"}, flush=True)
    random_scores = np.random.default_rng(SEED).random(images.shape[:3])
    ig = rows[f"integrated gradients ({STEPS})"]["maps"]
    completeness = saliency.completeness_error(model, images, ig, classes)
    cam = saliency.class_activation_map(model, images, classes, upsample=False, relu=True)
    heat = saliency.grad_cam(model, images, classes, upsample=False)
    _, overridden = saliency.guided_model(model)
    return {
        "rows": rows, "pixels": int(np.prod(images.shape[1:3])), "accuracy": float(np.mean(classes == labels)),
        "stroke_area": float(np.mean(stroke)), "random_deletion_drop": deletion_drop(model, images, classes, random_scores),
        "completeness_mean": float(np.mean(completeness)), "completeness_max": float(np.max(completeness)),
        "cam_grid": cam.shape[1:], "cam_gap": float(np.max(np.abs(cam.shape[1] * cam.shape[2] * heat - cam)) / np.max(cam)),
        "grad_cam_layer": saliency.last_feature_map_layer(model), "overridden": len(overridden),
        # occlusion positions per image, the one moved in to the edge included
        "positions": int(np.prod([-(-(side - PATCH) // STRIDE) + 1 for side in images.shape[1:3]])),
    }


def picture(model, images, labels, path: Path) -> None:
    from kerascv_suite.viz import saliency

    classes = saliency.target_classes(model, images)
    maps = {name: method(images, classes) for name, method in methods(model).items()}
    saliency.overlay(images, maps, path, titles=[f"digit {t}, predicted {p}" for t, p in zip(labels, classes)],
                     title=f"{MODEL_TEXT}: {len(images)} test images, each map explains the predicted class's logit")


def markdown(date: str, machine: str, metrics: dict, run_seconds: float, figures: dict) -> str:
    rows = figures["rows"]
    lines = [f"# Saliency maps of a ResNet-20 on the digits ({date}, {machine})", "",
             f"{MODEL_TEXT}: a fresh `kcv run` ({run_seconds:.0f} s, test accuracy {metrics['test']['accuracy']:.4f}), "
             f"its model.keras explained with `kerascv_suite.viz.saliency` on the first {MEASURED} test images "
             f"(32×32; {figures['accuracy']:.0%} of them classified right), each map for the predicted class's logit. "
             "Picture: `saliency_digits.png` (the first test image of each digit 0–5).", "",
             f"Stroke: pixels of intensity ≥ {STROKE} (the background is 0); they are {figures['stroke_area']:.1%} of the image, "
             "the share a map spread evenly would put there. Deletion: the target logit's mean drop when a map's top "
             f"{DELETE:.0%} of pixels ({int(round(DELETE * figures['pixels']))}) are set to 0; {figures['random_deletion_drop']:.2f} for "
             f"as many random pixels. Signed maps count by their positive part (CAM, occlusion) or Σ_c |·| "
             f"(guided backprop, integrated gradients). Seconds: the whole method on the {MEASURED} images.", "",
             "| method | map mass on the stroke | logit drop, top-5% deletion | seconds |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {row['stroke_mass']:.1%} | {row['deletion_drop']:.2f} | {row['seconds']:.1f} |" for name, row in rows.items()]
    lines += ["", f"- Integrated gradients, {STEPS} trapezoid steps from a black image: completeness error "
              f"|Σ attributions − (f(x) − f(0))| / |f(x) − f(0)| of {figures['completeness_mean']:.2%} on average, "
              f"{figures['completeness_max']:.2%} at worst.",
              f"- CAM and Grad-CAM read `{figures['grad_cam_layer']}` ({figures['cam_grid'][0]}×{figures['cam_grid'][1]}, the map "
              f"before the pooling): max |h·w·Grad-CAM − ReLU(CAM)| / max ReLU(CAM) = {figures['cam_gap']:.1e} (equal in exact arithmetic).",
              f"- Guided backpropagation overrode {figures['overridden']} ReLU layers.",
              f"- Occlusion: a {PATCH}×{PATCH} black patch every {STRIDE} pixels ({figures['positions']} positions per image); SmoothGrad: "
              f"{SAMPLES} copies with noise of std {NOISE:.0%} of each image's range, seed {SEED}.", ""]
    return "\n".join(lines)


def main() -> None:
    metrics, seconds, model, images, labels = trained_model(PIPELINE)
    print("trained", metrics["test"]["accuracy"], round(seconds, 1), flush=True)
    first = [int(np.flatnonzero(labels == digit)[0]) for digit in range(SHOWN)]
    picture(model, images[first], labels[first], RESULTS / "saliency_digits.png")
    figures = measure(model, images[:MEASURED], labels[:MEASURED])
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "saliency_digits.md").write_text(markdown(date, machine, metrics, seconds, figures))


if __name__ == "__main__":
    main()
