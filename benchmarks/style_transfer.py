"""Texture synthesis and style transfer (chapter 8): `kerascv_suite.viz.style` with a VGG-11 this library trains.

A fresh `kcv run` of pipelines/understanding/texture_synthesis.yaml (VGG-11 with BatchNorm,
trained by this library at 32×32 on shapes scenes over scikit-image's brick, grass and gravel,
no pretrained weights; inputs in [0, 1]) gives the loss network; its convolutions read SIZE×SIZE
images here. The same architecture with its random initial weights is the baseline: Gram
matching with random filters already gives textures (Ustyuzhaninov et al., 2016), so the
comparison shows what training added.

- benchmarks/results/texture_synthesis.png: each texture | synthesised by the trained network | by
  the untrained one, with the Gram loss curves;
- benchmarks/results/style_transfer.png: content | style | result with content, style and TV
  loss curves, for a texture style and a photo style;
- benchmarks/results/style_textures.md: the settings and the numbers, as measured.

    python -m benchmarks.style_transfer
"""

from __future__ import annotations

import datetime
import time

import numpy as np

from benchmarks.runs import RESULTS, trained_model
from benchmarks.runs import machine as describe_machine

PIPELINE = "understanding/texture_synthesis"
MODEL_TEXT = ("VGG-11-BN (pipelines/understanding/texture_synthesis.yaml) trained by this library on shapes scenes with "
              "scikit-image texture backgrounds, no pretrained weights")
SIZE, SCALE, SEED = 128, 4, 0
TEXTURE = dict(steps=400, learning_rate=0.02)
TRANSFER = dict(steps=400, learning_rate=0.02, content_weight=1.0, style_weight=1.0, tv_weight=1.0, start="noise")
CONTENT, STYLES, CONTENT_LAYER = "chelsea", ("brick", "coffee"), 1   # the content layer: the second of default_layers


def _untrained(model):
    """The run's architecture with fresh random weights (the seeded initialisers of its own spec)."""
    import keras

    keras.utils.set_random_seed(SEED)
    return keras.models.clone_model(model)


def textures(model, baseline) -> dict:
    from kerascv_suite.viz import style

    layers = style.default_layers(model)
    rows, curves, found = {}, {}, {}
    for name in style.TEXTURES:
        texture = style.skimage_image(name, SIZE, SCALE)
        rows[name], curves[name], found[name] = [("source", texture)], {}, {}
        for label, net in (("trained", model), ("untrained", baseline)):
            started = time.time()
            image, losses = style.texture_synthesis(net, texture, layers, seed=SEED, **TEXTURE)
            seconds = time.time() - started
            ratio = float(losses[0] / losses[-1])
            rows[name].append((f"{label} VGG-11: ÷{ratio:.0f}", image))
            curves[name][f"Gram loss, {label}"] = losses
            found[name][label] = {"start": float(losses[0]), "end": float(losses[-1]), "ratio": ratio, "seconds": seconds}
        print(name, found[name], flush=True)
    style.plot_style(rows, curves, RESULTS / "texture_synthesis.png",
                     title=f"Texture synthesis (Gatys et al., 2015): Gram matrices at {', '.join(layers)} matched from noise, "
                           f"{TEXTURE['steps']} Adam steps (rate {TEXTURE['learning_rate']}, cosine-decayed), {SIZE}×{SIZE} ({SCALE} source pixels per "
                           f"pixel); loss network: {MODEL_TEXT}, against its untrained twin; ÷: Gram loss first / last step")
    return {"layers": layers, "rows": found}


def transfers(model) -> dict:
    from kerascv_suite.viz import style

    layers = style.default_layers(model)
    content_layers = [layers[CONTENT_LAYER]]
    content = style.skimage_image(CONTENT, SIZE)
    rows, curves, found = {}, {}, {}
    for name in STYLES:
        picture = style.skimage_image(name, SIZE, SCALE if name in style.TEXTURES else None)
        started = time.time()
        result, histories = style.style_transfer(model, content, picture, content_layers, layers, seed=SEED, **TRANSFER)
        seconds = time.time() - started
        row = f"{CONTENT} in {name}"
        rows[row] = [(f"content: {CONTENT}", content), (f"style: {name}", picture), ("result", result)]
        curves[row] = histories
        found[row] = {**{k: (float(v[0]), float(v[-1])) for k, v in histories.items()}, "seconds": seconds}
        print(row, found[row], flush=True)
    t = TRANSFER
    style.plot_style(rows, curves, RESULTS / "style_transfer.png",
                     title=f"Style transfer (Gatys et al., 2016): {t['content_weight']:g}·content ({content_layers[0]}) + "
                           f"{t['style_weight']:g}·style ({', '.join(layers)}) + {t['tv_weight']:g}·TV, {t['steps']} Adam steps (rate "
                           f"{t['learning_rate']}, cosine-decayed) from noise, {SIZE}×{SIZE}; loss network: {MODEL_TEXT}")
    return {"content_layers": content_layers, "style_layers": layers, "rows": found}


def markdown(date: str, machine: str, metrics: dict, run_seconds: float, tex: dict, st: dict) -> str:
    lines = [f"# Texture synthesis and style transfer with a VGG-11 of the shapes scenes ({date}, {machine})", "",
             f"{MODEL_TEXT}: a fresh `kcv run` ({run_seconds:.0f} s with its reports, test accuracy "
             f"{metrics['test']['accuracy']:.4f}), trained at 32×32; `kerascv_suite.viz.style` reads its convolutions at "
             f"{SIZE}×{SIZE}, images in [0, 1] (clipped), seed {SEED}. Losses are relative: a layer's Gram loss is "
             "mean (G(x) − G(s))² / mean G(s)² (G = FᵀF/(H·W)), summed over the layers with weight 1; the content loss "
             "mean (F(x) − F(c))² / mean F(c)²; TV the mean squared neighbour difference.", "",
             "## Texture synthesis (`texture_synthesis.png`)", "",
             f"scikit-image's 512×512 grayscale textures, the centred {SCALE * SIZE}² area-averaged to {SIZE}×{SIZE}; "
             f"Gram matrices matched at {', '.join(f'`{l}`' for l in tex['layers'])}, {TEXTURE['steps']} Adam steps from "
             f"noise (std 0.1 around 0.5), the rate {TEXTURE['learning_rate']} cosine-decayed to 0. The untrained row: the same architecture "
             "with fresh random weights (`keras.models.clone_model`, seed 0).", "",
             "| texture | network | Gram loss, first → last step | ratio | seconds |", "|---|---|---:|---:|---:|"]
    for name, row in tex["rows"].items():
        lines += [f"| {name} | {label} | {r['start']:.3g} → {r['end']:.3g} | {r['ratio']:.0f} | {r['seconds']:.1f} |"
                  for label, r in row.items()]
    t = TRANSFER
    lines += ["", "## Style transfer (`style_transfer.png`)", "",
              f"Content: scikit-image's `{CONTENT}` (largest centred square at {SIZE}×{SIZE}) at `{st['content_layers'][0]}`; "
              f"style at {', '.join(f'`{l}`' for l in st['style_layers'])}; loss = {t['content_weight']:g}·content + "
              f"{t['style_weight']:g}·style + {t['tv_weight']:g}·TV, {t['steps']} Adam steps from noise, the "
              f"rate {t['learning_rate']} cosine-decayed to 0. A texture style is cropped as above; a photo style is its largest centred square.", "",
              "| content in style | content loss | style loss | TV | seconds |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {r['content'][0]:.3g} → {r['content'][1]:.3g} | {r['style'][0]:.3g} → {r['style'][1]:.3g} | "
              f"{r['tv'][0]:.3g} → {r['tv'][1]:.3g} | {r['seconds']:.1f} |" for name, r in st["rows"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    metrics, seconds, model, _, _ = trained_model(PIPELINE)
    print("trained", metrics["test"]["accuracy"], round(seconds, 1), flush=True)
    tex = textures(model, _untrained(model))
    st = transfers(model)
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "style_textures.md").write_text(markdown(date, machine, metrics, seconds, tex, st))


if __name__ == "__main__":
    main()
