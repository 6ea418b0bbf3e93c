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
