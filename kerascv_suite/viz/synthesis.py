"""Images made by gradient ascent on the input (CS231n's "visualising and understanding": synthesis).

Instead of asking which pixels of a real image matter (`kerascv_suite.viz.saliency`), these
functions hold the network fixed and optimise the image itself, a `tf.Variable` [B, H, W, C],
by the gradient of an objective read from the network (`tf.GradientTape`). Each takes a
`keras.Model` that maps images to *logits* (as every classifier this library builds does),
images [B, H, W, C] float32 preprocessed as the model expects, and runs the model in inference
mode (`training=False`), so one batched gradient is every image's own gradient. Left alone, the
ascent finds high-frequency, adversarial-looking patterns; the image priors the notes describe
keep the result looking like an image:

- `class_visualisation` (Simonyan et al., 2014; Yosinski et al., 2015): maximise the target
  class's logit minus λ‖x‖² (Adam), with periodic Gaussian blur (`gaussian_blur`), random
  jitter (the image rolled by a few pixels before each gradient and rolled back after) and
  clipping to the value range.
- `feature_inversion` (Mahendran & Vedaldi, 2015): find x whose features at a layer match a
  given image's, ‖φ(x) − φ(x₀)‖² / ‖φ(x₀)‖², plus a total-variation prior (`kerascv_suite.models.perceptual.total_variation`).
- `deep_dream` (Mordvintsev et al., 2015): ascend ½‖a‖² of a layer's activations a with
  normalised gradient steps, over octaves (the image upscaled from coarse to fine), with jitter.
- `plot_synthesis`: images in a grid with a caption each.

`clip` is the range the preprocessed inputs can take ((0, 1) after `rescale`; None for no
clipping, e.g. after mean/std normalisation).

Example::

    model = keras.saving.load_model("runs/lenet5_digits/<timestamp>/model.keras")
    images, scores = class_visualisation(model, range(10), (32, 32, 1), steps=200, learning_rate=0.05)
    reconstruction, losses = feature_inversion(model, test_images[:1], "c3_act", steps=300)
    dreamed, _ = deep_dream(model, test_images[:1], "c3_act", steps=20, octaves=3)
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascv_suite.models.perceptual import total_variation
from kerascv_suite.viz.saliency import class_score, image_batch, model_logits

# ------------------------------------------------------------------ shared plumbing

def layer_model(model: keras.Model, layer: str) -> keras.Model:
    """model.input → the output of the (top-level) layer named `layer`: the features the objectives read."""
    return keras.Model(model.inputs[0], model.get_layer(layer).output)


def _features(probe, x) -> tf.Tensor:
    return tf.cast(model_logits(probe, x), tf.float32)


def _start(shape, count: int, clip, scale: float, seed: int) -> np.ndarray:
    """Gaussian noise of std `scale`·(range) around the middle of the value range (0 without one), clipped: where the ascent starts."""
    centre, span = (0.0, 1.0) if clip is None else ((clip[0] + clip[1]) / 2, clip[1] - clip[0])
    x = centre + scale * span * np.random.default_rng(seed).standard_normal((count, *shape))
    return _clip(x.astype(np.float32), clip)


def _clip(x, clip):
    if clip is None:
        return x
    return np.clip(x, clip[0], clip[1]) if isinstance(x, np.ndarray) else tf.clip_by_value(x, clip[0], clip[1])


def _shifts(rng: np.random.Generator, jitter: int) -> tuple[int, int]:
    return (0, 0) if not jitter else tuple(int(v) for v in rng.integers(-jitter, jitter + 1, 2))


def _rolled(x, shift):
    return x if shift == (0, 0) else tf.roll(x, shift, axis=(1, 2))


def gaussian_kernel(sigma: float, radius: int | None = None) -> np.ndarray:
    """The normalised 1-D Gaussian exp(−t²/2σ²), t = −radius … radius (default radius ⌈3σ⌉), summing to 1."""
    radius = max(1, math.ceil(3 * sigma)) if radius is None else radius
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(t**2) / (2 * sigma**2))
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_blur(images, sigma: float) -> tf.Tensor:
    """Each channel blurred by a separable Gaussian of std `sigma` pixels, edges reflected; [B, H, W, C] → same.

    The smoothness prior of class visualisation: the ascent's high frequencies are what a
    network responds to but a person does not see, and the blur removes them every few steps.
    """
    x = tf.convert_to_tensor(images, tf.float32)
    kernel = gaussian_kernel(sigma)
    radius, channels = len(kernel) // 2, x.shape[-1]
    x = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT" if min(x.shape[1:3]) > radius else "SYMMETRIC")
    rows = tf.constant(np.tile(kernel[:, None, None, None], (1, 1, channels, 1)))
    columns = tf.constant(np.tile(kernel[None, :, None, None], (1, 1, channels, 1)))
    x = tf.nn.depthwise_conv2d(x, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, columns, [1, 1, 1, 1], "VALID")


# ------------------------------------------------------------------ class visualisation

def class_visualisation(model: keras.Model, target, shape, steps: int = 200, learning_rate: float = 0.05,
                        l2: float = 1e-3, blur_every: int = 10, blur_sigma: float = 0.5, jitter: int = 2,
                        clip=(0.0, 1.0), seed: int = 0, init_scale: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """An image per target class that the model scores highly: argmax_x s_c(x) − λ‖x‖² (Simonyan et al., 2014).

    From seeded noise around the middle of the value range, `steps` Adam steps (`learning_rate`)
    ascend the target's logit s_c (not its softmax, which also rewards lowering the other classes)
    minus `l2`·‖x‖², each on the image rolled by a random shift of at most `jitter` pixels down
    and across (then rolled back), followed by clipping to `clip`; every `blur_every` steps the
    image is blurred by a Gaussian of `blur_sigma` pixels (Yosinski et al.'s regularisers). The
    regularisers trade score for a picture: without them the ascent finds an adversarial texture.

    Args:
        target: one class, or one per image (the batch size is the number of targets).
        shape: (H, W, C) of one image.
        l2: λ, the L2 penalty on the image (pulls unused pixels towards 0).
        blur_every: steps between blurs (0: never). blur_sigma: its std in pixels.
        jitter: the largest shift of the random roll (0: none).
        clip: (low, high) of the preprocessed inputs, or None.
        seed: the starting noise and the shifts come from `numpy.random.default_rng(seed)`.
        init_scale: the starting noise's std as a fraction of the value range.

    Returns:
        (images [B, H, W, C], scores [steps, B]): the target logit of each image at each step,
        read on the (jittered) image the step's gradient was taken on.

    Example::

        images, scores = class_visualisation(model, range(10), (32, 32, 1), steps=300, learning_rate=0.05)
    """
    classes = np.atleast_1d(np.asarray(target, np.int32))
    rng = np.random.default_rng(seed)
    x = tf.Variable(_start(tuple(shape), len(classes), clip, init_scale, int(rng.integers(2**31))))
    optimizer = keras.optimizers.Adam(learning_rate)
    history = []
    for step in range(steps):
        shift = _shifts(rng, jitter)
        x.assign(_rolled(x, shift))
        with tf.GradientTape() as tape:
            score = class_score(tf.cast(model_logits(model, x), tf.float32), classes)
            objective = score - l2 * tf.reduce_sum(tf.square(x), axis=(1, 2, 3))
            loss = -tf.reduce_sum(objective)   # each image's objective depends on its own image only
        optimizer.apply_gradients([(tape.gradient(loss, x), x)])
        x.assign(_clip(_rolled(x, (-shift[0], -shift[1])), clip))
        if blur_every and (step + 1) % blur_every == 0:
            x.assign(_clip(gaussian_blur(x, blur_sigma), clip))
        history.append(score.numpy())
    return x.numpy(), np.asarray(history, np.float32).reshape(steps, len(classes))


# ------------------------------------------------------------------ feature inversion

def feature_loss(model: keras.Model, images, layer: str, reference) -> np.ndarray:
    """‖φ(x) − φ(x₀)‖² / ‖φ(x₀)‖² per image [B] at `layer`: the relative squared feature error `feature_inversion` lowers."""
    probe = layer_model(model, layer)
    a, a0 = _features(probe, image_batch(images)), _features(probe, image_batch(reference))
    axes = tuple(range(1, len(a.shape)))
    return (tf.reduce_sum(tf.square(a - a0), axes) / tf.maximum(tf.reduce_sum(tf.square(a0), axes), 1e-12)).numpy()


def feature_inversion(model: keras.Model, image, layer: str, steps: int = 300, tv_weight: float = 1e-3,
                      learning_rate: float = 0.05, tv_power: int = 2, l2: float = 0.0, clip=(0.0, 1.0),
                      seed: int = 0, init_scale: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """What a layer keeps of an image (Mahendran & Vedaldi, 2015): argmin_x ‖φ(x) − φ(x₀)‖²/‖φ(x₀)‖² + μ·TV(x) + λ‖x‖².

    φ is the output of `layer`; dividing by ‖φ(x₀)‖² (the paper's normalisation) makes `tv_weight`
    mean the same at every layer. From seeded noise, `steps` Adam steps, each clipped to `clip`.
    Early layers are close to invertible, so the reconstruction is the image; deeper ones keep
    what the class needs and lose the rest (position, stroke width), and the prior fills it in.

    Args:
        image: one image [H, W, C] or a batch [B, H, W, C] (reconstructed independently).
        layer: the name of a top-level layer of the model.
        tv_weight: μ, the weight of `total_variation(x, tv_power)` (p = 2: squared neighbour differences).
        l2: λ, an optional L2 penalty on the image.
        clip: (low, high) of the preprocessed inputs, or None. seed: the starting noise.

    Returns:
        (reconstructions shaped as `image`, losses [steps, B]): the relative feature loss
        ‖φ(x) − φ(x₀)‖²/‖φ(x₀)‖² (without the priors) of each image before each step.

    Example::

        reconstruction, losses = feature_inversion(model, test_images[0], "c3_act", steps=300, tv_weight=1e-3)
    """
    single = np.ndim(image) == 3
    images = image_batch(np.asarray(image, np.float32)[None] if single else image)
    probe = layer_model(model, layer)
    wanted = _features(probe, images)
    axes = tuple(range(1, len(wanted.shape)))
    scale = tf.maximum(tf.reduce_sum(tf.square(wanted), axes), 1e-12)
    x = tf.Variable(_start(images.shape[1:], len(images), clip, init_scale, seed))
    optimizer = keras.optimizers.Adam(learning_rate)
    history = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            matched = tf.reduce_sum(tf.square(_features(probe, x) - wanted), axes) / scale
            penalty = tv_weight * total_variation(x, tv_power) + l2 * tf.reduce_sum(tf.square(x), axis=(1, 2, 3))
            loss = tf.reduce_sum(matched + penalty)
        optimizer.apply_gradients([(tape.gradient(loss, x), x)])
        x.assign(_clip(x, clip))
        history.append(matched.numpy())
    reconstruction = x.numpy()
    return (reconstruction[0] if single else reconstruction), np.asarray(history, np.float32).reshape(steps, len(images))


# ------------------------------------------------------------------ deep dream

def _resize(x, size) -> tf.Tensor:
    return x if tuple(x.shape[1:3]) == tuple(size) else tf.image.resize(x, size, method="bilinear")


def octave_sizes(size, octaves: int, octave_scale: float) -> list[tuple[int, int]]:
    """The (H, W) of each octave, coarse to fine: size / octave_scale^(octaves−1), …, size / octave_scale, size."""
    return [tuple(max(1, round(s / octave_scale**k)) for s in size) for k in reversed(range(octaves))]


def deep_dream(model: keras.Model, image, layer: str, steps: int = 20, octaves: int = 3, octave_scale: float = 1.4,
               jitter: int = 2, step_size: float = 0.01, clip=(0.0, 1.0), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """DeepDream (Mordvintsev et al., 2015): amplify what `layer` sees by ascending ½‖a(x)‖², over octaves, [B, H, W, C].

    The image is shrunk to the coarsest of `octave_sizes(...)`; at each octave it is upscaled
    (bilinearly) to that octave's size, the detail the shrinking lost is added back (the original
    at this size minus the original shrunk to the previous size and upscaled), and `steps`
    normalised ascent steps x ← clip(x + step_size · g / mean|g|) are taken, g = ∇ₓ ½‖a‖² on the
    image rolled by a random shift of at most `jitter` pixels (rolled back after). The coarse
    octaves grow large structures, the fine ones detail. Dividing by mean|g| makes `step_size`
    the mean change per pixel whatever the layer's scale. A model with a fixed input size (a
    dense head, as LeNet-5) sees each octave resized to that size, inside the gradient; a fully
    convolutional one sees it as it is.

    Args:
        image: one image [H, W, C] or a batch [B, H, W, C]; the result has the same shape.
        layer: the name of a top-level layer of the model.
        steps: ascent steps per octave. octaves: the number of sizes (1: no octaves).
        octave_scale: the size ratio between neighbouring octaves.
        jitter: the largest shift of the random roll (0: none).
        step_size: the mean |change| per pixel and step, in input units.
        clip: (low, high) of the preprocessed inputs, or None. seed: the shifts.

    Returns:
        (dreamed images shaped as `image`, objectives [octaves·steps, B]): ½‖a‖² of each image
        at each step (at that octave's size).

    Example::

        dreamed, objectives = deep_dream(model, test_images[:4], "c3_act", steps=20, octaves=3, step_size=0.01)
    """
    single = np.ndim(image) == 3
    original = tf.convert_to_tensor(image_batch(np.asarray(image, np.float32)[None] if single else image))
    probe = layer_model(model, layer)
    fixed = tuple(probe.inputs[0].shape[1:3])
    fixed = None if None in fixed else fixed
    rng = np.random.default_rng(seed)
    sizes = octave_sizes(original.shape[1:3], octaves, octave_scale)
    shrunk = _resize(original, sizes[0])
    current, history = shrunk, []
    for size in sizes:
        detail = _resize(original, size) - _resize(shrunk, size)
        x = tf.Variable(_clip(_resize(current, size) + detail, clip))   # one variable per octave: its size changes
        shrunk = _resize(original, size)
        for _ in range(steps):
            shift = _shifts(rng, jitter)
            with tf.GradientTape() as tape:
                seen = _rolled(x, shift)
                a = _features(probe, seen if fixed is None else _resize(seen, fixed))
                objective = 0.5 * tf.reduce_sum(tf.square(a), axis=tuple(range(1, len(a.shape))))
                total = tf.reduce_sum(objective)   # each image's objective depends on its own image only
            gradient = tape.gradient(total, x)
            mean = tf.reduce_mean(tf.abs(gradient), axis=(1, 2, 3), keepdims=True)
            x.assign(_clip(x + step_size * gradient / (mean + 1e-8), clip))
            history.append(objective.numpy())
        current = tf.convert_to_tensor(x)
    dreamed = _resize(current, original.shape[1:3]).numpy()
    return (dreamed[0] if single else dreamed), np.asarray(history, np.float32).reshape(len(history), len(original))


# ------------------------------------------------------------------ pictures

def plot_synthesis(rows: dict[str, np.ndarray], path: str | Path, captions: dict[str, list[str]] | None = None,
                   title: str = "", value_range=(0.0, 1.0)) -> None:
    """Images in a PNG grid: one row per entry of `rows` (name → [N, H, W, C]), its name at the left.

    Grey-scale images are drawn on `value_range` (None: each on its own [min, max]); colour ones
    scaled to [0, 1] by the range. `captions` (name → one string per image) go under the images.

    Example::

        plot_synthesis({"class visualisation": images}, "classes.png", {"class visualisation": ["0: p = 1.00", ...]})
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerascv_suite.viz.plots import show_image

    columns = max(len(images) for images in rows.values())
    width = 1.45 * columns + 0.6
    heading = textwrap.fill(title, max(30, int(16 * width)))  # about 16 characters of 8-point text per inch
    lines = heading.count("\n") + 1 if title else 0
    fig, axes = plt.subplots(len(rows), columns, figsize=(width, 1.65 * len(rows) + 0.2 + 0.18 * lines), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(columns):
            ax = axes[r, c]
            if c >= len(images):
                ax.axis("off")
                continue
            show_image(ax, np.asarray(images[c], np.float32), value_range)
            if captions and name in captions:
                ax.set_xlabel(captions[name][c], fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    if title:
        fig.suptitle(heading, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["class_visualisation", "feature_inversion", "deep_dream", "feature_loss", "total_variation", "gaussian_blur",
           "gaussian_kernel", "octave_sizes", "layer_model", "plot_synthesis"]
