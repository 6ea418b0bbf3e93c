"""Gradient checking: compare backpropagation's gradient with a numeric one (CS231n, "Gradient checks").

A layer or loss with a hand-written gradient (`tf.custom_gradient`), or one built from ops whose
gradients interact in unexpected ways, can train while silently following a wrong gradient. The
check evaluates the function itself around a point and compares:

- numeric gradient, by centred differences: ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h. The
  Taylor terms of even order cancel, so the error is O(h²) (about 1e-10 for h = 1e-5), against
  O(h) for the one-sided (f(x + h) − f(x)) / h;
- analytic gradient, by `tf.GradientTape`, what training uses;
- relative error |a − n| / max(|a|, |n|): an absolute difference of 1e-4 is large for a
  gradient of 1e-3 and negligible for one of 1e3. Gradients below `floor` in magnitude count as
  zero (the denominator is at least `floor`), so a true zero against a rounding residue of
  1e-12 is not reported as a 100 % error.

Reading the error (CS231n's scale, `verdict`): > 1e-2 the gradient is probably wrong;
1e-2 … 1e-4 uncomfortable; 1e-4 … 1e-7 acceptable for functions with kinks, wrong for smooth
ones; < 1e-7 good. Errors grow with depth, so a 10-layer network may show 1e-2 honestly.

Why float64: the difference f(x + h) − f(x − h) cancels all but the last digits of f. In
float32 (machine epsilon ≈ 6e-8) with h = 1e-5, rounding alone gives a relative error around
6e-8 / 1e-5 ≈ 1e-2, the "wrong" range; in float64 (≈ 1e-16) it is ≈ 1e-11. So every input is
cast to float64 here, and layers must be built with ``dtype="float64"`` (a float32 variable is
refused). A layer that computes internally in float32 whatever its dtype can only be checked
to float32 precision: with a larger step (1e-3) and a looser threshold.

Why kinks (ReLU, max pooling, maxout, the hinge max(0, ·)) give larger errors: if x − h and
x + h lie on both sides of a kink, the centred difference averages two slopes (0.5 for a ReLU
at x = 0) while the analytic gradient takes one (0), an error of order 1 at that coordinate.
Avoid it by placing the inputs away from the kinks: distinct values (no ties in a max) spaced far
more than h apart, pre-activations and hinge margins not near 0; between kinks a piecewise-linear
function's centred difference is exact. Checking a few coordinates (`samples`) also lowers the odds.

Random layers (dropout, DropConnect, drop path, fractional pooling's training cells) draw a new
mask at every call, so f(x + h) and f(x − h) would use different masks: check them with
``training=False``, or with a fixed mask (e.g. reset the layer's seed generator before each call).

For a layer, reduce its output with a fixed random weighting, ``sum(r * layer(x))``, rather than a
plain sum: the gradient of a plain sum is blind to how a layer permutes or normalises its output.

Example::

    layer = keras.layers.Dense(3, activation="tanh", dtype="float64")
    layer.build((None, 4))        # create the variables before listing them
    x = np.random.default_rng(0).normal(size=(2, 4))
    r = np.random.default_rng(1).normal(size=(2, 3))
    result = gradient_check(lambda x: tf.reduce_sum(r * layer(x)), x, layer.trainable_variables)
    print(result)                 # one line per tensor: input 0, dense/kernel, dense/bias
    assert result.passed(1e-7)    # "good"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

GOOD = 1e-7      # below: a smooth function's gradient is right
KINKED = 1e-4    # below: acceptable for a function with kinks (ReLU, max, hinge), suspect for a smooth one
WRONG = 1e-2     # above: the gradient is probably wrong


def verdict(relative_error: float) -> str:
    """CS231n's reading of a maximum relative error between analytic and numeric gradients."""
    if not relative_error <= WRONG:   # NaN reads as wrong too
        return "wrong"
    if relative_error > KINKED:
        return "uncomfortable"
    if relative_error > GOOD:
        return "ok for kinked functions (ReLU, max)"
    return "good"


@dataclass(frozen=True)
class TensorCheck:
    """The comparison for one input or variable: its largest relative error and where it occurred."""

    name: str
    shape: tuple[int, ...]
    checked: int                       # coordinates compared
    max_relative_error: float
    worst_index: tuple[int, ...]       # coordinate of the largest error
    analytic: float                    # the two gradients at that coordinate
    numeric: float


@dataclass(frozen=True)
class GradientCheckResult:
    """Per-tensor maximum relative errors of a gradient check, with CS231n's verdict.

    Example::

        result.max_relative_error   # the largest over every tensor
        result.verdict              # "good", "ok for kinked functions (ReLU, max)", "uncomfortable" or "wrong"
        result.passed(1e-4)         # every tensor's error below 1e-4
    """

    tensors: tuple[TensorCheck, ...]
    epsilon: float

    @property
    def max_relative_error(self) -> float:
        return max((t.max_relative_error for t in self.tensors), default=0.0)

    @property
    def verdict(self) -> str:
        return verdict(self.max_relative_error)

    def passed(self, threshold: float = GOOD) -> bool:
        """Whether every tensor's largest relative error lies below `threshold` (NaN fails)."""
        return all(t.max_relative_error < threshold for t in self.tensors)

    def __str__(self) -> str:
        width = max([len(t.name) for t in self.tensors] + [6])
        lines = [f"{'tensor':<{width}}  {'shape':<16} {'checked':>7}  {'max rel. error':>14}  verdict"]
        for t in self.tensors:
            lines.append(f"{t.name:<{width}}  {str(t.shape):<16} {t.checked:>7}  {t.max_relative_error:>14.3e}  {verdict(t.max_relative_error)}"
                         f"  (at {t.worst_index}: analytic {t.analytic:.6g}, numeric {t.numeric:.6g})")
        lines.append(f"overall: {self.max_relative_error:.3e}, {self.verdict} (centred differences, h = {self.epsilon:g})")
        return "\n".join(lines)


def _coordinates(size: int, samples: int | None, rng: np.random.Generator) -> np.ndarray:
    if samples is None or size <= samples:
        return np.arange(size)
    return np.sort(rng.choice(size, samples, replace=False))


def _compare(name, analytic, numeric, coordinates, shape, floor) -> TensorCheck:
    if not coordinates.size:
        return TensorCheck(name, tuple(shape), 0, 0.0, (), 0.0, 0.0)
    analytic = analytic.ravel()[coordinates]
    errors = np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    worst = int(np.argmax(np.where(np.isnan(errors), np.inf, errors)))
    index = tuple(int(i) for i in np.unravel_index(coordinates[worst], shape))
    return TensorCheck(name, tuple(shape), int(coordinates.size), float(errors[worst]), index, float(analytic[worst]), float(numeric[worst]))


def gradient_check(fn: Callable, inputs, variables: Sequence = (), epsilon: float = 1e-5, samples: int | None = None,
                   seed: int = 0, floor: float = 1e-8) -> GradientCheckResult:
    """Compare `fn`'s tape gradient with centred differences, for each input and each variable.

    Args:
        fn: maps the input tensor(s), as positional arguments, to a scalar or to a tensor that is
            summed. Non-differentiable arguments (integer labels) are closed over in `fn`.
        inputs: one array or tensor, or a list of them; each is cast to float64.
        variables: variables `fn` reads (a layer's `trainable_variables`); they must be float64
            (build the layer with ``dtype="float64"``). Each is perturbed in place and restored.
        epsilon: h, the step of the centred differences.
        samples: check at most this many coordinates of each tensor, drawn at random (None: all).
        seed: seed of that draw.
        floor: gradients smaller than this in magnitude count as zero in the relative error.

    Returns:
        A `GradientCheckResult`: per tensor ("input 0", …, then each variable's path) the largest
        relative error |a − n| / max(|a|, |n|, floor) over the checked coordinates.

    Example::

        gradient_check(lambda x: tf.reduce_sum(tf.tanh(x)), np.linspace(-1, 1, 5)).verdict   # "good"
    """
    single = not isinstance(inputs, (list, tuple))
    values = [np.array(x, dtype=np.float64) for x in ([inputs] if single else inputs)]
    variables = list(variables)
    for variable in variables:
        if variable.dtype != "float64":
            raise ValueError(f"gradient_check needs float64 variables, {variable.path if hasattr(variable, 'path') else variable.name} "
                             f"is {variable.dtype}: build the layer with dtype='float64'")

    def evaluate(arrays) -> float:
        return float(tf.reduce_sum(tf.cast(fn(*[tf.constant(a) for a in arrays]), tf.float64)))

    tensors = [tf.constant(x) for x in values]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        total = tf.reduce_sum(tf.cast(fn(*tensors), tf.float64))
    gradients = tape.gradient(total, tensors + variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    gradients = [np.asarray(tf.convert_to_tensor(g), dtype=np.float64) for g in gradients]

    rng = np.random.default_rng(seed)
    checks = []
    for position, (value, analytic) in enumerate(zip(values, gradients)):
        coordinates = _coordinates(value.size, samples, rng)
        numeric = np.empty(coordinates.size)
        for k, flat in enumerate(coordinates):
            shifted = []
            for step in (epsilon, -epsilon):
                perturbed = value.copy()
                perturbed.flat[flat] += step
                shifted.append(evaluate([perturbed if i == position else v for i, v in enumerate(values)]))
            numeric[k] = (shifted[0] - shifted[1]) / (2 * epsilon)
        checks.append(_compare(f"input {position}", analytic, numeric, coordinates, value.shape, floor))

    for variable, analytic in zip(variables, gradients[len(values):]):
        original = np.array(variable.numpy(), dtype=np.float64)
        coordinates = _coordinates(original.size, samples, rng)
        numeric = np.empty(coordinates.size)
        try:
            for k, flat in enumerate(coordinates):
                shifted = []
                for step in (epsilon, -epsilon):
                    perturbed = original.copy()
                    perturbed.flat[flat] += step
                    variable.assign(perturbed)
                    shifted.append(evaluate(values))
                numeric[k] = (shifted[0] - shifted[1]) / (2 * epsilon)
        finally:
            variable.assign(original)
        name = getattr(variable, "path", None) or variable.name
        checks.append(_compare(name, analytic, numeric, coordinates, original.shape, floor))
    return GradientCheckResult(tuple(checks), epsilon)
