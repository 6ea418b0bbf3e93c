"""gradient_check catches wrong gradients, and every custom layer and loss of the library passes it.

The library's layers and losses are found by walking its packages, so a new custom layer or
loss without a row in LAYER_CASES / LOSS_CASES fails `test_every_custom_layer_and_loss_has_a_case`.
Every case is checked in float64 (the layers are built with ``dtype="float64"``), on tiny inputs,
at most SAMPLES coordinates per tensor, with respect to its inputs and trainable variables.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data.ops import AdaptedNormalization
from kerascv_suite.data.whitening import Whitening
from kerascv_suite.layers.activations import Maxout
from kerascv_suite.layers.channel_shuffle import ChannelShuffle, ChannelSplit
from kerascv_suite.layers.boxes import CentreSizeBoxes
from kerascv_suite.layers.classifier import AdaptiveAveragePool2D
from kerascv_suite.layers.drop_connect import DropConnectDense
from kerascv_suite.layers.fractional_pooling import FractionalMaxPooling2D
from kerascv_suite.layers.fused_batch_norm import FusedBatchNormalization
from kerascv_suite.layers.grouped_conv import GroupedConv2D
from kerascv_suite.layers.instance_norm import ConditionalInstanceNormalization
from kerascv_suite.layers.local_response_norm import LocalResponseNormalization
from kerascv_suite.layers.residual import ZeroPadChannels
from kerascv_suite.layers.stochastic_depth import DropPath
from kerascv_suite.models.googlenet import AuxiliaryLogits
from kerascv_suite.training.gradient_check import (
    GOOD,
    KINKED,
    WRONG,
    gradient_check,
    verdict,
)
from kerascv_suite.tasks.losses import CrossEntropy, MulticlassHinge

LAYER_PACKAGES = ("kerascv_suite.layers", "kerascv_suite.models", "kerascv_suite.data")
LOSS_MODULES = ("kerascv_suite.tasks.losses",)
SAMPLES = 50
# The gradients here are of order 1, but a random weighting of the outputs can nearly cancel in one component.
# float64 rounding leaves ~1e-11 of absolute noise in a centred difference, a 1e-7 relative error on a 1e-4
# gradient, so components below FLOOR are judged by their absolute error against FLOOR.
FLOOR = 1e-3
F64 = {"dtype": "float64"}


def defined_classes(names: tuple[str, ...], base: type) -> dict[str, list[type]]:
    """Subclasses of `base` (not `keras.Model`) defined in the named modules and packages (walked), by class name."""
    modules = []
    for name in names:
        module = importlib.import_module(name)
        modules.append(module)
        if hasattr(module, "__path__"):
            modules += [importlib.import_module(info.name) for info in pkgutil.walk_packages(module.__path__, f"{name}.")]
    found: dict[str, set[type]] = {}
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, base) and not issubclass(cls, keras.Model) and cls.__module__.startswith("kerascv_suite"):
                found.setdefault(cls.__name__, set()).add(cls)
    return {name: sorted(classes, key=lambda c: c.__module__) for name, classes in found.items()}


def sample_inputs(shape, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Test inputs: "normal"; "distinct", a permutation spaced 0.05 ≫ h apart, so no max has a tie
    within a step; "grid", multiples of 1/64 in [−2, 2), exact in float32 as are x ± 2⁻¹⁰."""
    if kind == "distinct":
        size = int(np.prod(shape))
        return (rng.permutation(size) - size / 2).reshape(shape) * 0.05
    if kind == "grid":
        return rng.integers(-128, 128, size=shape) / 64.0
    return rng.normal(size=shape)


@dataclass(frozen=True)
class LayerCase:
    """How to gradient-check one layer class: a float64 instance, its input shape(s) and how to call it."""

    make: Callable[[], keras.layers.Layer]
    shapes: tuple                       # the input's shape; a tuple of shapes for a layer called on a list
    call: dict = field(default_factory=dict)
    inputs: str = "normal"              # see `sample_inputs`
    tolerance: float = GOOD             # GOOD for smooth (and linear) layers, KINKED for ones with a max
    epsilon: float = 1e-5

    @property
    def list_input(self) -> bool:
        return isinstance(self.shapes[0], tuple)


# Random layers are checked at inference (training=False): in training each call draws a new mask, so
# f(x + h) and f(x − h) would differ by more than the step (`test_random_layers_with_a_fixed_mask`
# checks their training gradients with the mask held fixed).
def _fitted_whitening():
    """ZCA whitening fitted on correlated 2×2×2 images: a dense, non-identity matrix to differentiate through."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 2, 2, 2)) + 0.8 * rng.normal(size=(64, 1, 1, 1))
    layer = Whitening("zca", 0.1, **F64)
    layer.adapt(tf.data.Dataset.from_tensor_slices(images).batch(16))
    return layer


def _random_styles(layer, features_shape):
    """A ConditionalInstanceNormalization built with random per-style γ, β."""
    rng = np.random.default_rng(4)
    layer.build([features_shape, (features_shape[0], layer.styles)])
    layer.gamma.assign(rng.uniform(0.5, 2.0, size=layer.gamma.shape))
    layer.beta.assign(rng.normal(size=layer.beta.shape))
    return layer


LAYER_CASES = {
    "AdaptedNormalization": LayerCase(lambda: AdaptedNormalization(axis=-1, mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0], **F64), (2, 3, 3, 3)),
    "AdaptiveAveragePool2D": LayerCase(lambda: AdaptiveAveragePool2D(3, **F64), (2, 5, 4, 2)),
    "CentreSizeBoxes": LayerCase(lambda: CentreSizeBoxes(**F64), (3, 4)),
    "AuxiliaryLogits": LayerCase(
        # it computes in float32 whatever dtype it is given (logits stay float32 under mixed precision), so its
        # float64 inputs are rounded: inputs and step on a grid exact in float32 keep x ± h unrounded
        lambda: AuxiliaryLogits(0.3, **F64), (2, 5), inputs="grid", epsilon=2.0**-10),
    "ChannelShuffle": LayerCase(lambda: ChannelShuffle(3, **F64), (2, 2, 2, 6)),
    "ChannelSplit": LayerCase(lambda: ChannelSplit(2, 1, **F64), (2, 2, 2, 6)),
    "ConditionalInstanceNormalization": LayerCase(
        # with respect to the features, the style weights (a mixture) and Γ, Β. At the initial Γ = 1, Β = 0 every
        # style weight has the same gradient, so Γ, Β are random here. Dividing by a standard deviation amplifies
        # float64 rounding in the centred differences (their error grew as h shrank), hence the larger step.
        lambda: _random_styles(ConditionalInstanceNormalization(3, **F64), (2, 4, 4, 3)), ((2, 4, 4, 3), (2, 3)),
        epsilon=3e-5),
    "DropConnectDense": LayerCase(lambda: DropConnectDense(3, rate=0.5, activation="tanh", bias_initializer="random_normal", seed=0, **F64),
                                  (2, 5), call={"training": False}),
    "DropPath": LayerCase(lambda: DropPath(0.5, seed=0, **F64), (2, 2, 2, 3), call={"training": False}),
    "FusedBatchNormalization": LayerCase(
        # checked in training, through the batch statistics. TensorFlow's fused kernel computes in float32 whatever the
        # layer's dtype, and its outputs (divided by a batch's standard deviation) are not exact in float32, so the centred
        # differences carry float32 rounding: 2e-3 relative at worst here. The tight check is against Keras's own layer
        # (tests/layers/test_fused_batch_norm.py: gradients within 1e-4).
        lambda: FusedBatchNormalization(**F64), (4, 2, 2, 3), call={"training": True}, inputs="grid", epsilon=2.0**-10,
        tolerance=5e-3),
    "FractionalMaxPooling2D": LayerCase(lambda: FractionalMaxPooling2D(1.414, overlapping=True, seed=1, **F64), (2, 5, 5, 2),
                                        call={"training": False}, inputs="distinct", tolerance=KINKED),
    "GroupedConv2D": LayerCase(lambda: GroupedConv2D(4, 3, groups=2, padding="same", bias_initializer="random_normal", **F64), (2, 4, 4, 4)),
    "LocalResponseNormalization": LayerCase(
        lambda: LocalResponseNormalization(depth_radius=1, bias=1.0, alpha=0.5, beta=0.75, **F64), (2, 2, 2, 5)),
    "Maxout": LayerCase(lambda: Maxout(3, **F64), (2, 2, 2, 6), inputs="distinct", tolerance=KINKED),
    "Whitening": LayerCase(lambda: _fitted_whitening(), (2, 2, 2, 2)),
    "ZeroPadChannels": LayerCase(lambda: ZeroPadChannels(2, **F64), (2, 2, 2, 3)),
}


@dataclass(frozen=True)
class LossCase:
    """How to gradient-check one loss class: a float64 instance, labels, and the scores it is differentiated at."""

    make: Callable[[], keras.losses.Loss]
    labels: np.ndarray
    scores: np.ndarray
    tolerance: float = GOOD


LOSS_CASES = {
    "CrossEntropy": LossCase(lambda: CrossEntropy(label_smoothing=0.1, **F64), np.array([0, 2, 1, 4]),
                             np.random.default_rng(0).normal(size=(4, 5))),
    "MulticlassHinge": LossCase(
        # the hinge max(0, s_j − s_y + Δ) has a kink where its argument is 0: scores spaced 0.1 apart and Δ = 1.05
        # keep every argument at least 0.05 from it, some active and some not
        lambda: MulticlassHinge(margin=1.05, **F64), np.array([0, 2, 1, 4]),
        np.random.default_rng(0).permutation(20).reshape(4, 5) * 0.1, tolerance=KINKED),
}


def test_every_custom_layer_and_loss_has_a_case():
    layers = defined_classes(LAYER_PACKAGES, keras.layers.Layer)
    losses = defined_classes(LOSS_MODULES, keras.losses.Loss)
    assert {"ChannelShuffle", "GroupedConv2D", "AuxiliaryLogits", "AdaptedNormalization"} <= set(layers)   # the walk works
    assert "MulticlassHinge" in losses
    ambiguous = {name: [c.__module__ for c in classes] for name, classes in {**layers, **losses}.items() if len(classes) > 1}
    assert not ambiguous, f"classes sharing a name, which the case tables cannot tell apart: {ambiguous}"
    missing_layers, missing_losses = sorted(set(layers) - set(LAYER_CASES)), sorted(set(losses) - set(LOSS_CASES))
    assert not missing_layers and not missing_losses, (
        f"custom layers {missing_layers} / losses {missing_losses} have no gradient-check case: add a row to "
        f"LAYER_CASES / LOSS_CASES in {__file__}")
    stale = sorted(set(LAYER_CASES) - set(layers)) + sorted(set(LOSS_CASES) - set(losses))
    assert not stale, f"cases for classes the library no longer defines: {stale}"


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_gradients(name):
    case, rng = LAYER_CASES[name], np.random.default_rng(0)
    layer = case.make()
    assert type(layer).__name__ == name
    shapes = case.shapes if case.list_input else (case.shapes,)
    inputs = [sample_inputs(shape, case.inputs, rng) for shape in shapes]

    def call(*xs):
        return layer(list(xs) if case.list_input else xs[0], **case.call)

    # a fixed random weighting of the outputs, not a plain sum; exact in float32, so that the gradient of a layer
    # computing in float32 (AuxiliaryLogits) is not rounded on its way back
    projection = rng.normal(size=call(*inputs).shape).astype("float32").astype("float64")
    result = gradient_check(lambda *xs: tf.reduce_sum(projection * tf.cast(call(*xs), tf.float64)), inputs,
                            layer.trainable_variables, epsilon=case.epsilon, samples=SAMPLES, floor=FLOOR)
    assert len(result.tensors) == len(inputs) + len(layer.trainable_variables)
    assert result.passed(case.tolerance), f"{name}:\n{result}"


@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_loss_gradients(name):
    case = LOSS_CASES[name]
    loss = case.make()
    assert type(loss).__name__ == name
    result = gradient_check(lambda scores: loss(case.labels, scores), case.scores, samples=SAMPLES, floor=FLOOR)
    assert result.passed(case.tolerance), f"{name}:\n{result}"


@pytest.mark.parametrize("make, shape", [
    (lambda: DropConnectDense(3, rate=0.5, seed=0, **F64), (2, 5)),
    (lambda: DropPath(0.5, seed=0, **F64), (4, 2, 2, 3)),
])
def test_random_layers_with_a_fixed_mask(make, shape):
    """Training-mode gradients, with the seed generator reset before each call so every call draws the same mask."""
    layer, rng = make(), np.random.default_rng(1)
    x = rng.normal(size=shape)
    layer(x)
    state = layer.seed_generator.state.numpy()
    projection = rng.normal(size=layer(x).shape)

    def masked(x):
        layer.seed_generator.state.assign(state)
        return tf.reduce_sum(projection * layer(x, training=True))

    assert not np.allclose(masked(x), tf.reduce_sum(projection * layer(x)))   # the mask does drop something
    result = gradient_check(masked, x, layer.trainable_variables, samples=SAMPLES, floor=FLOOR)
    assert result.passed(GOOD), str(result)


def softplus_with_gradient_scale(scale: float):
    """softplus, whose gradient sigmoid(x) is multiplied by `scale` (1: correct)."""
    @tf.custom_gradient
    def softplus(x):
        return tf.math.softplus(x), lambda upstream: upstream * tf.sigmoid(x) * scale
    return softplus


def test_a_wrong_custom_gradient_fails_and_the_right_one_passes():
    x = np.random.default_rng(2).normal(size=(3, 4))
    right = gradient_check(softplus_with_gradient_scale(1.0), x)
    assert right.max_relative_error < GOOD and right.verdict == "good" and right.passed()
    wrong = gradient_check(softplus_with_gradient_scale(1.1), x)   # 10 % too large: relative error 0.1 / 1.1
    assert wrong.max_relative_error > WRONG and wrong.verdict == "wrong" and not wrong.passed(KINKED)
    np.testing.assert_allclose(wrong.max_relative_error, 0.1 / 1.1, rtol=1e-6)


class DoubledKernelGradient(keras.layers.Layer):
    """x·W whose kernel gradient is doubled by a wrong custom gradient: the check must name the kernel, not the input."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 2), initializer="random_normal", name="kernel")

    def call(self, x):
        @tf.custom_gradient
        def wrong_identity(w):
            return tf.identity(w), lambda upstream: 2.0 * upstream
        return tf.matmul(x, wrong_identity(self.kernel.value))


def test_a_wrong_variable_gradient_is_reported_on_that_variable():
    layer = DoubledKernelGradient(**F64)
    x = np.random.default_rng(3).normal(size=(3, 4))
    layer(x)
    result = gradient_check(lambda x: tf.reduce_sum(tf.sin(layer(x))), x, layer.trainable_variables)
    errors = {t.name: t.max_relative_error for t in result.tensors}
    assert errors["input 0"] < GOOD and errors[layer.kernel.path] > WRONG
    assert result.verdict == "wrong"


def test_a_kink_between_x_minus_h_and_x_plus_h_looks_wrong_and_away_from_it_is_exact():
    relu_sum = lambda x: tf.reduce_sum(tf.nn.relu(x))   # noqa: E731
    at_kink = gradient_check(relu_sum, np.array([0.0, 1.0, -1.0]))
    assert at_kink.tensors[0].worst_index == (0,) and at_kink.tensors[0].numeric == pytest.approx(0.5)   # averages the slopes 0 and 1
    assert at_kink.verdict == "wrong"
    assert gradient_check(relu_sum, np.array([0.3, 1.0, -1.0])).max_relative_error < GOOD


def test_float32_rounding_swamps_centred_differences():
    in_float32 = lambda x: tf.reduce_sum(tf.cast(tf.tanh(tf.cast(x, tf.float32)), tf.float64))   # noqa: E731
    x = np.random.default_rng(4).normal(size=(10,))
    assert gradient_check(in_float32, x).max_relative_error > KINKED
    assert gradient_check(lambda x: tf.reduce_sum(tf.tanh(x)), x).max_relative_error < GOOD


def test_float32_variables_are_refused():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError, match="float64"):
        gradient_check(lambda x: layer(x), np.ones((1, 3)), layer.trainable_variables)


def test_sampling_limits_the_coordinates_and_variables_are_restored():
    layer = keras.layers.Dense(8, **F64)
    layer.build((None, 10))
    kernel = layer.kernel.numpy().copy()
    x = np.random.default_rng(5).normal(size=(4, 10))
    result = gradient_check(lambda x: tf.reduce_sum(tf.tanh(layer(x))), x, layer.trainable_variables, samples=7)
    assert [t.checked for t in result.tensors] == [7, 7, 7]
    assert [t.shape for t in result.tensors] == [(4, 10), (10, 8), (8,)]
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel)
    lines = str(result).splitlines()
    assert len(lines) == 5 and "dense" in lines[2] and lines[-1].startswith("overall")


def test_several_inputs_and_the_verdict_scale():
    result = gradient_check(lambda a, b: tf.reduce_sum(a * tf.exp(b)), [np.ones(3), np.zeros(3)])
    assert [t.name for t in result.tensors] == ["input 0", "input 1"] and result.verdict == "good"
    assert [verdict(e) for e in (0.5, 1e-3, 1e-5, 1e-9, float("nan"))] == [
        "wrong", "uncomfortable", "ok for kinked functions (ReLU, max)", "good", "wrong"]
