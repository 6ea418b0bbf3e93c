"""The learning-rate range test (`kcv lr-find SPEC`): the loss against an exponentially rising learning rate.

The notes tune the learning rate first, by a coarse search; Smith (2017, "Cyclical learning
rates") does it in one short run: train from the initialisation for a few hundred steps while
the rate grows geometrically from `min_lr` to `max_lr`, and watch the loss. At tiny rates it
does not move; over a band of rates it falls, fastest somewhere in the middle; then the steps
become too large and it shoots up. The suggested rate is one tenth of the rate at the smoothed
loss's lowest point (Smith's and fastai's rule of thumb): the minimum itself is already at the
edge of divergence, and a fixed rate trains for thousands of steps, not one. The rate where the
loss falls fastest is reported beside it; in a short test it often sits close to the minimum.

Each step's loss is read from Keras's logs, which hold the running mean over the steps so far:
with equal batches (training drops the last partial one) step i's own loss is
(i + 1)·mean_i − i·mean_{i−1}. The losses are smoothed by an exponential moving average with
bias correction (weight `smoothing`: 0.9 averages about the last ten steps), and the test stops once the smoothed loss exceeds
`divergence` times its lowest value.

The spec's optimizer is used as it is (momentum, betas, ...) with a constant rate in place of
its `learning_rate` or schedule, on the spec's model and training data, augmentation included.

Example::

    result = lr_range_test(load_spec("pipelines/training/optimizer_sgd.yaml"), min_lr=1e-4, max_lr=10, steps=100)
    result.suggestion              # a tenth of the rate where the loss was lowest
    write_lr_range_report(result)  # runs/optimizer_sgd_digits/lr-find/<timestamp>/lr_find.{png,json}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from kerascv_suite.spec.errors import UserError


@dataclass
class RangeTest:
    """The rates tried, the loss at each, its smoothed curve, and what it suggests."""

    spec_name: str
    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggestion: float | None = None   # a tenth of `lowest`, if the loss fell at all
    lowest: float | None = None       # the rate of the lowest smoothed loss
    steepest: float | None = None     # the rate of the smoothed loss's steepest fall against log(rate)
    diverged_at: float | None = None  # the rate at which the test stopped, if it did

    def summary(self) -> str:
        """One line a person reads: the suggestion and the curve's landmarks."""
        if self.suggestion is None:
            return f"no suggestion: the loss never fell over {self.rates[0]:.2g} … {self.rates[-1]:.2g} (widen --min/--max)"
        diverged = (f", diverged at {self.diverged_at:.2g}" if self.diverged_at is not None
                    else f", still below {_DIVERGED_TEXT} at the last rate {self.rates[-1]:.2g}")
        return (f"suggested learning rate {self.suggestion:.2g} (a tenth of the lowest loss's {self.lowest:.2g}); "
                f"steepest fall at {self.steepest:.2g}{diverged}")


_DIVERGED_TEXT = "the divergence threshold"


class _RisingRate(keras.callbacks.Callback):
    """Sets step i's rate before it runs, recovers its own loss from Keras's running mean, stops on divergence."""

    def __init__(self, result: RangeTest, rates: np.ndarray, smoothing: float, divergence: float):
        super().__init__()
        self.result, self.rates, self.smoothing, self.divergence = result, rates, smoothing, divergence
        self._mean, self._average = 0.0, 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(float(self.rates[batch]))

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        loss = (batch + 1) * mean - batch * self._mean
        self._mean = mean
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        smoothed = self._average / (1 - self.smoothing ** (batch + 1))
        self.result.rates.append(float(self.rates[batch]))
        self.result.losses.append(loss)
        self.result.smoothed.append(smoothed)
        if not math.isfinite(smoothed) or smoothed > self.divergence * min(self.result.smoothed):
            self.result.diverged_at = float(self.rates[batch])
            self.model.stop_training = True


def lr_range_test(spec, min_lr: float = 1e-6, max_lr: float = 1.0, steps: int = 100, smoothing: float = 0.9,
                  divergence: float = 4.0) -> RangeTest:
    """Train the spec's model from its initialisation for up to `steps` steps, the rate rising from `min_lr` to `max_lr`.

    Raises `UserError` (one line) for bad bounds or an optimizer without a learning rate (L-BFGS).
    """
    from kerascv_suite.data.pipeline import DataPipeline
    from kerascv_suite.training.trainer import _verbose, compile_model

    if not 0 < min_lr < max_lr:
        raise UserError(f"lr-find: need 0 < --min < --max, got --min {min_lr:g} --max {max_lr:g}")
    if steps < 10:
        raise UserError(f"lr-find: --steps must be at least 10 to show a curve, got {steps}")
    if spec.optimizer.name == "lbfgs" or "learning_rate" not in type(spec.optimizer).model_fields:
        raise UserError(f"lr-find: optimizer {spec.optimizer.name} has no learning rate to sweep (its line search picks its steps)")
    spec = spec.model_copy(update={"optimizer": spec.optimizer.model_copy(update={"learning_rate": min_lr})})
    keras.utils.set_random_seed(spec.train.seed)
    pipeline = DataPipeline(spec)
    model, _ = compile_model(spec, pipeline.info)
    rates = min_lr * (max_lr / min_lr) ** (np.arange(steps) / (steps - 1))
    result = RangeTest(spec.name)
    model.fit(pipeline.dataset("train").repeat(), epochs=1, steps_per_epoch=steps, verbose=_verbose(), shuffle=False,
              callbacks=[_RisingRate(result, rates, smoothing, divergence)])
    _suggest(result)
    return result


def _suggest(result: RangeTest) -> None:
    """Fill in `lowest`, `steepest` (the steepest fall before the lowest point) and `suggestion` (lowest / 10).

    The first tenth of the steps is left out of both: there the moving average has seen few
    losses and its slope is noise.
    """
    skip = len(result.smoothed) // 10
    smoothed = np.asarray(result.smoothed[skip:])
    lowest = int(np.argmin(smoothed))
    result.lowest = result.rates[skip + lowest]
    if lowest < 2:
        return
    slopes = np.gradient(smoothed[: lowest + 1], np.log(result.rates[skip: skip + lowest + 1]))
    if slopes.min() < 0:
        result.steepest = result.rates[skip + int(np.argmin(slopes))]
        result.suggestion = result.lowest / 10


def write_lr_range_report(result: RangeTest, out_dir: str | Path | None = None, runs_dir: str | Path = "runs") -> Path:
    """lr_find.png (loss and smoothed loss against the rate, log scale, the suggestion marked) and lr_find.json.

    Args:
        out_dir: the folder (must not exist yet, or be empty); default a new
            `<runs_dir>/<spec name>/lr-find/<timestamp>/`.
    """
    from kerascv_suite.core import runs
    from kerascv_suite.viz.plots import plt

    out = runs.empty_report_dir(out_dir) if out_dir is not None else runs.new_run_dir(Path(runs_dir) / result.spec_name, "lr-find")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(result.rates, result.losses, color="0.75", lw=1, label="loss of each step")
    ax.plot(result.rates, result.smoothed, color="tab:blue", lw=2, label="smoothed")
    if result.suggestion is not None:
        ax.axvline(result.suggestion, color="tab:green", ls="--", label=f"suggested {result.suggestion:.2g}")
    ax.axvline(result.lowest, color="tab:red", ls=":", label=f"lowest loss {result.lowest:.2g}")
    ax.set_xscale("log")
    finite = [v for v in result.smoothed if math.isfinite(v)]
    ax.set_ylim(min(finite) * 0.9, min(max(finite), 3 * finite[0]) * 1.05)
    ax.set(xlabel="learning rate (log scale)", ylabel="training loss", title=f"learning-rate range test: {result.spec_name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "lr_find.png", dpi=100)
    plt.close(fig)
    summary = {"spec": result.spec_name, "suggestion": result.suggestion, "lowest": result.lowest, "steepest": result.steepest,
               "diverged_at": result.diverged_at, "summary": result.summary(),
               "rates": result.rates, "losses": result.losses, "smoothed": result.smoothed}
    (out / "lr_find.json").write_text(json.dumps(summary, indent=2))
    return out
