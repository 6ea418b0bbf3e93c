"""Every registered learning-rate schedule against its formula, with and without warm-up."""

import math

import keras
import numpy as np
import pytest

from kerascv_suite.registry import SCHEDULES, load_components
from kerascv_suite.spec import build_component, validate_spec
from kerascv_suite.training.schedules import InverseSqrtDecay, LinearWarmup

load_components()
A = 0.1
FORMULAS = {
    "step_decay": ({"step_size": 10, "gamma": 0.5}, lambda t: A * 0.5 ** (t // 10)),
    "exponential_decay": ({"decay_steps": 10, "decay_rate": 0.5}, lambda t: A * 0.5 ** (t / 10)),
    "inverse_time_decay": ({"decay_steps": 10, "decay_rate": 0.5}, lambda t: A / (1 + 0.5 * t / 10)),
    "linear_decay": ({"decay_steps": 20, "end_learning_rate": 0.01}, lambda t: A - (A - 0.01) * min(t, 20) / 20),
    "inverse_sqrt_decay": ({"scale_steps": 10}, lambda t: A * math.sqrt(10 / (t + 10))),
    "cosine_decay": ({"decay_steps": 20}, lambda t: A * 0.5 * (1 + math.cos(math.pi * min(t, 20) / 20))),
}
STEPS = [0, 1, 5, 9, 10, 15, 20, 30]


def values(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_every_registered_schedule_has_a_formula():
    assert set(SCHEDULES.names()) - {"piecewise_constant"} == set(FORMULAS)


@pytest.mark.parametrize("name", FORMULAS)
def test_schedule_follows_its_formula(name):
    kwargs, formula = FORMULAS[name]
    schedule = SCHEDULES.get(name)(initial_learning_rate=A, **kwargs)
    np.testing.assert_allclose(values(schedule, STEPS), [formula(t) for t in STEPS], rtol=1e-5)


@pytest.mark.parametrize("name", FORMULAS)
def test_warmup_ramps_linearly_then_the_schedule_starts(name):
    kwargs, formula = FORMULAS[name]
    schedule = SCHEDULES.get(name)(initial_learning_rate=A, warmup_steps=4, **kwargs)
    ramp = values(schedule, [0, 1, 2, 3])
    assert np.all(np.diff(ramp) > 0)
    if name == "cosine_decay":   # Keras's own warm-up: from 0, reaching A after warmup_steps, then decay_steps of cosine
        np.testing.assert_allclose(values(schedule, [4, 14]), [A, formula(10)], rtol=1e-5)
    else:
        np.testing.assert_allclose(ramp, [A * (t + 1) / 4 for t in range(4)], rtol=1e-5)
        np.testing.assert_allclose(values(schedule, [4 + t for t in STEPS]), [formula(t) for t in STEPS], rtol=1e-5)


def test_piecewise_constant_with_warmup():
    schedule = SCHEDULES.get("piecewise_constant")(boundaries=[10], values=[A, A / 10], warmup_steps=2)
    np.testing.assert_allclose(values(schedule, [0, 1, 2, 11, 12, 13]), [A / 2, A, A, A, A, A / 10], rtol=1e-6)


def test_custom_schedules_round_trip_through_keras_serialisation():
    for schedule in (InverseSqrtDecay(A, 10), LinearWarmup(InverseSqrtDecay(A, 10), 3)):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
        np.testing.assert_allclose(values(restored, STEPS), values(schedule, STEPS))


def test_a_schedule_drives_an_optimizer_from_a_spec():
    spec = validate_spec({"name": "t", "model": "lenet5",
                          "optimizer": {"name": "sgd", "learning_rate": {"name": "step_decay", "initial_learning_rate": A,
                                                                          "step_size": 10, "warmup_steps": 5}}})
    optimizer = build_component(spec.optimizer)
    variable = keras.Variable([1.0])
    rates = []
    for _ in range(6):
        rates.append(float(optimizer.learning_rate))   # the schedule at the optimizer's current step
        optimizer.apply_gradients([(keras.ops.ones((1,)), variable)])
    np.testing.assert_allclose(rates, [A / 5, 2 * A / 5, 3 * A / 5, 4 * A / 5, A, A], rtol=1e-6)
