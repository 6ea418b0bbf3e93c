"""Callbacks a spec can add to `fit` (`train.callbacks`), and `LearningRateLogger`, one of the trainer's defaults.

`early_stopping` and `reduce_lr_on_plateau` are Keras's own. The notes' training-practice checks
are the library's, since Keras has none that looks inside the network or at the loss's start:
`dead_relu` (`DeadReluMonitor`), `update_ratio` (`UpdateRatioMonitor`) and `divergence_stop`
(`DivergenceStop`). `snapshot_ensemble` (`SnapshotEnsemble`) turns one run with a cyclic learning
rate into an ensemble of the models at the cycles' ends.

Example (YAML)::

    train: {callbacks: [{name: early_stopping, patience: 5}]}
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import keras
import numpy as np
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from kerascv_suite.registry import CALLBACKS
from kerascv_suite.spec.errors import UserError
from kerascv_suite.training.ensemble import average_probabilities, predict_probabilities
from kerascv_suite.training.schedules import restart_cycle


def monitor_mode(monitor: str) -> str:
    """"max" for an accuracy ("val_accuracy", "top_k_accuracy"), else "min" (losses, −ELBO terms).

    Keras infers the direction only for metrics it knows; the library's own accuracy (which also
    takes mixed labels) it does not, so a checkpoint or early stop on `val_accuracy` would fail.
    """
    return "max" if "acc" in monitor else "min"


@CALLBACKS.register("early_stopping")
def early_stopping(monitor: str = "val_loss", patience: PositiveInt = 5, min_delta: NonNegativeFloat = 0.0, restore_best_weights: bool = True):
    """Stop when `monitor` has not improved for `patience` epochs."""
    return keras.callbacks.EarlyStopping(monitor=monitor, mode=monitor_mode(monitor), patience=patience, min_delta=min_delta,
                                         restore_best_weights=restore_best_weights)


@CALLBACKS.register("reduce_lr_on_plateau")
def reduce_lr_on_plateau(monitor: str = "val_loss", factor: PositiveFloat = 0.1, patience: PositiveInt = 3, min_lr: NonNegativeFloat = 0.0):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""
    return keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=monitor_mode(monitor), factor=factor, patience=patience, min_lr=min_lr)


class LearningRateLogger(keras.callbacks.Callback):
    """Add `learning_rate` to each epoch's logs: the rate the epoch's first step used.

    With a schedule the rate changes every step; the value at the start of each epoch is what
    history.csv, TensorBoard and the curves show. Keras logs the rate only when a callback
    such as `ReduceLROnPlateau` changes it, so the trainer puts this callback first, before
    the loggers read the epoch's logs. Optimizers that choose their steps by line search
    (L-BFGS) have no learning rate to log.

    Example::

        model.fit(x, y, epochs=3, callbacks=[LearningRateLogger(), keras.callbacks.CSVLogger("h.csv")])
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and not getattr(self.model.optimizer, "line_search", False):  # L-BFGS has no rate
            logs["learning_rate"] = self._rate


class EpochTable:
    """Values by (epoch, name) kept in a CSV of the run folder: read back by a resumed run, rewritten atomically.

    What the per-layer monitors record; a resumed run overwrites the epochs it trains again, so
    the file holds one row per epoch and name.

    Example::

        table = EpochTable("runs/x/1/dead_relu.csv", "layer", "dead_share")
        table.rows[(1, "hidden1_act")] = 0.06
        table.save()
        EpochTable.read("runs/x/1/dead_relu.csv")     # {(1, "hidden1_act"): 0.06}
    """

    def __init__(self, path, name: str, value: str):
        self.path = None if path is None else Path(path)
        self.header = f"epoch,{name},{value}"
        self.rows: dict[tuple[int, str], float] = self.read(self.path) if self.path is not None and self.path.exists() else {}

    @staticmethod
    def read(path) -> dict[tuple[int, str], float]:
        """{(epoch, name): value} of a table's CSV."""
        rows = {}
        for line in Path(path).read_text().splitlines()[1:]:
            epoch, name, value = line.split(",")
            rows[(int(epoch), name)] = float(value)
        return rows

    def save(self) -> None:
        if self.path is None:
            return
        from kerascv_suite.core.runs import write_atomic

        lines = [self.header, *(f"{epoch},{name},{value:.6g}" for (epoch, name), value in sorted(self.rows.items()))]
        write_atomic(self.path, "\n".join(lines) + "\n")


class DeadReluMonitor(keras.callbacks.Callback):
    """Share of dead ReLU units per layer, at initialisation and after every epoch (chapter 7's warning).

    A ReLU unit is dead when it outputs 0 for every input: its gradient is then 0 too, so it never
    comes back. The notes warn that a poor initialisation, or a learning rate too high for the
    first updates, can kill a large share of a network's units (some practitioners start ReLU
    biases at 0.01 against it). `kcv activations` measures the share at initialisation only;
    this callback follows it through training.

    A unit is one output channel of a ReLU layer (`keras.layers.ReLU` or an `Activation("relu")`)
    and is counted dead when it is 0 at every position of every one of `examples` fixed training
    images (preprocessed, not augmented), read in inference mode. Each epoch adds `dead_relu`, the
    share over all the network's ReLU units, to the logs (history.csv, the curves, TensorBoard);
    dead_relu.csv in the run folder holds every layer's share per epoch (epoch 0 is
    initialisation), rewritten atomically so a resumed run keeps one row per epoch and layer, and
    dead_relu.png draws it when training ends.

    Example (YAML)::

        train: {callbacks: [{name: dead_relu, examples: 256}]}
    """

    def __init__(self, images, run_dir=None):
        super().__init__()
        self.images = images
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.table = EpochTable(None if run_dir is None else self.run_dir / "dead_relu.csv", "layer", "dead_share")
        self.rows = self.table.rows

    @staticmethod
    def relu_layers(model) -> list:
        """The model's own ReLU layers (nested models are not searched)."""
        return [layer for layer in model.layers
                if (isinstance(layer, keras.layers.ReLU) and layer.negative_slope == 0 and layer.threshold == 0)
                or (isinstance(layer, keras.layers.Activation) and layer.get_config()["activation"] == "relu")]

    def dead_shares(self) -> dict[str, tuple[int, int]]:
        """{layer name: (dead units, units)} on the fixed images."""
        layers = self.relu_layers(self.model)
        if not layers:
            return {}
        probe = keras.Model(self.model.input, [layer.output for layer in layers])
        outputs = probe(self.images, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        shares = {}
        for layer, output in zip(layers, outputs):
            output = keras.ops.convert_to_numpy(output)
            alive = (output.reshape(-1, output.shape[-1]) > 0).any(axis=0)
            shares[layer.name] = (int((~alive).sum()), int(alive.size))
        return shares

    def _record(self, epoch: int, logs=None) -> None:
        shares = self.dead_shares()
        for layer, (dead, units) in shares.items():
            self.rows[(epoch, layer)] = dead / units
        if logs is not None and shares:
            logs["dead_relu"] = sum(d for d, _ in shares.values()) / sum(u for _, u in shares.values())
        self.table.save()

    def on_train_begin(self, logs=None):
        if not any(epoch == 0 for epoch, _ in self.rows):  # a resumed run has its initialisation row
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1, logs)

    def on_train_end(self, logs=None):
        if self.run_dir is None or not self.rows:
            return
        from kerascv_suite.viz.plots import plot_layer_series

        plot_layer_series({key: 100 * share for key, share in self.rows.items()}, self.run_dir / "dead_relu.png",
                          "dead ReLU units", "dead units (%)", xlabel="epoch (0 = initialisation)")


@CALLBACKS.register("dead_relu")
def dead_relu(pipeline, run_dir, examples: PositiveInt = 256):
    """Track the share of dead ReLU units per layer every epoch (`DeadReluMonitor`) on `examples` training images."""
    if pipeline.structured:
        images = pipeline.feature_examples("train", examples)["images"]
    else:
        images, _ = pipeline.examples("train", limit=examples)
    return DeadReluMonitor(images, run_dir)


class DivergenceStop(keras.callbacks.Callback):
    """Stop training once the loss exceeds `factor` times its value at the start (CS231n: "3× the original loss").

    A loss that climbs that far has diverged (a learning rate too high, a bug) and will not come
    back; stopping saves the run's remaining time, and the line printed says why it ended. The
    reference is the first batch's loss; each batch compares Keras's running mean of the epoch's
    losses, so one noisy batch does not stop a run. A non-finite loss stops too.

    Example::

        model.fit(x, y, epochs=30, callbacks=[DivergenceStop(factor=3)])
    """

    def __init__(self, factor: float = 3.0):
        super().__init__()
        self.factor = factor
        self.start: float | None = None
        self.stopped_at: tuple[int, int, float] | None = None  # (epoch, batch, loss)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", float("nan")))
        if self.start is None:
            self.start = loss
            return
        if not loss < self.factor * self.start:  # also true for NaN and inf
            self.stopped_at = (self._epoch, batch, loss)
            self.model.stop_training = True
            print(f"divergence_stop: loss {loss:.4g} at epoch {self._epoch + 1}, step {batch + 1} is above "
                  f"{self.factor:g} × its start {self.start:.4g}; training stopped")


@CALLBACKS.register("divergence_stop")
def divergence_stop(factor: Annotated[float, Field(gt=1)] = 3.0):
    """Stop when the loss exceeds `factor` × its first batch's loss (`DivergenceStop`)."""
    return DivergenceStop(factor)


class UpdateRatioMonitor(keras.callbacks.Callback):
    """‖ΔW‖ / ‖W‖ of one optimizer step per weight matrix, each epoch (the notes' "about 1e-3" rule).

    CS231n's advice for tuning the learning rate by eye: the size of an update relative to the
    weights it changes should be around 1e-3; far below, the rate is too low, far above, too high.
    On the first step of every epoch this snapshots each kernel (weights of rank ≥ 2), lets the
    step run, and divides the norm of the change by the norm before it. Each epoch adds
    `update_ratio` (the median over the kernels) to the logs; update_ratio.csv in the run folder
    holds every kernel's ratio per epoch, rewritten atomically so a resumed run keeps one row per
    epoch and kernel, and update_ratio.png draws them on a log scale beside the 1e-3 line.

    Example (YAML)::

        train: {callbacks: [update_ratio]}
    """

    def __init__(self, run_dir=None):
        super().__init__()
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.table = EpochTable(None if run_dir is None else self.run_dir / "update_ratio.csv", "weight", "update_ratio")
        self.rows = self.table.rows
        self._before: list | None = None
        self._epoch = 0

    def _kernels(self) -> list:
        return [v for v in self.model.trainable_weights if len(v.shape) >= 2]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self._before = [keras.ops.convert_to_numpy(v).astype("float64") for v in self._kernels()]

    def on_train_batch_end(self, batch, logs=None):
        if batch != 0 or self._before is None:
            return
        for variable, before in zip(self._kernels(), self._before):
            after = keras.ops.convert_to_numpy(variable).astype("float64")
            scale = float((before ** 2).sum() ** 0.5)
            if scale > 0:
                self.rows[(self._epoch, variable.path)] = float(((after - before) ** 2).sum() ** 0.5) / scale
        self._before = None

    def on_epoch_end(self, epoch, logs=None):
        ratios = [ratio for (e, _), ratio in self.rows.items() if e == epoch + 1]
        if logs is not None and ratios:
            logs["update_ratio"] = float(np.median(ratios))
        self.table.save()

    def on_train_end(self, logs=None):
        if self.run_dir is None or not self.rows:
            return
        from kerascv_suite.viz.plots import plot_layer_series

        plot_layer_series(self.rows, self.run_dir / "update_ratio.png", "update / weight ratio",
                          "‖ΔW‖ / ‖W‖ (first step)", log=True, reference=1e-3)


@CALLBACKS.register("update_ratio")
def update_ratio(run_dir):
    """Log ‖ΔW‖/‖W‖ of each kernel's first step every epoch (`UpdateRatioMonitor`)."""
    return UpdateRatioMonitor(run_dir)


class SnapshotEnsemble(keras.callbacks.Callback):
    """Snapshot ensembles (Huang et al., 2017): save the model at the end of each learning-rate cycle, average the snapshots.

    "Train 1, get M for free": under a cyclic schedule (`cosine_restarts`) the rate falls to nearly 0
    at the end of each cycle and the network settles in a minimum; the jump back to the full rate
    then sends it towards another. Averaging the softmax probabilities of the models saved at those
    minima gives an ensemble for the cost of one run (the notes' chapter 7: model ensembles).

    The cycles are read from the optimizer's own schedule when training begins, so the snapshots
    cannot disagree with it; another schedule is a one-line error. After the optimizer step that
    ends cycle k (step warmup + k·cycle_steps) the model's weights, with the optimizer's state, go to
    snapshots/cycle_<k>.weights.h5 in the run folder, written atomically. A resumed run finds them
    there, and a cycle it trains again is saved again under the same name, never twice. When
    training ends every snapshot is scored alone on the given test examples, and the ensembles of
    the last 2, 3, …, M snapshots by averaged probabilities (`average_probabilities`, as `kcv
    ensemble` averages runs); snapshot_ensemble.json and .md go into the run folder and one line is
    printed. The final weights and optimizer state are then restored, so the trainer evaluates and
    exports the final model as it would without this callback.

    Args:
        images, labels: the test examples, preprocessed (`DataPipeline.examples("test")`).
        run_dir: the run folder, for the snapshots and the reports.
        ensemble_size: how many of the last snapshots the printed ensemble averages (default: all).

    Example::

        model.compile(keras.optimizers.SGD(cosine_restarts(0.1, total_steps=60, cycles=3)), loss)
        model.fit(x, y, batch_size=10, epochs=6, callbacks=[SnapshotEnsemble(x_test, y_test, "run")])  # 10 steps an epoch
        # snapshots after steps 20, 40 and 60; run/snapshot_ensemble.md
    """

    def __init__(self, images, labels, run_dir, ensemble_size: int | None = None):
        super().__init__()
        self.images, self.labels = images, np.asarray(labels)
        self.run_dir = Path(run_dir)
        self.ensemble_size = ensemble_size
        self.snapshots: dict[int, Path] = {}   # cycle → its weights file
        self.result: dict | None = None        # the numbers of the report, and the probabilities

    def on_train_begin(self, logs=None):
        # under mixed_float16 Keras wraps the spec's optimizer in a LossScaleOptimizer, which has no schedule of its own
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
        rate = optimizer.get_config().get("learning_rate")
        cycle = restart_cycle(keras.saving.deserialize_keras_object(rate)) if isinstance(rate, dict) else None
        if cycle is None:
            raise UserError("train.callbacks: snapshot_ensemble saves the model at the end of each learning-rate cycle, "
                            "so it needs optimizer.learning_rate: {name: cosine_restarts, ...}")
        self.warmup_steps, self.cycle_steps = cycle
        self.snapshots = {int(path.name.removeprefix("cycle_").removesuffix(".weights.h5")): path   # a resumed run's
                          for path in (self.run_dir / "snapshots").glob("cycle_*.weights.h5")}

    def on_train_batch_end(self, batch, logs=None):
        done = int(self.model.optimizer.iterations) - self.warmup_steps
        if done > 0 and done % self.cycle_steps == 0:
            from kerascv_suite.core.runs import write_atomic

            cycle = done // self.cycle_steps
            path = self.run_dir / "snapshots" / f"cycle_{cycle}.weights.h5"
            with tempfile.TemporaryDirectory() as scratch:
                staged = Path(scratch) / path.name
                self.model.save_weights(staged)
                write_atomic(path, staged.read_bytes())
            self.snapshots[cycle] = path

    def on_train_end(self, logs=None):
        if not self.snapshots:
            print(f"snapshot_ensemble: no cycle of {self.cycle_steps} steps ended in this run, so there is no snapshot to ensemble")
            return
        cycles = sorted(self.snapshots)
        probabilities = []
        with tempfile.TemporaryDirectory() as scratch:
            final = Path(scratch) / "final.weights.h5"
            self.model.save_weights(final)
            try:
                for cycle in cycles:
                    self.model.load_weights(self.snapshots[cycle])
                    probabilities.append(predict_probabilities(self.model, self.images))
            finally:
                self.model.load_weights(final)
        self.result = self._report(cycles, probabilities)

    def _report(self, cycles: list[int], probabilities: list[np.ndarray]) -> dict:
        """Score the snapshots and the ensembles of the last k; write snapshot_ensemble.{json,md}; print one line."""
        from kerascv_suite.core.runs import write_atomic

        last = {k: average_probabilities(probabilities[-k:], self.labels) for k in range(1, len(cycles) + 1)}
        size = min(self.ensemble_size or len(cycles), len(cycles))
        numbers = {
            "cycle_steps": self.cycle_steps,
            "warmup_steps": self.warmup_steps,
            "test_examples": int(len(self.labels)),
            "snapshots": [{"cycle": cycle, "step": self.warmup_steps + cycle * self.cycle_steps,
                           "file": str(self.snapshots[cycle].relative_to(self.run_dir)), **scores}
                          for cycle, scores in zip(cycles, last[len(cycles)]["member_scores"])],
            "ensembles": [{"last": k, **last[k]["ensemble"]} for k in range(2, len(cycles) + 1)],
            "ensemble": {"last": size, **last[size]["ensemble"]},
            "mean_member_accuracy": last[size]["mean_member_accuracy"],
            "gain": last[size]["gain"],
        }
        write_atomic(self.run_dir / "snapshot_ensemble.json", json.dumps(numbers, indent=2))
        warmup = f" after a warm-up of {self.warmup_steps} steps" if self.warmup_steps else ""
        lines = ["# Snapshot ensemble\n",
                 f"{len(cycles)} snapshots, one at the end of each cosine cycle of {self.cycle_steps} steps{warmup}, "
                 f"scored on {numbers['test_examples']} test examples.\n",
                 "| model | step | test accuracy | test cross-entropy |", "|---|---:|---:|---:|"]
        lines += [f"| snapshot {s['cycle']} | {s['step']} | {s['accuracy']:.4f} | {s['cross_entropy']:.4f} |" for s in numbers["snapshots"]]
        lines += [f"| ensemble of the last {e['last']} | | {e['accuracy']:.4f} | {e['cross_entropy']:.4f} |" for e in numbers["ensembles"]]
        lines += ["", f"The ensemble of the last {size} gains {numbers['gain']:+.4f} accuracy over its snapshots' mean "
                      f"({numbers['mean_member_accuracy']:.4f}).", ""]
        write_atomic(self.run_dir / "snapshot_ensemble.md", "\n".join(lines))
        accuracies = [s["accuracy"] for s in numbers["snapshots"]]
        print(f"snapshot_ensemble: {len(cycles)} snapshots, test accuracy {min(accuracies):.4f}–{max(accuracies):.4f}; "
              f"the last {size} averaged: {numbers['ensemble']['accuracy']:.4f} ({numbers['gain']:+.4f} over their mean); "
              f"{self.run_dir / 'snapshot_ensemble.md'}")
        return {**numbers, "labels": self.labels, "member_probabilities": last[len(cycles)]["member_probabilities"],
                "probabilities": last[size]["probabilities"]}


@CALLBACKS.register("snapshot_ensemble")
def snapshot_ensemble(pipeline, run_dir, ensemble_size: PositiveInt | None = None):
    """Save the model at the end of each `cosine_restarts` cycle and score their ensemble on the test split (`SnapshotEnsemble`)."""
    if pipeline.spec.task.name != "classification":
        raise UserError(f"train.callbacks: snapshot_ensemble averages class probabilities, so it needs task classification, "
                        f"not {pipeline.spec.task.name}")
    images, labels = pipeline.examples("test")
    return SnapshotEnsemble(images, labels, run_dir, ensemble_size)
