"""Each registered optimizer's update, two steps, against the syllabus's update equations in NumPy.

Two steps with different gradients, so the state an optimizer carries between steps (velocity,
running sums, moments, Adam's step count in the bias correction) is checked, not only its first move.
"""

import keras
import numpy as np
import pytest

from kerascv_suite.training.optimizers import adagrad, adam, adamw, rmsprop, sgd

X0 = np.array([1.0, -2.0, 0.5], dtype="float64")
GRADIENTS = [np.array([0.3, -0.1, 2.0]), np.array([-0.5, 0.4, 1.0])]
LR = 0.1


def keras_steps(optimizer) -> np.ndarray:
    variable = keras.Variable(X0.astype("float32"))
    for g in GRADIENTS:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), variable)])
    return np.asarray(variable, dtype="float64")


def numpy_sgd(momentum=0.0, nesterov=False):
    x, v = X0.copy(), np.zeros(3)
    for g in GRADIENTS:
        v = momentum * v - LR * g                        # v ← ρv − αg
        x = x + (momentum * v - LR * g if nesterov else v)   # Nesterov: step from the look-ahead point
    return x


def numpy_adagrad(initial=0.1, eps=1e-7):
    x, s = X0.copy(), np.full(3, initial)
    for g in GRADIENTS:
        s = s + g * g                                    # running sum of squared gradients
        x = x - LR * g / np.sqrt(s + eps)
    return x


def numpy_rmsprop(rho=0.9, eps=1e-7):
    x, s = X0.copy(), np.zeros(3)
    for g in GRADIENTS:
        s = rho * s + (1 - rho) * g * g                  # leaky running mean of squared gradients
        x = x - LR * g / np.sqrt(s + eps)
    return x


def numpy_adam(b1=0.9, b2=0.999, eps=1e-7, weight_decay=0.0):
    x, m, v = X0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADIENTS, start=1):
        x = x - LR * weight_decay * x                    # AdamW: decoupled decay, not a gradient term
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)   # bias correction
        x = x - LR * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - b2 ** t))   # Keras adds ε to √v before correcting it
    return x


@pytest.mark.parametrize("optimizer, expected", [
    (lambda: sgd(LR), lambda: numpy_sgd()),
    (lambda: sgd(LR, momentum=0.9), lambda: numpy_sgd(0.9)),
    (lambda: sgd(LR, momentum=0.9, nesterov=True), lambda: numpy_sgd(0.9, nesterov=True)),
    (lambda: adagrad(LR), lambda: numpy_adagrad()),
    (lambda: rmsprop(LR), lambda: numpy_rmsprop()),
    (lambda: adam(LR), lambda: numpy_adam()),
    (lambda: adamw(LR, weight_decay=0.1), lambda: numpy_adam(weight_decay=0.1)),
], ids=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_two_steps_follow_the_update_equations(optimizer, expected):
    np.testing.assert_allclose(keras_steps(optimizer()), expected(), rtol=1e-5, atol=1e-6)


def test_momentum_and_nesterov_differ_from_plain_sgd():
    plain, momentum, nesterov = numpy_sgd(), numpy_sgd(0.9), numpy_sgd(0.9, nesterov=True)
    assert not np.allclose(plain, momentum) and not np.allclose(momentum, nesterov)


# ---------------------------------------------------------------- decoupled weight decay and Polyak averaging

WEIGHT_DECAY = 0.5


def numpy_sgd_decayed(momentum=0.0):
    """Keras decays the variable first, x ← x − α·λ·x, then applies the update with the gradient taken at the old x."""
    x, v = X0.copy(), np.zeros(3)
    for g in GRADIENTS:
        x = x - LR * WEIGHT_DECAY * x
        v = momentum * v - LR * g
        x = x + v
    return x


def numpy_rmsprop_decayed(rho=0.9, eps=1e-7):
    x, s = X0.copy(), np.zeros(3)
    for g in GRADIENTS:
        x = x - LR * WEIGHT_DECAY * x                    # not rescaled by the RMS, unlike an L2 term's gradient
        s = rho * s + (1 - rho) * g * g
        x = x - LR * g / np.sqrt(s + eps)
    return x


def test_one_sgd_step_with_weight_decay():
    g = GRADIENTS[0]
    variable = keras.Variable(X0.astype("float32"))
    sgd(LR, weight_decay=WEIGHT_DECAY).apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), variable)])
    expected = X0 - LR * g - LR * WEIGHT_DECAY * X0
    np.testing.assert_allclose(np.asarray(variable), expected, atol=1e-6)
    decay_after_the_update = (X0 - LR * g) * (1 - LR * WEIGHT_DECAY)
    assert np.abs(expected - decay_after_the_update).max() > 1e-3  # the order is visible at this tolerance


@pytest.mark.parametrize("optimizer, expected", [
    (lambda: sgd(LR, weight_decay=WEIGHT_DECAY), lambda: numpy_sgd_decayed()),
    (lambda: sgd(LR, momentum=0.9, weight_decay=WEIGHT_DECAY), lambda: numpy_sgd_decayed(0.9)),
    (lambda: rmsprop(LR, weight_decay=WEIGHT_DECAY), lambda: numpy_rmsprop_decayed()),
], ids=["sgd", "momentum", "rmsprop"])
def test_two_steps_with_decoupled_weight_decay(optimizer, expected):
    np.testing.assert_allclose(keras_steps(optimizer()), expected(), rtol=1e-5, atol=1e-6)


def test_regularisers_are_off_by_default():
    for optimizer in (sgd(), adam(), rmsprop(), adagrad()):
        assert optimizer.weight_decay is None and not optimizer.use_ema
    assert adamw().weight_decay == pytest.approx(0.004)
    assert sgd(ema_momentum=0.5).use_ema and sgd(ema_momentum=0.5).ema_momentum == 0.5


class RawWeights(keras.callbacks.Callback):
    """The trainable weights after every training step (before fit's end writes the average into the model)."""

    def on_train_begin(self, logs=None):
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([np.array(w) for w in self.model.trainable_weights])


@pytest.mark.parametrize("make", [
    lambda m: sgd(0.1, momentum=0.5, ema_momentum=m),
    lambda m: adam(0.05, ema_momentum=m),
], ids=["sgd", "adam"])
def test_fit_ends_with_the_polyak_average_of_the_weights(make):
    momentum = 0.8
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=make(momentum), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    raw = RawWeights()
    model.fit(x, x[:, :2] * 2.0, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[raw])
    assert len(raw.steps) == 8
    average = [w.astype("float64") for w in raw.steps[0]]  # after the first step the average is the weights
    for weights in raw.steps[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    for got, expected, last in zip(model.trainable_weights, average, raw.steps[-1]):
        np.testing.assert_allclose(np.array(got), expected, rtol=1e-5, atol=1e-6)
        assert np.abs(np.array(got) - last).max() > 1e-3  # the model is not simply the last step's weights


@pytest.mark.parametrize("clip, expected", [
    ({"clipnorm": 1.0}, lambda gs: [g * min(1.0, 1.0 / np.linalg.norm(g)) for g in gs]),       # each weight's own norm
    ({"clipvalue": 0.5}, lambda gs: [np.clip(g, -0.5, 0.5) for g in gs]),
    ({"global_clipnorm": 1.0}, lambda gs: [g * min(1.0, 1.0 / np.sqrt(sum((h * h).sum() for h in gs))) for g in gs]),
], ids=["clipnorm", "clipvalue", "global_clipnorm"])
def test_gradient_clipping_rescales_before_the_update(clip, expected):
    gradients = [np.array([0.3, -0.1, 2.0]), np.array([0.2, 0.1])]   # norms 2.02 and 0.22: only the first is clipped per weight
    variables = [keras.Variable(np.zeros(len(g), "float32")) for g in gradients]
    sgd(LR, **clip).apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), v) for g, v in zip(gradients, variables)])
    for variable, g in zip(variables, expected(gradients)):
        np.testing.assert_allclose(np.asarray(variable), -LR * g, atol=1e-6)
    assert not np.allclose(expected(gradients)[0], gradients[0])  # the clip bit


def test_every_optimizer_takes_the_clipping_and_refuses_two_kinds_at_once():
    for make in (sgd, adam, adamw, rmsprop, adagrad):
        assert make(clipnorm=2.0).clipnorm == 2.0 and make(global_clipnorm=3.0).global_clipnorm == 3.0
        assert make(clipvalue=0.5).clipvalue == 0.5 and make().clipnorm is None
        with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
            make(clipnorm=1.0, clipvalue=1.0)
