"""Fooling a network (chapter 8): FGSM, PGD and fooling images of `kerascv_suite.viz.adversarial` on LeNet-5 of the digits.

A fresh `kcv run` of pipelines/classification/lenet5.yaml (LeNet-5, tanh and average pooling,
trained by this library on scikit-learn's digits upscaled to 32×32, no pretrained weights). Its
inputs are the uint8 pixels resized and rescaled, so the value range the attacks clip to is read
from the pipeline's preprocess ops (`kerascv_suite.data.pipeline.input_value_range`): [0, 1]. On the whole test split:

- benchmarks/results/adversarial_digits.png: success rate and adversarial accuracy against ε, FGSM and PGD;
- benchmarks/results/adversarial_examples.png: SHOWN test images, the perturbations at ε = SHOWN_EPSILON
  (amplified to fill the grey scale) and the adversarial images with their predictions;
- benchmarks/results/adversarial_fooling.png: one test image pushed to each of the 10 classes;
- benchmarks/results/adversarial_digits.md (+ .json): the figures.

    python -m benchmarks.adversarial
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.runs import RESULTS, ROOT, trained_model
from benchmarks.runs import machine as describe_machine

PIPELINE = "classification/lenet5"
MODEL_TEXT = "LeNet-5 (pipelines/classification/lenet5.yaml) trained by this library on scikit-learn's digits, no pretrained weights"
EPSILONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
STEPS, STEP_FRACTION, SEED = 10, 0.25, 0          # PGD: 10 steps of ε/4 from a random start
SHOWN, SHOWN_EPSILON = 5, 0.1                      # the examples picture: the first test image of digits 0–4
FOOL_PROBABILITY, FOOL_STEP, FOOL_MAX_STEPS = 0.99, 0.01, 500


def pipeline_value_range() -> tuple[float, float]:
    from kerascv_suite.data.pipeline import input_value_range
    from kerascv_suite.spec import load_spec

    value_range = input_value_range(load_spec(ROOT / "pipelines" / f"{PIPELINE}.yaml").data.preprocess)
    if value_range is None:
        raise ValueError(f"{PIPELINE}: its preprocess ops leave the input range unknown; the attacks need it")
    return value_range


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for attack, marker in (("FGSM", "o"), ("PGD", "s")):
        chosen = [row for row in rows if row["attack"] == attack]
        eps = [row["epsilon"] for row in chosen]
        label = attack if attack == "FGSM" else f"PGD ({STEPS} steps of ε/{round(1 / STEP_FRACTION)})"
        axes[0].plot(eps, [row["success_rate"] for row in chosen], marker=marker, label=label)
        axes[1].plot(eps, [row["adversarial_accuracy"] for row in chosen], marker=marker, label=label)
    for ax, name in zip(axes, ("success rate (correct → wrong)", "adversarial accuracy")):
        ax.set_xlabel("ε (L∞, inputs in [0, 1])")
        ax.set_ylabel(name)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{MODEL_TEXT}: attacks on the test split", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def examples(model, images, labels, value_range, path: Path) -> None:
    from kerascv_suite.viz import adversarial
    from kerascv_suite.viz.saliency import logits_of

    def predicted(x):
        logits = logits_of(model, x).astype(np.float64)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return np.argmax(p, axis=1), np.max(p, axis=1)

    eps = SHOWN_EPSILON
    attacked = {"FGSM": adversarial.fgsm(model, images, labels, eps, value_range),
                "PGD": adversarial.pgd(model, images, labels, eps, STEP_FRACTION * eps, STEPS, seed=SEED, value_range=value_range)}
    columns = [("clean", images, predicted(images))]
    for name, x in attacked.items():
        columns += [(f"{name} δ (×{1 / (2 * eps):g}, grey = 0)", 0.5 + (x - images) / (2 * eps), None), (name, x, predicted(x))]
    plt = _pyplot()
    fig, axes = plt.subplots(len(images), len(columns), figsize=(1.6 * len(columns), 1.7 * len(images) + 0.4), squeeze=False)
    for column, (name, shown, prediction) in enumerate(columns):
        for row in range(len(images)):
            ax = axes[row, column]
            ax.imshow(shown[row, ..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if prediction is not None:
                ax.set_xlabel(f"→ {prediction[0][row]} ({prediction[1][row]:.0%})", fontsize=7,
                              color="black" if prediction[0][row] == labels[row] else "red")
            if row == 0:
                ax.set_title(name, fontsize=7)
            if column == 0:
                ax.set_ylabel(f"digit {labels[row]}", fontsize=7)
    fig.suptitle(f"LeNet-5 on the digits, ε = {eps} (L∞, inputs in [0, 1]); prediction (softmax), red when wrong", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fooling(model, image, label, value_range, path: Path) -> list[dict]:
    from kerascv_suite.viz import adversarial

    classes = np.arange(10)
    fooled, steps, reached = adversarial.fooling_image(model, np.stack([image] * 10), classes, FOOL_PROBABILITY, FOOL_STEP,
                                                       FOOL_MAX_STEPS, value_range=value_range)
    delta = (fooled - image).reshape(10, -1)
    found = [{"target": int(c), "steps": int(s), "probability": float(p), "linf": float(np.abs(d).max()),
              "l2": float(np.linalg.norm(d))} for c, s, p, d in zip(classes, steps, reached, delta)]
    plt = _pyplot()
    fig, axes = plt.subplots(2, 11, figsize=(15, 3.4))
    axes[0, 0].imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title(f"test digit {label}", fontsize=7)
    axes[1, 0].axis("off")
    bound = max(max(row["linf"] for row in found), 1e-6)
    for c, row in enumerate(found):
        axes[0, c + 1].imshow(fooled[c, ..., 0], cmap="gray", vmin=0, vmax=1)
        axes[0, c + 1].set_title(f"→ {c}: p = {row['probability']:.3f}\n{row['steps']} steps", fontsize=7)
        axes[1, c + 1].imshow(fooled[c, ..., 0] - image[..., 0], cmap="coolwarm", vmin=-bound, vmax=bound)
        axes[1, c + 1].set_xlabel(f"L∞ {row['linf']:.2f}, L2 {row['l2']:.2f}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 1].set_ylabel("δ", fontsize=8)
    fig.suptitle(f"Fooling images: targeted sign steps of {FOOL_STEP} in [0, 1], no ε bound, until p(target) ≥ {FOOL_PROBABILITY} "
                 f"(at most {FOOL_MAX_STEPS} steps); bottom: the change (red +, blue −)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return found


def markdown(date: str, machine: str, metrics: dict, run_seconds: float, value_range, figures: dict) -> str:
    rows, count = figures["rows"], figures["images"]
    by = {(row["attack"], row["epsilon"]): row for row in rows}
    lines = [f"# Adversarial examples against LeNet-5 on the digits ({date}, {machine})", "",
             f"{MODEL_TEXT}: a fresh `kcv run` ({run_seconds:.0f} s, test accuracy {metrics['test']['accuracy']:.4f}), its "
             f"model.keras attacked with `kerascv_suite.viz.adversarial` on all {count} test images (32×32, value range "
             f"{list(value_range)} read from the pipeline's preprocess: resize, then rescale 1/255). The loss is the "
             f"cross-entropy of the logits and the true label; ε is an L∞ bound in input units (1/255 ≈ 0.004). "
             f"FGSM: one step of ε·sign(∇ₓ loss). PGD: {STEPS} steps of ε/{round(1 / STEP_FRACTION)} from a uniform random "
             f"start in the ε-ball (seed {SEED}), each projected back into the ball and [0, 1]. Success rate: the share of the "
             f"test images classified right before the attack that are wrong after it. L∞, L2: means over images of "
             f"‖x′ − x‖ (clipping to [0, 1] makes them smaller than ε and ε·√1024 = 32ε on the black background).", "",
             "Pictures: `adversarial_digits.png` (the curves), `adversarial_examples.png` (ε = "
             f"{SHOWN_EPSILON}), `adversarial_fooling.png`.", "",
             "| ε | clean acc. | FGSM adv. acc. | FGSM success | FGSM L∞ | FGSM L2 | FGSM loss | PGD adv. acc. | PGD success | PGD L∞ | PGD L2 | PGD loss |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for eps in EPSILONS:
        f, p = by[("FGSM", eps)], by[("PGD", eps)]
        lines.append(f"| {eps:g} | {f['clean_accuracy']:.1%} | {f['adversarial_accuracy']:.1%} | {f['success_rate']:.1%} | "
                     f"{f['linf']:.3f} | {f['l2']:.2f} | {f['loss']:.2f} | {p['adversarial_accuracy']:.1%} | {p['success_rate']:.1%} | "
                     f"{p['linf']:.3f} | {p['l2']:.2f} | {p['loss']:.2f} |")
    fool = figures["fooling"]
    reached = [row for row in fool if row["steps"] >= 0]
    lines += ["", f"- Seconds on {count} images, all six ε: FGSM {figures['seconds']['FGSM']:.1f}, PGD "
              f"{figures['seconds']['PGD']:.1f} (the report, both attacks: {figures['seconds']['report']:.1f}).",
              f"- Fooling images from test digit {figures['fooling_label']} (sign steps of {FOOL_STEP}, no ε bound, until "
              f"p(target) ≥ {FOOL_PROBABILITY}, at most {FOOL_MAX_STEPS} steps): {len(reached)} of 10 classes reached.", "",
              "| target | steps | p(target) | L∞ | L2 |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {row['target']} | {row['steps'] if row['steps'] >= 0 else 'not reached'} | {row['probability']:.4f} | "
              f"{row['linf']:.2f} | {row['l2']:.2f} |" for row in fool]
    return "\n".join(lines) + "\n"


def main() -> None:
    from kerascv_suite.viz import adversarial

    value_range = pipeline_value_range()
    metrics, seconds, model, images, labels = trained_model(PIPELINE)
    images, labels = np.asarray(images, np.float32), np.asarray(labels, np.int32)
    print("trained", metrics["test"]["accuracy"], round(seconds, 1), value_range, images.min(), images.max(), flush=True)
    started = time.time()
    rows = adversarial.attack_report(model, images, labels, EPSILONS, STEPS, STEP_FRACTION, seed=SEED, value_range=value_range)
    report_seconds = time.time() - started
    timing = {"report": report_seconds}
    for name, attack in (("FGSM", lambda e: adversarial.fgsm(model, images, labels, e, value_range)),
                         ("PGD", lambda e: adversarial.pgd(model, images, labels, e, STEP_FRACTION * e, STEPS, seed=SEED,
                                                           value_range=value_range))):
        started = time.time()
        for eps in EPSILONS:
            attack(eps)
        timing[name] = time.time() - started
    for row in rows:
        print(row, flush=True)
    curves(rows, RESULTS / "adversarial_digits.png")
    first = [int(np.flatnonzero(labels == digit)[0]) for digit in range(SHOWN)]
    examples(model, images[first], labels[first], value_range, RESULTS / "adversarial_examples.png")
    fool = fooling(model, images[first[0]], int(labels[first[0]]), value_range, RESULTS / "adversarial_fooling.png")
    print(fool, flush=True)
    figures = {"rows": rows, "images": len(images), "seconds": timing, "fooling": fool, "fooling_label": int(labels[first[0]])}
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "adversarial_digits.md").write_text(markdown(date, machine, metrics, seconds, value_range, figures))
    (RESULTS / "adversarial_digits.json").write_text(json.dumps(
        {"date": date, "machine": machine, "pipeline": PIPELINE, "run_seconds": seconds, "test_accuracy": metrics["test"]["accuracy"],
         "value_range": list(value_range), "epsilons": list(EPSILONS), "pgd": {"steps": STEPS, "step_fraction": STEP_FRACTION, "seed": SEED},
         **figures}, indent=1))


if __name__ == "__main__":
    main()
