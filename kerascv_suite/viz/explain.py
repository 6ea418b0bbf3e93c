"""`kcv explain METHOD RUN_DIR`: which pixels a finished classification run's model looks at, as a PNG in the run folder.

The command side of `kerascv_suite.viz.saliency`: it loads a finished run (its saved model, its
spec's data pipeline and class names), takes the first `n` test images — or image files /
uint8 .npy arrays the user names, decoded and resized to the source's image size and then
preprocessed exactly as in training — computes one method's maps (or every method's, `all`)
for the predicted class, and draws them over the images with `saliency.overlay`. The picture
goes to <run>/explain/<method>-<timestamp>.png, or to `out`, never over an existing file.

Example::

    path = explain_run("runs/resnet20_digits/20261204-101500", "grad_cam", n=6)
    # runs/resnet20_digits/20261204-101500/explain/grad_cam-20261204-190102.png
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kerascv_suite.spec.errors import UserError

# method name → the saliency function and the column title
METHODS = {
    "occlusion": ("occlusion_sensitivity", "occlusion"),
    "gradient": ("gradient_saliency", "gradient"),
    "guided_backprop": ("guided_backprop", "guided backprop"),
    "cam": ("class_activation_map", "CAM"),
    "grad_cam": ("grad_cam", "Grad-CAM"),
    "integrated_gradients": ("integrated_gradients", "integrated gradients"),
    "smoothgrad": ("smoothgrad", "SmoothGrad"),
}


def _file_images(paths: list[str], pipeline) -> np.ndarray:
    """The named image files / .npy arrays as uint8 [N, H, W, C] at the source's image size and channels."""
    import tensorflow as tf

    from kerascv_suite.export.predict import read_inputs
    from kerascv_suite.export.serving import resize_pixels

    raw = pipeline.info.raw_shape or pipeline.info.input_shape
    size, channels = tuple(int(v) for v in raw[:2]), int(raw[2])
    images = []
    for name, data in read_inputs(paths):
        batch = data if isinstance(data, np.ndarray) else tf.io.decode_image(data, channels=channels, expand_animations=False)[None]
        if batch.shape[-1] != channels:
            raise UserError(f"{name}: the model reads {channels}-channel images, this has {batch.shape[-1]}")
        images.append(np.asarray(resize_pixels(batch, size)))
    return np.concatenate(images)


def explain_run(run_dir: str | Path, method: str, images: list[str] | None = None, n: int = 8, out: str | Path | None = None) -> Path:
    """Draw `method`'s maps (a key of `METHODS`, or "all") for `n` test images or the named files; return the PNG's path.

    Raises `UserError` (one line) for an unknown method, a run that is not a classifier, a
    method the model does not support (CAM needs global average pooling and one dense layer;
    guided backprop needs ReLUs), a bad image file or an existing `out`.
    """
    from kerascv_suite.training.trainer import load_run

    if method != "all" and method not in METHODS:
        raise UserError(f"explain: unknown method '{method}'; allowed: {', '.join(METHODS)}, all")
    if n < 1:
        raise UserError(f"explain: --n must be at least 1, got {n}")
    run_dir = Path(run_dir)
    spec, pipeline, model, _ = load_run(run_dir)
    if spec.task.name != "classification":
        raise UserError(f"explain: the methods explain a class score; {run_dir} is a {spec.task.name} run")
    if out is not None and Path(out).exists():
        raise UserError(f"--out {out}: already exists; results are never overwritten")
    if images:
        x = np.asarray(pipeline.preprocess_images(_file_images(images, pipeline)))
        labels = None
    else:
        x, labels = pipeline.examples("test", limit=n)
    out = Path(out) if out is not None else None
    if out is None:
        folder = run_dir / "explain"
        folder.mkdir(exist_ok=True)
        out = folder / f"{method}-{time.strftime('%Y%m%d-%H%M%S')}.png"
        while out.exists():  # two calls in one second
            out = out.with_name(out.stem + "-1.png")
    try:
        draw_saliency(model, x, labels, list(METHODS) if method == "all" else [method], list(pipeline.info.class_names), out,
                      f"{spec.name}: {model.name} trained by this library ({run_dir.name})")
    except ValueError as error:
        raise UserError(f"explain {method}: {error}") from None
    return out


def draw_saliency(model, x: np.ndarray, labels, methods: list[str], class_names: list[str], path: Path, subtitle: str) -> None:
    """Each method's map (keys of `METHODS`) of the predicted class over the images `x`, one row per image, into `path`.

    `labels` (the true classes, or None for the user's own files) go into the row titles.
    Raises ValueError when the model does not support a method (CAM without a GAP head).
    """
    from kerascv_suite.viz import saliency

    predicted = saliency.target_classes(model, x)
    maps = {METHODS[key][1]: getattr(saliency, METHODS[key][0])(model, x, predicted) for key in methods}
    titles = [f"predicted {class_names[p]}" if labels is None else f"{class_names[int(t)]}, predicted {class_names[p]}"
              for t, p in zip(labels if labels is not None else predicted, predicted)]
    saliency.overlay(x, maps, path, titles=titles, title=f"{subtitle}; maps explain the predicted class")
