"""Which pixels matter: saliency maps of any Keras classifier (CS231n's "visualising and understanding").

Each function takes a `keras.Model` that maps a batch of images to *logits* (pre-softmax
scores, as every classifier this library builds does), a batch of images [B, H, W, C] float32
already preprocessed as the model expects, and a target class per image (default: the class
the model predicts). The score explained is always the target class's logit, never its
softmax probability, which also depends on every other class. The models run in inference
mode (`training=False`: BatchNorm's moving statistics, no dropout), so each image's score
depends on that image alone and one batched gradient is every image's own gradient.

- `occlusion_sensitivity` (Zeiler & Fergus, 2014): slide a patch of a fixed value over the
  image and record how far the target score drops; no gradients. [B, H, W].
- `gradient_saliency` (Simonyan et al., 2014): |∂score/∂x|, the maximum over channels. [B, H, W].
- `guided_backprop` (Springenberg et al., 2015): the input gradient when every ReLU passes back
  only positive gradients, and only where its forward input was positive; `guided_model` builds
  the network that does so. [B, H, W, C], signed.
- `class_activation_map` (CAM, Zhou et al., 2016): for a network ending in global average
  pooling and one dense layer, the dense weights of the class applied to the last map. [B, H, W].
- `grad_cam` (Selvaraju et al., 2017): any 4-D layer's channels weighted by the spatial mean of
  the score's gradient, summed, ReLU'd and resized bilinearly to the image. [B, H, W].
- `integrated_gradients` (Sundararajan et al., 2017): (x − x′) times the gradient averaged along
  the straight path from a baseline x′; sums to f(x) − f(x′). [B, H, W, C], signed.
- `smoothgrad` (Smilkov et al., 2017): `gradient_saliency` averaged over noisy copies. [B, H, W].
- `overlay`: the maps as heatmaps over their images, one row per image, one column per method.

Where a method keeps channels ([B, H, W, C]) the value per channel is what it defines;
`channel_map` reduces it to [B, H, W] by summing absolute values over channels (what `overlay`
draws; for one channel that is just the absolute value).

Example::

    model = keras.saving.load_model("runs/resnet20_digits/<timestamp>/model.keras")
    maps = {"gradient": gradient_saliency(model, images), "Grad-CAM": grad_cam(model, images)}
    overlay(images, maps, "saliency.png", titles=[f"digit {label}" for label in labels])
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascv_suite.core import compat
from kerascv_suite.layers.classifier import CLASSIFIER_LAYERS

BATCH_SIZE = 128  # images per model call; memory, not results, depends on it
RULES = ("trapezoid", "left", "right", "midpoint")


# ------------------------------------------------------------------ shared plumbing

def image_batch(images) -> np.ndarray:
    """`images` as float32 [B, H, W, C]; a ValueError naming the shape otherwise (what every chapter-8 function takes)."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be a batch [B, H, W, C], got shape {images.shape}")
    return images


def model_logits(model, x) -> tf.Tensor:
    """The model's first output for a batch, in inference mode (a tensor: gradients flow through it)."""
    outputs = model(x, training=False)
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def class_score(logits, classes) -> tf.Tensor:
    """Each row's entry at its class: logits [B, K], classes [B] → [B]."""
    return tf.gather(logits, tf.convert_to_tensor(classes, tf.int32), axis=1, batch_dims=1)


def logits_of(model: keras.Model, images, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The model's outputs [B, classes] for `images`, in inference mode, `batch_size` images per call."""
    images = image_batch(images)
    return np.concatenate([keras.ops.convert_to_numpy(model_logits(model, images[i : i + batch_size]))
                           for i in range(0, len(images), batch_size)])


def target_classes(model: keras.Model, images, classes=None) -> np.ndarray:
    """The class each image's map explains: `classes` (one int, or one per image) or, when None, the predicted class."""
    images = image_batch(images)
    if classes is None:
        return np.argmax(logits_of(model, images), axis=1).astype(np.int32)
    classes = np.broadcast_to(np.asarray(classes, np.int32), (len(images),))
    return classes.copy()


def _gradients(model, x: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """∂score/∂x [N, H, W, C] and the scores [N] of one batch (one call, one backward pass)."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = class_score(model_logits(model, x), classes)
    # the gradient of the summed scores: each image's score depends on its own image only
    return tape.gradient(score, x).numpy(), score.numpy()


def input_gradients(model: keras.Model, images, classes=None, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """∂(target logit)/∂x, signed, [B, H, W, C]: what `gradient_saliency` and `smoothgrad` read."""
    images = image_batch(images)
    classes = target_classes(model, images, classes)
    return np.concatenate([_gradients(model, images[i : i + batch_size], classes[i : i + batch_size])[0]
                           for i in range(0, len(images), batch_size)])


def _saliency(gradients: np.ndarray) -> np.ndarray:
    return np.max(np.abs(gradients), axis=-1)


def channel_map(maps) -> np.ndarray:
    """A [B, H, W, C] per-channel map as [B, H, W]: Σ_c |value| (a [B, H, W] map is returned as it is)."""
    maps = np.asarray(maps, np.float32)
    return np.sum(np.abs(maps), axis=-1) if maps.ndim == 4 else maps


def _resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[B, h, w] maps resized bilinearly (half-pixel centres, `tf.image.resize`) to [B, *size]."""
    if maps.shape[1:3] == tuple(size):
        return maps
    return tf.image.resize(maps[..., None], size, method="bilinear").numpy()[..., 0]


# ------------------------------------------------------------------ occlusion

def _starts(size: int, patch: int, stride: int) -> list[int]:
    """Patch origins 0, stride, 2·stride, …, and size − patch so the last patch reaches the edge."""
    starts = list(range(0, max(size - patch, 0) + 1, stride))
    if starts[-1] != max(size - patch, 0):
        starts.append(size - patch)
    return starts


def occlusion_sensitivity(model: keras.Model, images, classes=None, patch: int | tuple[int, int] = 4,
                          stride: int | tuple[int, int] = 2, fill=0.0, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """How far the target logit drops when a patch covers each pixel (Zeiler & Fergus, 2014), [B, H, W].

    A `patch`-sized square of the value `fill` is slid over each image with `stride` (the last
    row and column of positions are moved in to end at the border, so every pixel is covered).
    Each position's drop is score(x) − score(x with that patch filled); a pixel's value is the
    mean drop of the positions whose patch covers it. Positive where hiding the pixel hurts the
    class, negative where it helps. No gradients: any model, differentiable or not.

    Args:
        patch: the patch's side (or (height, width)) in pixels.
        stride: the step between positions (or (down, across)); 1 tries every position.
        fill: the patch's value, in the model's input units: 0 (black, or the mean after
            mean-subtraction), the data's grey, or one value per channel.
        batch_size: occluded images per model call; all positions of all images are batched.

    Example::

        drop = occlusion_sensitivity(model, images, patch=4, stride=2)   # 225 positions per 32×32 image
    """
    images = image_batch(images)
    classes = target_classes(model, images, classes)
    (ph, pw), (sh, sw) = (np.broadcast_to(np.asarray(v, int), (2,)) for v in (patch, stride))
    height, width = images.shape[1:3]
    positions = [(i, j) for i in _starts(height, ph, sh) for j in _starts(width, pw, sw)]
    fill = np.asarray(fill, np.float32)
    base = np.take_along_axis(logits_of(model, images, batch_size), classes[:, None], axis=1)[:, 0]
    total = np.zeros(images.shape[:3], np.float64)
    count = np.zeros(images.shape[1:3], np.float64)
    for i, j in positions:
        count[i : i + ph, j : j + pw] += 1
    owners = np.repeat(np.arange(len(images)), len(positions))
    where = np.tile(np.arange(len(positions)), len(images))
    for start in range(0, len(owners), batch_size):
        index = slice(start, start + batch_size)
        occluded = images[owners[index]].copy()
        for row, p in enumerate(where[index]):
            i, j = positions[p]
            occluded[row, i : i + ph, j : j + pw] = fill
        scores = np.take_along_axis(logits_of(model, occluded, batch_size), classes[owners[index], None], axis=1)[:, 0]
        for b, p, score in zip(owners[index], where[index], scores):
            i, j = positions[p]
            total[b, i : i + ph, j : j + pw] += base[b] - score
    return (total / np.maximum(count, 1)).astype(np.float32)


# ------------------------------------------------------------------ gradients

def gradient_saliency(model: keras.Model, images, classes=None, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Simonyan et al.'s saliency map: max over channels of |∂(target logit)/∂x|, [B, H, W].

    The first-order Taylor weight of each pixel in the class score, on the logit, not the
    softmax (whose gradient also rewards lowering every other class).

    Example::

        saliency = gradient_saliency(model, images)         # the predicted class of each image
        saliency = gradient_saliency(model, images, 3)      # class 3 for every image
    """
    return _saliency(input_gradients(model, images, classes, batch_size))


def smoothgrad(model: keras.Model, images, classes=None, noise: float = 0.15, samples: int = 25, seed: int = 0,
               batch_size: int = BATCH_SIZE) -> np.ndarray:
    """SmoothGrad (Smilkov et al., 2017): `gradient_saliency` averaged over noisy copies of each image, [B, H, W].

    Each of `samples` copies adds Gaussian noise of std σ = noise · (max(x) − min(x)) of that
    image (the paper's noise level σ / (x_max − x_min), 10–20% recommended); the saliency maps
    max_c |∂score/∂x| of the copies are averaged (averaging the maps, not the signed gradients,
    which would cancel). The target class is that of the clean image. noise = 0 gives
    `gradient_saliency` exactly.

    Args:
        noise: the noise std as a fraction of each image's value range.
        samples: noisy copies per image, all batched together.
        seed: the noise of copy s of image b comes from `numpy.random.default_rng((seed, b, s))`,
            so results do not depend on `batch_size` or on the other images.

    Example::

        smooth = smoothgrad(model, images, noise=0.15, samples=50, seed=1)
    """
    images = image_batch(images)
    classes = target_classes(model, images, classes)
    sigma = noise * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))
    owners, copies = np.repeat(np.arange(len(images)), samples), np.tile(np.arange(samples), len(images))
    total = np.zeros(images.shape[:3], np.float64)
    noise_of = lambda b, s: np.random.default_rng((seed, b, s)).standard_normal(images.shape[1:]).astype(np.float32)
    for start in range(0, len(owners), batch_size):
        index = slice(start, start + batch_size)
        noisy = np.stack([images[b] + sigma[b] * noise_of(b, s) for b, s in zip(owners[index], copies[index])])
        maps = _saliency(_gradients(model, noisy, classes[owners[index]])[0])
        np.add.at(total, owners[index], maps)
    return (total / samples).astype(np.float32)


def path_points(steps: int, rule: str = "trapezoid") -> tuple[np.ndarray, np.ndarray]:
    """The α in [0, 1] where integrated gradients evaluates the gradient, and their weights (summing to 1).

    "trapezoid": α = k/steps for k = 0 … steps (steps + 1 points), weights 1/steps, halved at
    both ends; error O(1/steps²) for a smooth path. "left" / "right": the Riemann sums with
    k = 0 … steps − 1 / 1 … steps; "midpoint": α = (k + ½)/steps (Captum's "riemann_middle").
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    k = np.arange(steps, dtype=np.float64)
    if rule == "trapezoid":
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] /= 2
        return np.arange(steps + 1) / steps, weights
    alphas = {"left": k / steps, "right": (k + 1) / steps, "midpoint": (k + 0.5) / steps}
    if rule not in alphas:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got '{rule}'")
    return alphas[rule], np.full(steps, 1.0 / steps)


def integrated_gradients(model: keras.Model, images, classes=None, baseline=0.0, steps: int = 64, rule: str = "trapezoid",
                         batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Integrated gradients (Sundararajan et al., 2017): (x − x′) ⊙ ∫₀¹ ∂score/∂x(x′ + α(x − x′)) dα, [B, H, W, C].

    The integral is a quadrature over `path_points(steps, rule)`: every point of every image's
    path goes through the model in batches of `batch_size`. Attributions are signed and per
    channel; they sum to score(x) − score(x′) (completeness) up to the quadrature's error, which
    shrinks with `steps` (the paper: 20–300 steps; check it with `completeness_error`). Exactly 0
    wherever x = x′ and wherever the score does not depend on the pixel. `channel_map` reduces
    them for display.

    Args:
        baseline: x′, anything broadcastable to the images: a value (default 0: a black image,
            or the mean image after mean-subtraction), one image [H, W, C], or one per image.
        steps: the number of intervals of the path.
        rule: "trapezoid" (default), "left", "right" or "midpoint" Riemann sums (`path_points`).

    Example::

        attributions = integrated_gradients(model, images, steps=128)
        completeness_error(model, images, attributions)     # ≈ 0.001
    """
    images = image_batch(images)
    classes = target_classes(model, images, classes)
    baseline = np.broadcast_to(np.asarray(baseline, np.float32), images.shape)
    alphas, weights = path_points(steps, rule)
    owners, points = np.repeat(np.arange(len(images)), len(alphas)), np.tile(np.arange(len(alphas)), len(images))
    total = np.zeros(images.shape, np.float64)
    delta = images - baseline
    for start in range(0, len(owners), batch_size):
        b, k = owners[start : start + batch_size], points[start : start + batch_size]
        scale = alphas[k].astype(np.float32)[:, None, None, None]
        gradients, _ = _gradients(model, baseline[b] + scale * delta[b], classes[b])
        np.add.at(total, b, weights[k][:, None, None, None] * gradients)
    return (delta * total).astype(np.float32)


def completeness_error(model: keras.Model, images, attributions, classes=None, baseline=0.0) -> np.ndarray:
    """|Σ attributions − (score(x) − score(x′))| / |score(x) − score(x′)| per image: integrated gradients' quadrature error."""
    images = image_batch(images)
    classes = target_classes(model, images, classes)
    baseline = np.broadcast_to(np.asarray(baseline, np.float32), images.shape)
    pick = lambda x: np.take_along_axis(logits_of(model, x), classes[:, None], axis=1)[:, 0].astype(np.float64)
    difference = pick(images) - pick(np.ascontiguousarray(baseline))
    total = np.asarray(attributions, np.float64).reshape(len(images), -1).sum(axis=1)
    return np.abs(total - difference) / np.maximum(np.abs(difference), 1e-12)


# ------------------------------------------------------------------ guided backpropagation

@tf.custom_gradient
def guided_relu(x):
    """max(x, 0) forward; backward only the positive gradients, only where x > 0 (Springenberg et al., 2015)."""
    def backward(upstream):
        return upstream * tf.cast(x > 0, upstream.dtype) * tf.cast(upstream > 0, upstream.dtype)
    return tf.nn.relu(x), backward


def _is_plain_relu_layer(layer) -> bool:
    return (isinstance(layer, keras.layers.ReLU) and layer.max_value is None
            and float(layer.negative_slope) == 0.0 and float(layer.threshold) == 0.0)


def guided_model(model: keras.Model) -> tuple[keras.Model, list[str]]:
    """A copy of `model` (same weights, same outputs) whose ReLUs backpropagate as guided ReLUs; and their layer names.

    Overridden: `keras.layers.ReLU()` with its defaults (no max_value, slope or threshold),
    `keras.layers.Activation("relu")`, and any layer with `activation="relu"` built in (Dense,
    Conv1D/2D/3D, depthwise and separable convolutions, transposed convolutions), also inside
    nested functional or Sequential models. Every other layer is rebuilt from its config, or,
    where Keras will not (a `Lambda` of a Python lambda), called as it is. Not overridden, so they backpropagate as usual:
    ReLU6 and capped or leaky ReLUs, PReLU, ELU, GELU, swish and every other activation, a ReLU
    called inside a custom layer's `call`, and the rest of the network (pooling, BatchNorm,
    residual additions). A network with no ReLU to override (LeNet-5's tanh) is refused.

    Example::

        guided, names = guided_model(model)     # names: e.g. ['stem_act', 'stage1_block1_act1', ...]
    """
    overridden = []

    def clone(layer):
        if _is_plain_relu_layer(layer):
            overridden.append(layer.name)
            return keras.layers.Activation(guided_relu, name=layer.name)
        try:
            copy = layer.__class__.from_config(layer.get_config())
        except (ValueError, TypeError):
            # a layer that cannot be rebuilt from its config (a Lambda of a Python lambda, refused by
            # Keras's safe mode) has no ReLU to change: the copy calls the original layer itself
            return layer
        if getattr(layer, "activation", None) is keras.activations.relu:
            copy.activation = guided_relu
            overridden.append(layer.name)
        return copy

    # the symbolic build traces guided_relu once per layer; nothing ever differentiates that trace
    with compat.forgetting_custom_gradients():
        guided = keras.models.clone_model(model, clone_function=clone, recursive=True)
    if not overridden:
        raise ValueError(f"{model.name} has no ReLU for guided backpropagation to override (see guided_model); "
                         f"use gradient_saliency")
    guided.set_weights(model.get_weights())
    return guided, overridden


def guided_backprop(model: keras.Model, images, classes=None, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Guided backpropagation: ∂(target logit)/∂x through `guided_model(model)`, signed, [B, H, W, C].

    Vanilla backpropagation through a ReLU keeps the gradient where the forward input was
    positive; the "deconvnet" keeps it where the gradient is positive; guided backpropagation
    keeps it where both are. The result looks like the edges of the object that excite the class
    (and, as Adebayo et al. (2018) showed, barely depends on the class or the upper weights).
    The target class defaults to the original model's prediction (the copy's is the same).

    Example::

        guided = guided_backprop(model, images)      # channel_map(guided) for a heatmap
    """
    images = image_batch(images)
    classes = target_classes(model, images, classes)
    guided, _ = guided_model(model)
    return input_gradients(guided, images, classes, batch_size)


# ------------------------------------------------------------------ class activation maps

def _producer(tensor):
    made = compat.producer(tensor)
    return None if made is None else made[0]


def gap_head(model: keras.Model) -> tuple[keras.KerasTensor, keras.layers.Dense]:
    """The map before the global average pooling and the one dense layer that end a CAM network.

    The model's output must come from a Dense layer (the logits) that reads, through dropout at
    most, a `GlobalAveragePooling2D` of a [B, h, w, K] map; a ValueError says when it does not.
    """
    tensor = model.outputs[0]
    dense = _producer(tensor)
    if not isinstance(dense, keras.layers.Dense) or dense.activation is not keras.activations.linear:
        raise ValueError(f"CAM needs a network whose output is a dense layer of logits; {model.name}'s output "
                         f"comes from {type(dense).__name__}: use grad_cam")
    (tensor,) = compat.input_tensors(tensor)
    while isinstance(_producer(tensor), keras.layers.Dropout):   # the identity at inference
        (tensor,) = compat.input_tensors(tensor)
    pool = _producer(tensor)
    if not isinstance(pool, keras.layers.GlobalAveragePooling2D) or pool.data_format != "channels_last" or pool.keepdims:
        raise ValueError(f"CAM needs global average pooling right before {dense.name}; {model.name} has "
                         f"{type(pool).__name__} there: use grad_cam")
    (features,) = compat.input_tensors(tensor)
    return features, dense


def class_activation_map(model: keras.Model, images, classes=None, upsample: bool = True, relu: bool = False,
                         batch_size: int = BATCH_SIZE) -> np.ndarray:
    """CAM (Zhou et al., 2016): M_c = Σ_k w_kc A_k, the class's dense weights over the last map, [B, H, W].

    For logits y_c = b_c + Σ_k w_kc · mean_ij A_k(i, j), M_c is the map whose spatial mean is
    y_c − b_c: where on the h×w grid the class's evidence lies. It needs the GAP + dense head
    (`gap_head`); `grad_cam` generalises it to any network.

    Args:
        upsample: resize the h×w map bilinearly to the image (False: [B, h, w]).
        relu: keep only the positive evidence, before resizing (then CAM = h·w · Grad-CAM at
            the same map).

    Example::

        cam = class_activation_map(resnet20, images)      # 8×8 grid resized to 32×32
    """
    images = image_batch(images)
    features, dense = gap_head(model)
    probe = keras.Model(model.input, [features, model.outputs[0]])
    maps, predicted = [], []
    for i in range(0, len(images), batch_size):
        activations, logits = probe(images[i : i + batch_size], training=False)
        maps.append(keras.ops.convert_to_numpy(activations))
        predicted.append(np.argmax(keras.ops.convert_to_numpy(logits), axis=1))
    activations = np.concatenate(maps)
    classes = np.concatenate(predicted).astype(np.int32) if classes is None else target_classes(model, images, classes)
    weights = keras.ops.convert_to_numpy(dense.kernel)[:, classes].T          # [B, K]
    cam = np.einsum("bhwk,bk->bhw", activations, weights).astype(np.float32)
    if relu:
        cam = np.maximum(cam, 0)
    return _resize(cam, images.shape[1:3]) if upsample else cam


def last_feature_map_layer(model: keras.Model) -> str:
    """The name of the last layer (in the model's order) with a 4-D output before the classifier: Grad-CAM's default."""
    found = None
    for layer in model.layers:
        if layer.name in CLASSIFIER_LAYERS:
            break
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):   # a layer called twice has no single output
            continue
        if len(shape) == 4:
            found = layer.name
    if found is None:
        raise ValueError(f"{model.name} has no layer with a 4-D output; Grad-CAM needs a convolutional map")
    return found


def grad_cam(model: keras.Model, images, classes=None, layer: str | None = None, upsample: bool = True,
             score=None, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., 2017): ReLU(Σ_k α_k A_k) with α_k = mean_ij ∂(target logit)/∂A_k(i, j), [B, H, W].

    A is the [B, h, w, K] output of `layer` (default `last_feature_map_layer`: the last 4-D
    output before the classifier). For a GAP + dense head α_k = w_kc / (h·w), so Grad-CAM there
    is CAM's positive part divided by h·w; unlike CAM it needs no particular head.

    Args:
        layer: the name of a (top-level) layer with a 4-D output.
        upsample: resize bilinearly to the image size (False: the layer's [B, h, w] grid).
        score: what the map explains, `score(outputs, classes) -> [b]`: one number per image from the
            model's outputs (a list when it has several) and the batch's classes. Default: the class's
            logit in the first output. The hook for models that are not classifiers: a detector's map
            for one detection is `score=lambda outputs, _: outputs[1][:, d]` (detection d's class score;
            the detection chapter is not built yet, so no detector calls it so far). `classes` must then
            be given (any placeholder; the default reads a class prediction from the first output).

    Example::

        heat = grad_cam(model, images, layer="stage2_block3_out")     # a 16×16 map, resized to 32×32
    """
    images = image_batch(images)
    classes = target_classes(model, images, classes)
    score = score or (lambda outputs, batch_classes: class_score(outputs[0], batch_classes))
    layer = layer or last_feature_map_layer(model)
    output = model.get_layer(layer).output
    if len(output.shape) != 4:
        raise ValueError(f"grad_cam: layer '{layer}' outputs shape {tuple(output.shape)}, not a [B, h, w, K] map")
    probe = keras.Model(model.input, [output, *model.outputs])
    maps = []
    for i in range(0, len(images), batch_size):
        with tf.GradientTape() as tape:
            activations, *outputs = probe(images[i : i + batch_size], training=False)
            scores = score(outputs, classes[i : i + batch_size])
        alpha = tf.reduce_mean(tape.gradient(scores, activations), axis=(1, 2))          # [b, K]
        maps.append(tf.nn.relu(tf.einsum("bhwk,bk->bhw", activations, alpha)).numpy())
    cam = np.concatenate(maps)
    return _resize(cam, images.shape[1:3]) if upsample else cam


# ------------------------------------------------------------------ pictures

def overlay(images, maps, path: str | Path, titles: list[str] | None = None, title: str = "", alpha: float = 0.55) -> None:
    """Each map as a heatmap over its image, in a PNG grid: one row per image, the image then one column per method.

    Args:
        images: [B, H, W, C] as given to the methods (each shown scaled to its own [min, max]).
        maps: one method's maps ([B, H, W], or [B, H, W, C] reduced by `channel_map`), or a dict
            method name → maps, drawn in the dict's order. Each map is scaled on its own: [0, max]
            in "inferno" when it is non-negative, symmetric around 0 in "coolwarm" (red positive)
            when it has negative values (CAM, occlusion).
        titles: one per image, written beside its row (the true and predicted class, ...).
        title: the figure's heading (say which model, trained on what).
        alpha: the heatmap's opacity over the greyscale image.

    Example::

        overlay(images, {"saliency": s, "Grad-CAM": g}, "saliency.png", titles=["3 → 3", "8 → 8"])
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerascv_suite.viz.plots import to_unit_range

    images = image_batch(images)
    maps = dict(maps) if isinstance(maps, dict) else {"map": maps}
    maps = {name: channel_map(value) for name, value in maps.items()}
    rows, columns = len(images), len(maps) + 1
    fig, axes = plt.subplots(rows, columns, figsize=(1.45 * columns + 0.6, 1.5 * rows + (0.5 if title else 0.25)), squeeze=False)
    for row, image in enumerate(images):
        shown = to_unit_range(image)
        colour = image.shape[-1] == 3
        shown = shown if colour else shown.mean(axis=-1)
        for column, name in enumerate(["image", *maps]):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(shown, cmap=None if colour else "gray", vmin=0, vmax=1)
            if column:
                heat = maps[name][row]
                if heat.min() >= 0:
                    ax.imshow(heat, cmap="inferno", vmin=0, vmax=max(float(heat.max()), 1e-12), alpha=alpha)
                else:
                    bound = float(np.abs(heat).max())
                    ax.imshow(heat, cmap="coolwarm", vmin=-bound, vmax=bound, alpha=alpha)
            if row == 0:
                ax.set_title(name, fontsize=8)
            if column == 0 and titles is not None:
                ax.set_ylabel(titles[row], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["occlusion_sensitivity", "gradient_saliency", "input_gradients", "guided_relu", "guided_model", "guided_backprop",
           "gap_head", "class_activation_map", "last_feature_map_layer", "grad_cam", "path_points", "integrated_gradients",
           "completeness_error", "smoothgrad", "channel_map", "target_classes", "logits_of", "overlay", "image_batch",
           "model_logits", "class_score"]
