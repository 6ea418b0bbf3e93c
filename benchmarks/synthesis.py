"""Synthesis by gradient ascent (chapter 8): `kerascv_suite.viz.synthesis` on LeNet-5 of the digits.

A fresh `kcv run` of pipelines/classification/lenet5.yaml (LeNet-5, tanh and average pooling,
trained by this library on scikit-learn's digits upscaled to 32×32, no pretrained weights);
its inputs lie in [0, 1] (`benchmarks.adversarial.pipeline_value_range`), the clip range here.

- benchmarks/results/synthesis_classes.png: `class_visualisation` of each digit, with the
  model's softmax probability of the target;
- benchmarks/results/synthesis_inversion.png: test digits and their `feature_inversion` from
  INVERTED layers, with the relative feature error ‖φ(x) − φ(x₀)‖ / ‖φ(x₀)‖;
- benchmarks/results/synthesis_dream.png: `deep_dream` of a test digit at DREAMED layers;
- benchmarks/results/synthesis_digits.md: the settings and the numbers, as measured.

    python -m benchmarks.synthesis
"""

from __future__ import annotations

import datetime
import time

import numpy as np

from benchmarks.adversarial import pipeline_value_range
from benchmarks.runs import RESULTS, trained_model
from benchmarks.runs import machine as describe_machine

PIPELINE = "classification/lenet5"
MODEL_TEXT = "LeNet-5 (pipelines/classification/lenet5.yaml) trained by this library on scikit-learn's digits, no pretrained weights"
SEED = 0
CLASS = dict(steps=300, learning_rate=0.05, l2=1e-3, blur_every=10, blur_sigma=0.5, jitter=2)
INVERTED, INVERTED_DIGITS = ("c1_act", "c3_act", "f6_act"), (3, 7)
INVERSION = dict(steps=400, tv_weight=1e-3, learning_rate=0.05, tv_power=2)
DREAMED, DREAM_DIGIT = ("c1_act", "c3_act", "c5_act"), 5
DREAM = dict(steps=20, octaves=3, octave_scale=1.4, jitter=2, step_size=0.01)


def _probabilities(model, images) -> np.ndarray:
    from kerascv_suite.viz.saliency import logits_of

    logits = logits_of(model, images).astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def _half_squared_norm(model, images, layer) -> np.ndarray:
    from kerascv_suite.viz.synthesis import layer_model

    a = np.asarray(layer_model(model, layer)(images, training=False), np.float64)
    return 0.5 * np.sum(a.reshape(len(a), -1) ** 2, axis=1)


def classes(model, value_range) -> dict:
    from kerascv_suite.viz.synthesis import class_visualisation, plot_synthesis

    started = time.time()
    images, scores = class_visualisation(model, np.arange(10), (32, 32, 1), clip=value_range, seed=SEED, **CLASS)
    seconds = time.time() - started
    p = _probabilities(model, images)
    target = p[np.arange(10), np.arange(10)]
    logits = scores[[0, -1]]
    plot_synthesis({"class visualisation": images}, RESULTS / "synthesis_classes.png",
                   {"class visualisation": [f"{c}: p = {target[c]:.3f}" for c in range(10)]},
                   title=f"LeNet-5 on the digits: argmax_x logit_c − {CLASS['l2']}‖x‖², {CLASS['steps']} Adam steps of "
                         f"{CLASS['learning_rate']}, blur σ = {CLASS['blur_sigma']} every {CLASS['blur_every']}, jitter "
                         f"±{CLASS['jitter']} px, clip to [0, 1]; p = softmax of the target", value_range=value_range)
    return {"probability": target.tolist(), "predicted": np.argmax(p, axis=1).tolist(), "logit_start": logits[0].tolist(),
            "logit_end": logits[1].tolist(), "seconds": seconds}


def inversion(model, images, labels, value_range) -> dict:
    from kerascv_suite.viz.synthesis import feature_inversion, feature_loss, plot_synthesis

    chosen = [int(np.flatnonzero(labels == digit)[0]) for digit in INVERTED_DIGITS]
    rows, captions, found = {}, {}, {}
    started = time.time()
    for index in chosen:
        name = f"test digit {labels[index]}"
        rows[name], captions[name] = [images[index]], ["original"]
        for layer in INVERTED:
            reconstruction, losses = feature_inversion(model, images[index], layer, clip=value_range, seed=SEED, **INVERSION)
            error = float(np.sqrt(feature_loss(model, reconstruction[None], layer, images[index : index + 1])[0]))
            pixels = float(np.sqrt(np.mean((reconstruction - images[index]) ** 2)))
            predicted = int(np.argmax(_probabilities(model, reconstruction[None])[0]))
            found[(int(labels[index]), layer)] = {"feature_error": error, "start_loss": float(losses[0, 0]),
                                                  "end_loss": float(losses[-1, 0]), "pixel_rmse": pixels, "predicted": predicted}
            rows[name].append(reconstruction)
            captions[name].append(f"{layer}: err {error:.3f}")
    seconds = time.time() - started
    plot_synthesis(rows, RESULTS / "synthesis_inversion.png", captions,
                   title=f"Feature inversion (Mahendran & Vedaldi): ‖φ(x) − φ(x₀)‖²/‖φ(x₀)‖² + {INVERSION['tv_weight']}·TV₂(x), "
                         f"{INVERSION['steps']} Adam steps from noise; err = ‖φ(x) − φ(x₀)‖/‖φ(x₀)‖", value_range=value_range)
    return {"rows": found, "seconds": seconds}


def dream(model, images, labels, value_range) -> dict:
    from kerascv_suite.viz.synthesis import deep_dream, plot_synthesis

    index = int(np.flatnonzero(labels == DREAM_DIGIT)[0])
    image = images[index : index + 1]
    shown, captions, found = [image[0]], ["original"], {}
    started = time.time()
    for layer in DREAMED:
        dreamed, _ = deep_dream(model, image, layer, clip=value_range, seed=SEED, **DREAM)
        before, after = _half_squared_norm(model, image, layer)[0], _half_squared_norm(model, dreamed, layer)[0]
        p = _probabilities(model, dreamed)[0]
        found[layer] = {"before": float(before), "after": float(after), "ratio": float(after / before),
                        "predicted": int(np.argmax(p)), "p_label": float(p[DREAM_DIGIT])}
        shown.append(dreamed[0])
        captions.append(f"{layer}: ×{after / before:.2f}")
    seconds = time.time() - started
    plot_synthesis({f"test digit {DREAM_DIGIT}": np.stack(shown)}, RESULTS / "synthesis_dream.png",
                   {f"test digit {DREAM_DIGIT}": captions},
                   title=f"DeepDream: ascend ½‖a‖² of a layer, {DREAM['octaves']} octaves × {DREAM['steps']} normalised steps of "
                         f"{DREAM['step_size']}, scale {DREAM['octave_scale']}, jitter ±{DREAM['jitter']} px; ×: ½‖a‖² after / before",
                   value_range=value_range)
    return {"rows": found, "seconds": seconds, "label": DREAM_DIGIT}


def markdown(date: str, machine: str, metrics: dict, run_seconds: float, figures: dict) -> str:
    c, inv, dr = figures["classes"], figures["inversion"], figures["dream"]
    lines = [f"# Synthesis by gradient ascent on LeNet-5 of the digits ({date}, {machine})", "",
             f"{MODEL_TEXT}: a fresh `kcv run` ({run_seconds:.0f} s, test accuracy {metrics['test']['accuracy']:.4f}), its "
             f"model.keras held fixed while `kerascv_suite.viz.synthesis` optimises 32×32 images in [0, 1] (clipped), seed {SEED}.", "",
             f"## Class visualisation (`synthesis_classes.png`, {c['seconds']:.1f} s for all 10)", "",
             f"argmax_x logit_c(x) − {CLASS['l2']}‖x‖² from noise around 0.5 (std 0.05): {CLASS['steps']} Adam steps of "
             f"{CLASS['learning_rate']}, each on the image rolled by up to ±{CLASS['jitter']} px and clipped to [0, 1]; Gaussian "
             f"blur σ = {CLASS['blur_sigma']} px every {CLASS['blur_every']} steps. p: the softmax probability the model gives the "
             f"target on the final image.", "",
             "| target | logit, first step | logit, last step | predicted | p(target) |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {t} | {c['logit_start'][t]:.2f} | {c['logit_end'][t]:.2f} | {c['predicted'][t]} | {c['probability'][t]:.4f} |"
              for t in range(10)]
    lines += ["", f"Mean p(target) {np.mean(c['probability']):.4f}, minimum {np.min(c['probability']):.4f}; "
              f"{sum(int(p == t) for t, p in enumerate(c['predicted']))} of 10 predicted as their target.", "",
              f"## Feature inversion (`synthesis_inversion.png`, {inv['seconds']:.1f} s for all)", "",
              f"argmin_x ‖φ(x) − φ(x₀)‖²/‖φ(x₀)‖² + {INVERSION['tv_weight']}·TV(x), TV = Σ squared vertical and horizontal neighbour "
              f"differences (p = {INVERSION['tv_power']}), {INVERSION['steps']} Adam steps of {INVERSION['learning_rate']} from noise. "
              "Feature error: ‖φ(x) − φ(x₀)‖/‖φ(x₀)‖ of the reconstruction; loss: the relative squared error at the first and "
              "last step; pixel RMSE against the original.", "",
              "| digit | layer | feature error | loss, first → last | pixel RMSE | predicted |", "|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {digit} | `{layer}` | {row['feature_error']:.4f} | {row['start_loss']:.3f} → {row['end_loss']:.5f} | "
              f"{row['pixel_rmse']:.3f} | {row['predicted']} |" for (digit, layer), row in inv["rows"].items()]
    lines += ["", f"## Deep dream (`synthesis_dream.png`, {dr['seconds']:.1f} s for all)", "",
              f"Test digit {dr['label']}: ascend ½‖a‖² of the layer with x ← clip(x + {DREAM['step_size']}·g/mean|g|), "
              f"{DREAM['steps']} steps at each of {DREAM['octaves']} octaves (scale {DREAM['octave_scale']}: 16, 23, 32 px, each "
              f"resized to LeNet-5's fixed 32×32 input inside the gradient), jitter ±{DREAM['jitter']} px.", "",
              "| layer | ½‖a‖² before | after | ratio | predicted | p(digit) |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| `{layer}` | {row['before']:.2f} | {row['after']:.2f} | {row['ratio']:.2f} | {row['predicted']} | {row['p_label']:.4f} |"
              for layer, row in dr["rows"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    value_range = pipeline_value_range()
    metrics, seconds, model, images, labels = trained_model(PIPELINE)
    images, labels = np.asarray(images, np.float32), np.asarray(labels, np.int32)
    print("trained", metrics["test"]["accuracy"], round(seconds, 1), value_range, flush=True)
    figures = {"classes": classes(model, value_range)}
    print(figures["classes"], flush=True)
    figures["inversion"] = inversion(model, images, labels, value_range)
    print(figures["inversion"], flush=True)
    figures["dream"] = dream(model, images, labels, value_range)
    print(figures["dream"], flush=True)
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "synthesis_digits.md").write_text(markdown(date, machine, metrics, seconds, figures))


if __name__ == "__main__":
    main()
