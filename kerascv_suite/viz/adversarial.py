"""Adversarial examples of any Keras classifier (CS231n's "visualising and understanding": fooling a network).

A change of the input too small to see can change a classifier's answer, because its loss is
close to linear in the input over a small ball (Goodfellow et al., 2015): a step of ε per pixel
in the direction of the gradient's sign raises the loss by about ε·‖∇ₓ loss‖₁, which grows
with the number of pixels. Each function takes a `keras.Model` that maps a batch of images to
*logits* (as every classifier this library builds does), a batch of images [B, H, W, C] float32
already preprocessed as the model expects, and integer classes. The loss is always the softmax
cross-entropy of the logits; the models run in inference mode (`training=False`), so one batched
gradient is every image's own gradient.

- `fgsm` (fast gradient sign method, Goodfellow et al., 2015): x + ε·sign(∇ₓ loss(x, y)),
  clipped to the value range; one gradient.
- `pgd` (projected gradient descent, Madry et al., 2018): FGSM steps of `step_size`, each
  projected back into the L∞ ε-ball around x and the value range, from a random start in it.
- targeted versions of both (`target=`): *descend* the target class's loss instead of ascending
  the true class's, so the prediction moves to that class rather than anywhere else.
- `fooling_image`: targeted steps with no ε bound (or a large one) until the model gives the
  target class probability ≥ p: any image, even noise, made into any class.
- `attack_report`: per ε, clean and adversarial accuracy, success rate and perturbation norms
  of FGSM and PGD.

`value_range` is the range the preprocessed inputs can take ((0, 1) after `rescale`; None for
no clipping, e.g. after mean/std normalisation); images must lie inside it.

The attacks themselves are `kerascv_suite.training.adversarial.perturb`, the TensorFlow ops that
adversarial training (`train.adversarial`) runs in its train step: one implementation, here fed
NumPy batches of `batch_size` images (with PGD's random starts drawn per image, see `pgd`).

Example::

    model = keras.saving.load_model("runs/lenet5_digits/<timestamp>/model.keras")
    adversarial = pgd(model, images, labels, epsilon=0.05, step_size=0.0125, steps=10)
    rows = attack_report(model, images, labels, epsilons=[0.0, 0.02, 0.05, 0.1])
"""

from __future__ import annotations

import keras
import numpy as np

from kerascv_suite.training.adversarial import input_gradient, perturb
from kerascv_suite.viz.plots import show_image
from kerascv_suite.viz.saliency import BATCH_SIZE, image_batch, logits_of


# ------------------------------------------------------------------ shared plumbing

def _checked(images, value_range) -> np.ndarray:
    images = image_batch(images)
    if value_range is not None:
        low, high = value_range
        if images.size and (images.min() < low or images.max() > high):
            raise ValueError(f"images span [{images.min():g}, {images.max():g}], outside value_range {tuple(value_range)}: "
                             f"pass the range of the preprocessed inputs, or None for no clipping")
    return images


def _classes(classes, count: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(classes, np.int32), (count,)).copy()


def _objective(labels, target, count: int) -> tuple[np.ndarray, bool]:
    """The classes whose loss the attack follows and whether it is targeted (descends the target's loss, not ascends the true class's)."""
    if target is None:
        if labels is None:
            raise ValueError("an untargeted attack needs the true labels")
        return _classes(labels, count), False
    return _classes(target, count), True


def _clip(x: np.ndarray, value_range) -> np.ndarray:
    return x if value_range is None else np.clip(x, value_range[0], value_range[1])


def _gradient(model, x: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """∇ₓ cross-entropy [N, H, W, C] and the logits [N, K] of one batch, as NumPy (one call, one backward pass)."""
    gradient, logits = input_gradient(model, x, classes)
    return gradient.numpy(), logits.numpy()


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(model: keras.Model, images, classes, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """−log softmax(logits)[class] per image [B]: the loss the attacks raise (or, for a target, lower)."""
    images = image_batch(images)
    probabilities = _softmax(logits_of(model, images, batch_size))
    return -np.log(np.maximum(probabilities[np.arange(len(images)), _classes(classes, len(images))], 1e-300))


def loss_gradient(model: keras.Model, images, classes, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """∇ₓ cross-entropy(logits, class) [B, H, W, C]: the direction whose sign FGSM follows."""
    images = image_batch(images)
    classes = _classes(classes, len(images))
    return np.concatenate([_gradient(model, images[i : i + batch_size], classes[i : i + batch_size])[0]
                           for i in range(0, len(images), batch_size)])


# ------------------------------------------------------------------ attacks

def fgsm(model: keras.Model, images, labels, epsilon: float, value_range=(0.0, 1.0), target=None,
         batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The fast gradient sign method (Goodfellow et al., 2015): clip(x + ε·sign(∇ₓ loss), value_range), [B, H, W, C].

    The L∞-bounded step of size ε that raises a linear approximation of the loss the most. Every
    pixel moves by exactly ε (0 where its gradient is 0), then the value range clips it, so the
    result lies in [x − ε, x + ε] ∩ value_range.

    Args:
        labels: the true class of each image (one int, or one per image); ignored when `target` is given.
        epsilon: the L∞ budget, in the model's input units (0.03 ≈ 8/255 for [0, 1] images).
        value_range: (low, high) the inputs can take, or None not to clip.
        target: a class (one int, or one per image) to push towards: x − ε·sign(∇ₓ loss(x, target)).

    Example::

        adversarial = fgsm(model, images, labels, epsilon=0.05)
        pushed_to_3 = fgsm(model, images, None, epsilon=0.05, target=3)
    """
    images = _checked(images, value_range)
    classes, targeted = _objective(labels, target, len(images))
    adversarial = np.empty_like(images)
    for i in range(0, len(images), batch_size):
        batch = slice(i, i + batch_size)
        adversarial[batch] = perturb(model, images[batch], classes[batch], epsilon, "fgsm", value_range=value_range,
                                     targeted=targeted).numpy()
    return adversarial


def _ball(x: np.ndarray, epsilon, value_range) -> tuple[np.ndarray, np.ndarray]:
    """The lower and upper bounds of [x − ε, x + ε] ∩ value_range (no ε bound when epsilon is None)."""
    if epsilon is None:
        return (np.full_like(x, -np.inf) if value_range is None else np.full_like(x, value_range[0]),
                np.full_like(x, np.inf) if value_range is None else np.full_like(x, value_range[1]))
    epsilon = np.float32(epsilon)
    return _clip(x - epsilon, value_range), _clip(x + epsilon, value_range)


def pgd(model: keras.Model, images, labels, epsilon: float, step_size: float | None = None, steps: int = 10,
        random_start: bool = True, seed: int = 0, value_range=(0.0, 1.0), target=None,
        batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Projected gradient descent (Madry et al., 2018): iterated FGSM steps inside the L∞ ε-ball, [B, H, W, C].

    x⁰ = x + U(−ε, ε) (or x), then xᵗ⁺¹ = Π(xᵗ + α·sign(∇ₓ loss(xᵗ))), where Π clips to
    [x − ε, x + ε] ∩ value_range; the last iterate is returned. Where FGSM trusts the loss to be
    linear over the whole ball, PGD re-reads the gradient after every step of α, so it finds the
    bend of a nonlinear loss that one step of ε overshoots: the strongest first-order attack.

    Args:
        labels: the true class of each image; ignored when `target` is given.
        epsilon: the L∞ budget.
        step_size: α, the step of each iteration (default ε/4; steps·α ≥ ε lets it cross the ball).
        steps: iterations (one gradient each).
        random_start: start from a uniform point of the ball rather than from x.
        seed: the start of image b comes from `numpy.random.default_rng((seed, b))`, so results do
            not depend on `batch_size` or on the other images.
        value_range: (low, high) the inputs can take, or None not to clip.
        target: a class (one int, or one per image) to push towards: descend its loss.

    Example::

        adversarial = pgd(model, images, labels, epsilon=0.05, step_size=0.0125, steps=10, seed=1)
    """
    images = _checked(images, value_range)
    classes, targeted = _objective(labels, target, len(images))
    step_size = epsilon / 4 if step_size is None else step_size
    adversarial = np.empty_like(images)
    for i in range(0, len(images), batch_size):
        batch = slice(i, i + batch_size)
        # each image's start from its own generator, so neither batch_size nor the other images change it
        start = np.stack([np.random.default_rng((seed, b)).uniform(-1.0, 1.0, images.shape[1:])
                          for b in range(i, i + len(images[batch]))]).astype(np.float32) if random_start else None
        adversarial[batch] = perturb(model, images[batch], classes[batch], epsilon, "pgd", steps, step_size, random_start,
                                     value_range, start=start, targeted=targeted).numpy()
    return adversarial


def fooling_image(model: keras.Model, image, target, probability: float = 0.99, step_size: float = 0.01,
                  max_steps: int = 500, epsilon: float | None = None, value_range=(0.0, 1.0),
                  batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targeted PGD without a budget until the model gives `target` probability ≥ `probability`.

    CS231n's fooling images: from any image (a digit of another class, noise, a blank), steps
    x ← Π(x − α·sign(∇ₓ loss(x, target))) are taken, each image stopping at the first step where
    softmax(logits)[target] ≥ probability; Π clips to the value range (and to the ε-ball when an
    `epsilon` is given). The result is classified as `target` with high confidence yet, for a
    small α·steps, still looks like the original.

    Args:
        image: one image [H, W, C] or a batch [B, H, W, C].
        target: the class to reach (one int, or one per image).
        probability: the softmax probability of the target that stops an image.
        step_size: α per step, in input units.
        max_steps: the most steps taken; an image that has not reached the target by then is returned as it is.
        epsilon: an optional L∞ bound around the starting image (None: only the value range).

    Returns:
        (images, steps, probabilities): the fooled images (shaped as `image`), the steps each
        took (−1 where `max_steps` did not suffice) and the target's final probability.

    Example::

        fooled, steps, p = fooling_image(model, images[0], target=7, probability=0.99)
    """
    single = np.ndim(image) == 3
    images = _checked(np.asarray(image, np.float32)[None] if single else image, value_range)
    classes = _classes(target, len(images))
    step = np.float32(step_size)
    fooled = images.copy()
    taken = np.full(len(images), -1, np.int64)
    reached = np.zeros(len(images), np.float64)
    for i in range(0, len(images), batch_size):
        batch = slice(i, i + batch_size)
        x, wanted = images[batch].copy(), classes[batch]
        low, high = _ball(x, epsilon, value_range)
        active = np.arange(len(x))
        for count in range(max_steps + 1):
            gradient, logits = _gradient(model, x[active], wanted[active])
            p = _softmax(logits)[np.arange(len(active)), wanted[active]]
            reached[i + active] = p
            done = p >= probability
            taken[i + active[done]] = count
            active, gradient = active[~done], gradient[~done]
            if not len(active) or count == max_steps:
                break
            x[active] = np.clip(x[active] - step * np.sign(gradient), low[active], high[active])
        fooled[batch] = x
    return (fooled[0], taken[0], reached[0]) if single else (fooled, taken, reached)


# ------------------------------------------------------------------ report

def attack_report(model: keras.Model, images, labels, epsilons, steps: int = 10, step_fraction: float = 0.25,
                  random_start: bool = True, seed: int = 0, value_range=(0.0, 1.0),
                  batch_size: int = BATCH_SIZE) -> list[dict]:
    """FGSM and PGD at each ε: one row per (attack, ε), as a list of dicts.

    Each row: `attack` ("FGSM" or "PGD"), `epsilon`, `clean_accuracy`, `adversarial_accuracy`,
    `success_rate` (the share of the images classified right before the attack that are
    classified wrong after it; NaN when none was right), `linf` and `l2` (the mean over images
    of ‖x′ − x‖∞ and ‖x′ − x‖₂), `loss` (the mean cross-entropy of the true class after the attack).
    PGD takes `steps` steps of α = `step_fraction`·ε with `random_start` and `seed` as in `pgd`.

    Example::

        for row in attack_report(model, images, labels, [0.0, 0.05, 0.1]):
            print(row["attack"], row["epsilon"], row["adversarial_accuracy"])
    """
    images = _checked(images, value_range)
    labels = _classes(labels, len(images))
    correct = np.argmax(logits_of(model, images, batch_size), axis=1) == labels
    rows = []
    for epsilon in epsilons:
        attacks = {
            "FGSM": lambda: fgsm(model, images, labels, epsilon, value_range, batch_size=batch_size),
            "PGD": lambda: pgd(model, images, labels, epsilon, step_fraction * epsilon, steps, random_start, seed,
                               value_range, batch_size=batch_size),
        }
        for name, attack in attacks.items():
            adversarial = attack()
            logits = logits_of(model, adversarial, batch_size)
            right = np.argmax(logits, axis=1) == labels
            delta = (adversarial - images).reshape(len(images), -1).astype(np.float64)
            rows.append({
                "attack": name, "epsilon": float(epsilon), "clean_accuracy": float(np.mean(correct)),
                "adversarial_accuracy": float(np.mean(right)),
                "success_rate": float(np.mean(~right[correct])) if correct.any() else float("nan"),
                "linf": float(np.mean(np.max(np.abs(delta), axis=1))) if delta.size else 0.0,
                "l2": float(np.mean(np.linalg.norm(delta, axis=1))) if delta.size else 0.0,
                "loss": float(np.mean(-np.log(np.maximum(_softmax(logits)[np.arange(len(images)), labels], 1e-300)))),
            })
    return rows


# ------------------------------------------------------------------ pictures

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_attack_curves(rows: list[dict], path, title: str = "", pgd_label: str = "PGD", value_range=(0.0, 1.0)) -> None:
    """Success rate and adversarial accuracy against ε, one line per attack, from `attack_report`'s rows."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for attack, marker in (("FGSM", "o"), ("PGD", "s")):
        chosen = [row for row in rows if row["attack"] == attack]
        eps = [row["epsilon"] for row in chosen]
        label = attack if attack == "FGSM" else pgd_label
        axes[0].plot(eps, [row["success_rate"] for row in chosen], marker=marker, label=label)
        axes[1].plot(eps, [row["adversarial_accuracy"] for row in chosen], marker=marker, label=label)
    units = f"inputs in [{value_range[0]:g}, {value_range[1]:g}]" if value_range else "input units"
    for ax, name in zip(axes, ("success rate (correct → wrong)", "adversarial accuracy")):
        ax.set_xlabel(f"ε (L∞, {units})")
        ax.set_ylabel(name)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_adversarial_examples(model: keras.Model, images, labels, attacked: dict[str, np.ndarray], epsilon: float, path,
                              class_names: list[str] | None = None, title: str = "", value_range=(0.0, 1.0)) -> None:
    """Rows of images: clean, then per attack the perturbation (amplified, grey = 0) and the attacked image, with predictions.

    `attacked` maps an attack's name to its images (e.g. {"FGSM": fgsm(...), "PGD": pgd(...)});
    each image's caption is the predicted class and its softmax probability, red when wrong.
    """
    images, labels = np.asarray(images, np.float32), np.asarray(labels)
    names = class_names or [str(c) for c in range(logits_of(model, images[:1]).shape[1])]

    def predicted(x):
        p = _softmax(logits_of(model, x))
        return np.argmax(p, axis=1), np.max(p, axis=1)

    columns = [("clean", images, predicted(images), value_range)]
    for name, x in attacked.items():
        columns += [(f"{name} δ (×{1 / (2 * epsilon):g}, grey = 0)", 0.5 + (x - images) / (2 * epsilon), None, (0.0, 1.0)),
                    (name, x, predicted(x), value_range)]
    plt = _pyplot()
    fig, axes = plt.subplots(len(images), len(columns), figsize=(1.6 * len(columns), 1.7 * len(images) + 0.4), squeeze=False)
    for column, (name, shown, prediction, shown_range) in enumerate(columns):
        for row in range(len(images)):
            ax = axes[row, column]
            show_image(ax, shown[row], shown_range)
            if prediction is not None:
                ax.set_xlabel(f"→ {names[prediction[0][row]]} ({prediction[1][row]:.0%})", fontsize=7,
                              color="black" if prediction[0][row] == labels[row] else "red")
            if row == 0:
                ax.set_title(name, fontsize=7)
            if column == 0:
                ax.set_ylabel(names[int(labels[row])], fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fooling(image, label: int, fooled, steps, probabilities, path, class_names: list[str] | None = None, title: str = "",
                 value_range=(0.0, 1.0)) -> list[dict]:
    """One image pushed to every class (`fooling_image`'s results): the fooled images above their changes; returns per-target rows."""
    image, fooled = np.asarray(image, np.float32), np.asarray(fooled, np.float32)
    count = len(fooled)
    names = class_names or [str(c) for c in range(count)]
    delta = (fooled - image).reshape(count, -1)
    found = [{"target": c, "steps": int(s), "probability": float(p), "linf": float(np.abs(d).max()), "l2": float(np.linalg.norm(d))}
             for c, s, p, d in zip(range(count), steps, probabilities, delta)]
    plt = _pyplot()
    fig, axes = plt.subplots(2, count + 1, figsize=(1.36 * (count + 1), 3.4), squeeze=False)
    show_image(axes[0, 0], image, value_range)
    axes[0, 0].set_title(f"test image: {names[label]}", fontsize=7)
    axes[1, 0].axis("off")
    bound = max(max(row["linf"] for row in found), 1e-6)
    for c, row in enumerate(found):
        show_image(axes[0, c + 1], fooled[c], value_range)
        reached = f"{row['steps']} steps" if row["steps"] >= 0 else "not reached"
        axes[0, c + 1].set_title(f"→ {names[c]}: p = {row['probability']:.3f}\n{reached}", fontsize=7)
        axes[1, c + 1].imshow((fooled[c] - image).mean(axis=-1), cmap="coolwarm", vmin=-bound, vmax=bound)
        axes[1, c + 1].set_xticks([])
        axes[1, c + 1].set_yticks([])
        axes[1, c + 1].set_xlabel(f"L∞ {row['linf']:.2f}, L2 {row['l2']:.2f}", fontsize=7)
    axes[1, 1].set_ylabel("δ", fontsize=8)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return found


__all__ = ["fgsm", "pgd", "fooling_image", "attack_report", "loss_gradient", "cross_entropy", "plot_attack_curves",
           "plot_adversarial_examples", "plot_fooling"]
