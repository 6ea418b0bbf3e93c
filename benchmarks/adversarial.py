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
    adversarial.plot_attack_curves(rows, RESULTS / "adversarial_digits.png", f"{MODEL_TEXT}: attacks on the test split",
                                   f"PGD ({STEPS} steps of ε/{round(1 / STEP_FRACTION)})", value_range)
    first = [int(np.flatnonzero(labels == digit)[0]) for digit in range(SHOWN)]
    shown, eps = images[first], SHOWN_EPSILON
    attacked = {"FGSM": adversarial.fgsm(model, shown, labels[first], eps, value_range),
                "PGD": adversarial.pgd(model, shown, labels[first], eps, STEP_FRACTION * eps, STEPS, seed=SEED, value_range=value_range)}
    adversarial.plot_adversarial_examples(
        model, shown, labels[first], attacked, eps, RESULTS / "adversarial_examples.png", value_range=value_range,
        title=f"LeNet-5 on the digits, ε = {eps} (L∞, inputs in [0, 1]); prediction (softmax), red when wrong")
    fooled, steps, reached = adversarial.fooling_image(model, np.stack([shown[0]] * 10), np.arange(10), FOOL_PROBABILITY,
                                                       FOOL_STEP, FOOL_MAX_STEPS, value_range=value_range)
    fool = adversarial.plot_fooling(
        shown[0], int(labels[first[0]]), fooled, steps, reached, RESULTS / "adversarial_fooling.png", value_range=value_range,
        title=f"Fooling images: targeted sign steps of {FOOL_STEP} in [0, 1], no ε bound, until p(target) ≥ {FOOL_PROBABILITY} "
              f"(at most {FOOL_MAX_STEPS} steps); bottom: the change (red +, blue −)")
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
