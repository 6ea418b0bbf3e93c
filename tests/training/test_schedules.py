"""Every registered learning-rate schedule against its formula, with and without warm-up."""

import math

import keras
import numpy as np
import pytest

from kerascv_suite.registry import SCHEDULES, load_components
from kerascv_suite.spec import build_component, validate_spec
from kerascv_suite.training.schedules import InverseSqrtDecay, LinearWarmup, cosine_restarts, restart_cycle

load_components()
A = 0.1
FORMULAS = {
    "step_decay": ({"step_size": 10, "gamma": 0.5}, lambda t: A * 0.5 ** (t // 10)),
    "exponential_decay": ({"decay_steps": 10, "decay_rate": 0.5}, lambda t: A * 0.5 ** (t / 10)),
    "inverse_time_decay": ({"decay_steps": 10, "decay_rate": 0.5}, lambda t: A / (1 + 0.5 * t / 10)),
    "linear_decay": ({"decay_steps": 20, "end_learning_rate": 0.01}, lambda t: A - (A - 0.01) * min(t, 20) / 20),
    "inverse_sqrt_decay": ({"scale_steps": 10}, lambda t: A * math.sqrt(10 / (t + 10))),
    "cosine_decay": ({"decay_steps": 20}, lambda t: A * 0.5 * (1 + math.cos(math.pi * min(t, 20) / 20))),
    "cosine_restarts": ({"total_steps": 20, "cycles": 3}, lambda t: A * 0.5 * (1 + math.cos(math.pi * (t % 7) / 7))),  # ⌈20/3⌉
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


def test_cosine_restarts_is_huang_et_als_cyclic_schedule():
    # α₀/2·(cos(π·mod(t − 1, ⌈T/M⌉)/⌈T/M⌉) + 1) for iterations t = 1, 2, ... (Huang et al., 2017, eq. 2), T = 20, M = 3
    t = np.arange(1, 43)
    cycle = math.ceil(20 / 3)
    expected = A / 2 * (np.cos(np.pi * np.mod(t - 1, cycle) / cycle) + 1)
    rates = values(cosine_restarts(A, total_steps=20, cycles=3), t - 1)   # Keras counts optimizer steps from 0
    np.testing.assert_allclose(rates, expected, rtol=1e-5)
    ends = np.flatnonzero(np.diff(rates) > 0) + 1   # the steps after which the rate jumps back up
    np.testing.assert_array_equal(ends, [7, 14, 21, 28, 35])
    assert rates[ends - 1].max() < 0.06 * A and np.all(rates[ends] == np.float32(A))


def test_restart_cycle_reads_the_cycles_of_a_restart_schedule_only():
    schedule = cosine_restarts(A, total_steps=20, cycles=3, warmup_steps=4)
    assert restart_cycle(schedule) == (4, 7)
    # the optimizer keeps its schedule as a config: the cycle survives the round trip
    assert restart_cycle(keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))) == (4, 7)
    assert restart_cycle(cosine_restarts(A, total_steps=20, cycles=3)) == (0, 7)
    assert restart_cycle(keras.optimizers.schedules.CosineDecayRestarts(A, 7)) is None   # t_mul 2: cycles of 7, 14, 28, ...
    assert restart_cycle(SCHEDULES.get("cosine_decay")(A, decay_steps=20)) is None
