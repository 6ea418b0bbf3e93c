"""Learning-rate schedules, each with an optional linear warm-up, as components of `optimizer.learning_rate`.

Keras has the decays (`ExponentialDecay`, `InverseTimeDecay`, `PolynomialDecay`, `CosineDecay`,
`PiecewiseConstantDecay`) and the cyclic `CosineDecayRestarts` (`cosine_restarts` here); only
`CosineDecay` has a warm-up, and none has the inverse square root of the Transformer papers. So
two small schedules are written here: `LinearWarmup`, which puts a warm-up in front of any Keras
schedule (the decay then starts when the warm-up ends), and `InverseSqrtDecay`. Every registered
schedule takes `warmup_steps` (0: none).

Example (YAML)::

    optimizer:
      name: sgd
      momentum: 0.9
      learning_rate: {name: step_decay, initial_learning_rate: 0.1, step_size: 1000, gamma: 0.1, warmup_steps: 200}
"""

from __future__ import annotations

import math

import keras
from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from kerascv_suite.registry import SCHEDULES

Schedule = keras.optimizers.schedules.LearningRateSchedule


@keras.saving.register_keras_serializable(package="kerascv_suite")
class LinearWarmup(Schedule):
    """Ramp linearly up to `schedule(0)` over `warmup_steps`, then follow `schedule(step − warmup_steps)`.

    Step t < warmup_steps gets schedule(0)·(t + 1)/warmup_steps: never 0 (a wasted step), the
    full rate at the warm-up's last step, and the decay from there on.

    Large learning rates blow up a freshly initialised network (Goyal et al., 2017); a few hundred
    steps of ramp let the statistics settle first.

    Example::

        LinearWarmup(keras.optimizers.schedules.ExponentialDecay(0.1, 1000, 0.5), warmup_steps=100)
    """

    def __init__(self, schedule: Schedule, warmup_steps: int):
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        ramp = self.schedule(0) * (step + 1.0) / warmup
        return keras.ops.where(step < warmup, ramp, self.schedule(keras.ops.maximum(step - warmup, 0.0)))

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["warmup_steps"])


@keras.saving.register_keras_serializable(package="kerascv_suite")
class InverseSqrtDecay(Schedule):
    """α·√(s / (step + s)): constant-ish at first, then falling as 1/√step (Vaswani et al., 2017, after warm-up).

    Example::

        InverseSqrtDecay(1e-3, scale_steps=4000)   # 1e-3 at step 0, 1e-3/√2 at step 4000
    """

    def __init__(self, initial_learning_rate: float, scale_steps: int):
        self.initial_learning_rate = float(initial_learning_rate)
        self.scale_steps = int(scale_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return self.initial_learning_rate * keras.ops.sqrt(self.scale_steps / (step + self.scale_steps))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "scale_steps": self.scale_steps}


def warmed_up(schedule: Schedule, warmup_steps: int) -> Schedule:
    return LinearWarmup(schedule, warmup_steps) if warmup_steps else schedule


@SCHEDULES.register("step_decay")
def step_decay(initial_learning_rate: PositiveFloat, step_size: PositiveInt, gamma: PositiveFloat = 0.1, warmup_steps: NonNegativeInt = 0):
    """α·γ^⌊step/step_size⌋: divide by 1/γ every `step_size` steps (ResNet's ÷10 at fixed epochs)."""
    return warmed_up(keras.optimizers.schedules.ExponentialDecay(initial_learning_rate, step_size, gamma, staircase=True), warmup_steps)


@SCHEDULES.register("exponential_decay")
def exponential_decay(initial_learning_rate: PositiveFloat, decay_steps: PositiveInt, decay_rate: PositiveFloat, staircase: bool = False,
                      warmup_steps: NonNegativeInt = 0):
    """α·rate^(step/decay_steps); `staircase` makes it a step schedule."""
    return warmed_up(keras.optimizers.schedules.ExponentialDecay(initial_learning_rate, decay_steps, decay_rate, staircase=staircase),
                     warmup_steps)


@SCHEDULES.register("inverse_time_decay")
def inverse_time_decay(initial_learning_rate: PositiveFloat, decay_steps: PositiveInt, decay_rate: PositiveFloat,
                       warmup_steps: NonNegativeInt = 0):
    """The 1/t decay: α / (1 + rate·step/decay_steps)."""
    return warmed_up(keras.optimizers.schedules.InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate), warmup_steps)


@SCHEDULES.register("linear_decay")
def linear_decay(initial_learning_rate: PositiveFloat, decay_steps: PositiveInt, end_learning_rate: NonNegativeFloat = 0.0,
                 warmup_steps: NonNegativeInt = 0):
    """A straight line from α to `end_learning_rate` over `decay_steps`, then constant."""
    return warmed_up(keras.optimizers.schedules.PolynomialDecay(initial_learning_rate, decay_steps, end_learning_rate, power=1.0),
                     warmup_steps)


@SCHEDULES.register("inverse_sqrt_decay")
def inverse_sqrt_decay(initial_learning_rate: PositiveFloat, scale_steps: PositiveInt = 1000, warmup_steps: NonNegativeInt = 0):
    """α·√(s/(step + s)): the Transformer schedule's 1/√step tail (`InverseSqrtDecay`)."""
    return warmed_up(InverseSqrtDecay(initial_learning_rate, scale_steps), warmup_steps)


@SCHEDULES.register("cosine_decay")
def cosine_decay(initial_learning_rate: PositiveFloat, decay_steps: PositiveInt, alpha: NonNegativeFloat = 0.0, warmup_steps: NonNegativeInt = 0):
    """Cosine decay to α·initial over `decay_steps`, after an optional linear warm-up (Keras's own)."""
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else initial_learning_rate,
        decay_steps,
        alpha=alpha,
        warmup_target=initial_learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


@SCHEDULES.register("piecewise_constant")
def piecewise_constant(boundaries: list[int], values: list[PositiveFloat], warmup_steps: NonNegativeInt = 0):
    """Step schedule: values[i] until boundaries[i] (one more value than boundaries)."""
    if len(values) != len(boundaries) + 1:
        raise ValueError(f"piecewise_constant needs one more value than boundaries, got {len(values)} and {len(boundaries)}")
    return warmed_up(keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values), warmup_steps)


@SCHEDULES.register("cosine_restarts")
def cosine_restarts(initial_learning_rate: PositiveFloat, total_steps: PositiveInt, cycles: PositiveInt, warmup_steps: NonNegativeInt = 0):
    """`cycles` equal cosine cycles over `total_steps`, each from α down to 0 (Huang et al., 2017, snapshot ensembles).

    Step t (counted from 1) gets α/2·(cos(π·mod(t − 1, c)/c) + 1) with c = ⌈total_steps/cycles⌉:
    the rate falls to nearly 0 at each cycle's last step, then jumps back to α. Keras's
    `CosineDecayRestarts` with equal cycles (`t_mul=1`) and equal peaks (`m_mul=1`). With a warm-up the
    cycles start when it ends. The `snapshot_ensemble` callback reads the cycles from this schedule.

    Example (YAML): 6 cycles of 195 steps over 30 epochs of 39 steps::

        learning_rate: {name: cosine_restarts, initial_learning_rate: 0.1, total_steps: 1170, cycles: 6}
    """
    cycle_steps = math.ceil(total_steps / cycles)
    return warmed_up(keras.optimizers.schedules.CosineDecayRestarts(initial_learning_rate, cycle_steps, t_mul=1.0, m_mul=1.0),
                     warmup_steps)


def restart_cycle(schedule) -> tuple[int, int] | None:
    """(warm-up steps, cycle steps) of a schedule of equal cosine cycles, None for any other schedule.

    Cycle k (from 1) ends after optimizer step warmup + k·cycle_steps, at the rate's minimum.

    Example::

        restart_cycle(cosine_restarts(0.1, total_steps=1170, cycles=6, warmup_steps=50))   # (50, 195)
    """
    warmup = 0
    if isinstance(schedule, LinearWarmup):
        schedule, warmup = schedule.schedule, schedule.warmup_steps
    if not isinstance(schedule, keras.optimizers.schedules.CosineDecayRestarts) or schedule.get_config()["t_mul"] != 1:
        return None
    return warmup, int(schedule.first_decay_steps)
