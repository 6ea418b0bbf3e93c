"""Fast style transfer (Johnson et al., 2016; Dumoulin et al., 2017): one network, three styles, then exported.

A fresh `kcv run` of pipelines/understanding/style_transfer.yaml (VGG-11 with BatchNorm, trained by
this library at 32×32 on shapes scenes over scikit-image textures, no pretrained weights; inputs in
[0, 1]) gives the loss network, re-applied at 64×64. A `style_network` with conditional instance
normalisation for three styles is trained by `FastStyleTrainer` on random 64×64 crops of four
scikit-image photos, each image of a batch in a random style; then it is exported as a SavedModel
(checked in a fresh process) and a TFLite file (checked in LiteRT), uint8 pixels in and out.

Losses are relative, as in benchmarks/style_transfer.py: each style layer's weight is divided by
the mean G² of the styles' Gram matrices there, the content weight by the mean F² of the training
crops' content features, and the TV weight by the pixels of an image (so TV is the mean squared
neighbour difference).

- benchmarks/results/fast_style.png: the styles, then each content image in every style and in an
  even mixture of the three, with the training loss curves;
- benchmarks/results/fast_style.md: the settings and the numbers, as measured.

    python -m benchmarks.fast_style
"""

from __future__ import annotations

import datetime
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.runs import RESULTS, trained_model
from benchmarks.runs import machine as describe_machine

PIPELINE = "understanding/style_transfer"
SIZE, SEED = 64, 0
TRAIN_PHOTOS, PHOTO_SIDE, CROPS = ("astronaut", "chelsea", "coffee", "rocket"), 160, 256
SHOWN = ("chelsea", "astronaut", "rocket")          # whole pictures at 64×64 (training saw 64×64 crops at 160×160)
STYLES = (("brick", 2), ("hubble_deep_field", None), ("immunohistochemistry", None))   # (picture, texture scale)
NETWORK = dict(filters=16, residual_blocks=3)
CONTENT_LAYER = "block2_conv1_act"
WEIGHTS = dict(content=1.0, style=1.0, tv=1.0)
EPOCHS, BATCH, LEARNING_RATE = 20, 8, 2e-3


def main() -> None:
    import tensorflow as tf

    from kerascv_suite.export.style import export_style_savedmodel, export_style_tflite
    from kerascv_suite.viz.style import (content_crops, default_layers, fast_style_rows, plot_style, skimage_image,
                                         style_pictures, fast_style_trainer)

    started = time.time()
    metrics, run_seconds, loss_network, _, _ = trained_model(PIPELINE)
    layers = default_layers(loss_network)
    crops = content_crops(list(TRAIN_PHOTOS), SIZE, CROPS, PHOTO_SIDE, SEED)
    styles = style_pictures([name for name, _ in STYLES], SIZE)
    network, trainer = fast_style_trainer(loss_network, styles, crops, CONTENT_LAYER, layers, LEARNING_RATE, seed=SEED,
                                          weights=(WEIGHTS["content"], WEIGHTS["style"], WEIGHTS["tv"]), **NETWORK)
    fixed = tf.one_hot(np.arange(64) % len(STYLES), len(STYLES))   # every style on a fixed set: the loss before and after
    before = {k: float(v) for k, v in trainer.losses_of(crops[:64], fixed).items()}
    train_started = time.time()
    history = trainer.fit(crops, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=2).history
    train_seconds = time.time() - train_started
    after = {k: float(v) for k, v in trainer.losses_of(crops[:64], fixed).items()}

    shown = {name: skimage_image(name, SIZE) for name in SHOWN}
    curves = {"styles": {key: history[key] for key in ("loss", "content_loss", "style_loss", "tv_loss")}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_style(fast_style_rows(network, shown, styles, [name for name, _ in STYLES]), curves, RESULTS / "fast_style.png",
               x_label="epoch",
               title=f"One network, {len(STYLES)} styles (conditional instance norm), trained {EPOCHS} epochs on {CROPS} crops; "
                     "loss network: this library's VGG-11 of the shapes scenes; curves: training losses per epoch")
    shown = np.stack(list(shown.values())).astype(np.float32)

    pixels = np.round(np.concatenate([shown, crops[:3]]) * 255).astype(np.uint8)   # 6 images: every style, and a mixture
    with tempfile.TemporaryDirectory() as folder:
        export_started = time.time()
        saved = export_style_savedmodel(network, Path(folder) / "savedmodels", name="fast_style", check_images=pixels)
        saved_bytes = sum(p.stat().st_size for p in Path(saved["path"]).rglob("*") if p.is_file())
        lite = export_style_tflite(network, Path(folder) / "fast_style.tflite", check_images=pixels)
        export_seconds = time.time() - export_started

    table = "\n".join(f"| {term} | {before[term]:.4g} → {after[term]:.4g} | {history[term][0]:.4g} → {history[term][-1]:.4g} |"
                      for term in ("content_loss", "style_loss", "tv_loss", "loss"))
    report = f"""# Fast style transfer: one network, {len(STYLES)} styles ({datetime.date.today()}, {describe_machine()})

Loss network: VGG-11-BN from a fresh `kcv run` of pipelines/{PIPELINE}.yaml (test accuracy {metrics['test']['accuracy']:.4f}, {run_seconds:.0f} s with its reports),
trained by this library at 32×32, no pretrained weights, re-applied at {SIZE}×{SIZE}. Content layer `{CONTENT_LAYER}`; style layers {', '.join(f'`{l}`' for l in layers)}.

Transformation network: `style_network((64, 64, 3), styles={len(STYLES)}, filters={NETWORK['filters']}, residual_blocks={NETWORK['residual_blocks']})`,
{network.count_params():,} parameters, conditional instance normalisation (a γ, β per style in every normalisation layer).
Styles: {', '.join(f'{n} (texture, {k}× grain)' if k else f'{n} (whole picture)' for n, k in STYLES)}, each {SIZE}×{SIZE}.
Content: {CROPS} random {SIZE}×{SIZE} crops (half mirrored) of {', '.join(TRAIN_PHOTOS)} at {PHOTO_SIDE}×{PHOTO_SIDE}; each image of a batch in a random style.
Weights (relative, see benchmarks/fast_style.py): content {WEIGHTS['content']}, style {WEIGHTS['style']}, TV {WEIGHTS['tv']};
Adam {LEARNING_RATE}, batch {BATCH}, {EPOCHS} epochs ({EPOCHS * CROPS // BATCH} steps), seed {SEED}.

| loss (weighted) | 64 fixed crops, each style in turn: before → after | training, first → last epoch mean |
|---|---:|---:|
{table}

Training: {train_seconds:.0f} s. Whole benchmark: {time.time() - started:.0f} s (export {export_seconds:.0f} s).

## Export (uint8 pixels in, stylised uint8 out; {len(pixels)} check images, styles one-hot in turn, the last an even mixture)

| format | largest difference from the Keras model (grey levels) | size |
|---|---:|---:|
| SavedModel, reloaded in a fresh process | {saved['verification']['largest_differences']['stylised']:g} | {saved_bytes / 1e6:.2f} MB |
| TFLite (builtin ops only), LiteRT | {lite['max_abs_difference']:g} | {lite['size_bytes'] / 1e6:.2f} MB |

Picture: benchmarks/results/fast_style.png (the three shown photos are whole pictures; training saw crops of them at another scale).
"""
    (RESULTS / "fast_style.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
