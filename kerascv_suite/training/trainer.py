"""The trainer: spec → compiled Keras model → `model.fit` → evaluation → run folder.

Everything trains through `model.fit` — models with their own `train_step` (k-NN now;
GANs and VAEs later) included — inside a `tf.distribute` strategy scope, with the default
callbacks every run needs: the learning rate in the logs, CSV history, TensorBoard, NaN guard, best checkpoint, and
`BackupAndRestore`, which makes a killed run resume from its last finished epoch.

Example::

    spec = load_spec("pipelines/classification/lenet5.yaml")
    result = train(spec, runs_dir="runs")
    result.metrics["test"]["accuracy"]
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import keras
import tensorflow as tf

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.models import build_model, dtype_policy
from kerascv_suite.spec import build_component, dump_spec, load_resolved, spec_hash
from kerascv_suite.spec.errors import UserError
from kerascv_suite.core import runs
from kerascv_suite.training.callbacks import LearningRateLogger, monitor_mode
from kerascv_suite.training.distribution import (
    make_strategy,
    multi_worker_fit_support,
    worker_index,
)
from kerascv_suite.training.adversarial import AdversarialModel, check_adversarial
from kerascv_suite.training.lbfgs import LBFGS, FullBatchLBFGSModel, check_full_batch
from kerascv_suite.tasks.losses import CrossEntropy, expected_initial_loss
from kerascv_suite.training.tracing import TraceMonitor
from kerascv_suite.viz.plots import plot_curves, read_history


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict


def compile_model(spec, info, strategy=None, jit_compile=None):
    """Build and compile the spec's model in the strategy's scope; returns (model, task)."""
    task = build_component(spec.task, num_classes=info.num_classes, class_names=info.class_names)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = build_model(spec, info)
        optimizer = build_component(spec.optimizer)
        if spec.train.adversarial is not None:
            problem = check_adversarial(spec, model, optimizer)
            if problem:
                raise UserError(f"train.adversarial: {problem}")
            with dtype_policy(spec.train.precision):  # mixed_float16: compile then wraps the optimizer for loss scaling
                model = AdversarialModel(model.input, model.output, name=model.name, seed=spec.train.seed,
                                         **spec.train.adversarial.model_dump())
        if isinstance(optimizer, LBFGS):
            problem = check_full_batch(spec.data.batch_size, spec.data.drop_remainder, info.split_sizes["train"])
            if problem:
                raise UserError(f"optimizer lbfgs: {problem}")
            model = FullBatchLBFGSModel(model.inputs, model.outputs, name=model.name)
        elif spec.data.drop_remainder and info.split_sizes["train"] < spec.data.batch_size:
            raise UserError(f"data.batch_size: {spec.data.batch_size} is more than the {info.split_sizes['train']} training "
                            f"examples, so with drop_remainder no training batch would be formed and nothing would train; "
                            f"lower batch_size or set drop_remainder: false")
        loss = build_component(spec.loss) if spec.loss is not None else task.loss()
        if info.mixed_labels and not isinstance(loss, CrossEntropy):
            raise UserError(f"loss: mixup and cutmix train on mixed labels, which only cross_entropy takes, not {spec.loss.name}")
        metrics = task.metrics()
        if isinstance(metrics, dict):  # one list per named output
            if spec.train.metrics or spec.loss is not None:
                raise UserError(f"task {spec.task.name}: its model has several named outputs, each with the task's own loss "
                                f"and metrics; remove the spec's loss and train.metrics")
        else:
            metrics = metrics + [build_component(m) for m in spec.train.metrics]
        jit_compile = spec.train.jit_compile if jit_compile is None else jit_compile
        if jit_compile is True:
            _refuse_layers_without_xla(model)
        model.compile(
            optimizer=optimizer,
            loss=loss,
            loss_weights=task.loss_weights(),
            metrics=metrics,
            jit_compile=jit_compile,
        )
        # Create the optimizer's slots now, not lazily inside the first traced train step: variables created
        # there make tf.function trace the whole step a second time (14 s of 57 s for a DenseNet-121 smoke
        # run here), and BackupAndRestore silently skips the state of an optimizer not built when it restores.
        # (A model with several optimizers, a GAN, builds each on its own variables in its compile.)
        if model.trainable_variables and not isinstance(optimizer, LBFGS) and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    return model, task


def _refuse_layers_without_xla(model: keras.Model) -> None:
    """A UserError naming the layers with no XLA kernel, for `jit_compile: true`.

    Keras would warn and train without XLA; a spec that asks for XLA gets a one-line refusal
    instead. Under `auto` such a model trains without XLA, as Keras decides.
    """
    unsupported = [f"{layer.name} ({type(layer).__name__})" for layer in _sublayers(model)
                   if layer is not model and not getattr(layer, "supports_jit", True)]
    if unsupported:
        raise UserError(f"train.jit_compile: true, but {', '.join(unsupported)} has no XLA kernel; "
                        f"use jit_compile: auto (trains without XLA) or false, or another layer")


def _callbacks(run_dir: Path, spec, model, task, pipeline) -> list:
    return [
        LearningRateLogger(),
        # before the loggers: a spec callback may add to the epoch's logs (dead_relu, update_ratio)
        *[build_component(c, run_dir=run_dir, pipeline=pipeline) for c in spec.train.callbacks],
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.weights.h5"), monitor=spec.train.monitor, mode=monitor_mode(spec.train.monitor),
            save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False, profile_batch=0),
        keras.callbacks.TerminateOnNaN(),
        *(model.fit_callbacks() if hasattr(model, "fit_callbacks") else []),
        *(task.callbacks(model, run_dir) if hasattr(task, "callbacks") else []),
    ]


def _verbose() -> int:
    return 1 if sys.stdout.isatty() else 2


def train(spec, runs_dir="runs", run_dir=None, smoke=False, force=False, new=False, xla=False) -> RunResult:
    """Train a spec end to end and write its run folder; resume the spec's unfinished run if there is one.

    Args:
        runs_dir: where `runs/<name>/<timestamp>/` folders go.
        run_dir: an explicit run folder (multi-worker runs name the same one on every worker).
        smoke: a few batches of each split and one epoch, end to end (for CI).
        force: resume even if the resolved spec changed since the run started.
        new: start a new run folder even if an unfinished one exists.
        xla: force `jit_compile=True`.
    """
    keras.utils.set_random_seed(spec.train.seed)
    strategy = make_strategy(spec.train.distribution)
    worker = worker_index(strategy)
    if run_dir is None:
        if spec.train.distribution == "multi_worker":
            raise UserError("train.distribution: multi_worker runs need --run-dir, the same folder on every worker")
        resumable = None if new else runs.unfinished_run(runs_dir, spec.name)
        run_dir = resumable or runs.new_run_dir(runs_dir, spec.name)
    run_dir = Path(run_dir)
    out_dir = run_dir if worker == 0 else run_dir / "workers" / str(worker)
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "spec.yaml").exists():
        if (out_dir / runs.FINISHED_MARKER).exists():
            raise UserError(f"{out_dir}: this run has finished; results are never overwritten (omit --run-dir for a new run)")
        runs.check_resumable(out_dir, dump_spec(spec), force)
        print(f"resuming {out_dir}")
    else:
        runs.start(out_dir, dump_spec(spec), spec_hash(spec))

    pipeline = DataPipeline(spec, smoke=smoke)
    model, task = compile_model(spec, pipeline.info, strategy, jit_compile=True if xla else None)
    started = time.time()
    traces = TraceMonitor(model)
    with multi_worker_fit_support(model, strategy):
        model.fit(
            pipeline.dataset("train"),
            validation_data=pipeline.dataset("val") if pipeline.info.split_sizes["val"] else None,
            epochs=1 if smoke else spec.train.epochs,
            steps_per_epoch=spec.train.steps_per_epoch,
            callbacks=[*_callbacks(out_dir, spec, model, task, pipeline), traces],
            shuffle=False,  # the pipeline shuffles; Keras cannot shuffle a tf.data.Dataset
            verbose=_verbose(),
        )
        seconds = time.time() - started
        metrics = _evaluate(model, task, pipeline, out_dir)
    metrics["train"] = {
        "seconds": round(seconds, 2),
        "jit_compile": bool(model.jit_compile),
        "distribution": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "precision": spec.train.precision,
        "traces": traces.counts(),
        "smoke": smoke,
    }
    history = read_history(out_dir / "history.csv")
    metrics["train"]["epochs"] = len(history["epoch"])
    plot_curves(history, out_dir / "curves.png", title=spec.name)
    if spec.export.keras:
        model.save(out_dir / "model.keras")
    if worker == 0 and (spec.export.savedmodel or spec.export.tflite is not None):
        from kerascv_suite.export import export_run

        metrics["export"] = export_run(model, pipeline, task, spec, out_dir, smoke=smoke)
    runs.write_atomic(out_dir / runs.FINISHED_MARKER, json.dumps(metrics, indent=2))
    return RunResult(out_dir, metrics)


def _evaluate(model, task, pipeline: DataPipeline, out_dir: Path) -> dict:
    """Test-split metrics, the task's report, and what the data and model add to metrics.json."""
    test = model.evaluate(pipeline.dataset("test"), return_dict=True, verbose=0)
    metrics = {"test": {k: float(v) for k, v in test.items()}}
    if isinstance(model, AdversarialModel):  # robustness beside accuracy: the test split attacked as training attacked
        metrics["adversarial"] = model.evaluate_attack(pipeline.dataset("test"))
        metrics["test"]["adversarial_accuracy"] = metrics["adversarial"]["adversarial_accuracy"]
    metrics.update(task.report(model, pipeline.feature_examples("test"), pipeline.info.class_names, out_dir))
    metrics["data"] = {"split_sizes": pipeline.info.split_sizes, "skipped_files": pipeline.info.skipped}
    if hasattr(model, "report"):
        metrics["model"] = model.report()
    return metrics


def load_run(run_dir: str | Path):
    """A finished run's resolved spec, its data pipeline, its saved model and its task."""
    run_dir = Path(run_dir)
    if not (run_dir / "spec.yaml").is_file():
        raise UserError(f"{run_dir}: not a finished run folder with a saved model (no spec.yaml)")
    model = runs.load_saved_model(run_dir)
    spec = load_resolved((run_dir / "spec.yaml").read_text(), str(run_dir / "spec.yaml"))
    pipeline = DataPipeline(spec)
    task = build_component(spec.task, num_classes=pipeline.info.num_classes, class_names=pipeline.info.class_names)
    return spec, pipeline, model, task


def evaluate_run(run_dir: str | Path) -> dict:
    """Re-evaluate a finished run's saved model on its test split (`kcv eval RUN_DIR`)."""
    _, pipeline, model, _ = load_run(run_dir)
    result = model.evaluate(pipeline.dataset("test"), return_dict=True, verbose=0)
    return {k: float(v) for k, v in result.items()}


def _sublayers(layer):
    """`layer` and every layer inside it (nested models and blocks), each once."""
    seen, stack = set(), [layer]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(getattr(current, "layers", []))


def switch_off_regularisation(model: keras.Model) -> list[str]:
    """Turn off, in a built and compiled model, every regulariser the notes' sanity checks run without.

    The initial-loss check and the overfit check are run "with regularisation off" (CS231n's
    notes): an L2 penalty adds to the initial loss, and dropout, stochastic depth, DropConnect
    and weight decay keep a network from memorising a tiny set. This removes the penalties of
    weights and activities, sets every dropout-like rate to 0 and removes the optimizer's
    weight decay, before anything is traced. Returns what it turned off, e.g.
    ``["L2 penalty on 2 weights", "dropout in 1 layer"]`` ([] when there was nothing).

    Example::

        model, _ = compile_model(spec, pipeline.info)
        print("regularisation off:", ", ".join(switch_off_regularisation(model)) or "none in this model")
    """
    from kerascv_suite.layers import DropConnectDense, DropPath

    penalties, activities, dropouts = 0, 0, 0
    dropout_kinds = (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout, DropPath, DropConnectDense)
    for layer in _sublayers(model):
        for variable in layer.weights:
            if getattr(variable, "regularizer", None) is not None:
                variable.regularizer = None
                penalties += 1
        if getattr(layer, "activity_regularizer", None) is not None:
            layer.activity_regularizer = None
            activities += 1
        if isinstance(layer, dropout_kinds) and layer.rate > 0:
            layer.rate = 0.0
            dropouts += 1
    off = []
    for count, what in ((penalties, "L1/L2 penalty on {} weight"), (activities, "activity penalty in {} layer"),
                        (dropouts, "dropout in {} layer")):
        if count:
            off.append(what.format(count) + ("s" if count > 1 else ""))
    optimizer = getattr(model, "optimizer", None)
    if getattr(optimizer, "weight_decay", None):
        optimizer.weight_decay = None
        off.append("weight decay")
    return off


class InitialLoss(NamedTuple):
    """What `check_init` measured (see there)."""

    measured: float                    # with regularisation off
    expected: float | None             # the value small weights give, if the loss has one
    formula: str                       # how `expected` follows from the task ("log(10)"), or why there is none
    off: list[str]                     # what `switch_off_regularisation` turned off
    with_penalties: float | None       # with the spec's L1/L2 penalties on; None without any


def check_init(spec) -> InitialLoss:
    """Loss of the untrained model on training batches with regularisation off, and the loss expected from small weights.

    For softmax cross-entropy the expected value is log(C): with near-zero scores every class
    gets probability 1/C; an L1/L2 penalty would add to it, so it is switched off
    (`switch_off_regularisation`). The notes' second sanity check comes with it: the same
    batches with the penalties on must give a *higher* loss (`with_penalties`), or the
    regularisation is not reaching the loss.
    """
    keras.utils.set_random_seed(spec.train.seed)
    pipeline = DataPipeline(spec)
    model, _ = compile_model(spec, pipeline.info)
    batches = pipeline.dataset("train", training=False).take(8)
    penalised = bool(model.losses)
    with_penalties = model.evaluate(batches, return_dict=True, verbose=0)["loss"] if penalised else None
    off = switch_off_regularisation(model)
    model.test_function = None  # the traced evaluation holds the penalties: trace it again without them
    measured = model.evaluate(batches, return_dict=True, verbose=0)["loss"]
    expected = expected_initial_loss(model.loss, pipeline.info.num_classes)
    return InitialLoss(float(measured), *(expected or (None, "no reference value for this loss")), off,
                       None if with_penalties is None else float(with_penalties))


class _StopAtPerfect(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if logs and logs.get("accuracy", 0.0) >= 1.0:
            self.model.stop_training = True


def overfit(spec, n: int, max_epochs: int = 300) -> tuple[bool, int, float, list[str]]:
    """Train on the first `n` training examples without augmentation or regularisation until 100% training accuracy.

    The syllabus's sanity check: a model and loss that are wired correctly memorise a tiny
    set. Returns (reached, epochs run, final training accuracy, what regularisation was switched off).
    """
    keras.utils.set_random_seed(spec.train.seed)
    data = spec.data.model_copy(update={"batch_size": min(n, spec.data.batch_size), "augment": [], "drop_remainder": False})
    small = spec.model_copy(update={"data": data})
    pipeline = DataPipeline(small)
    pipeline.indices["train"] = pipeline.indices["train"][:n]
    model, _ = compile_model(small, pipeline.info)
    off = switch_off_regularisation(model)
    history = model.fit(pipeline.dataset("train"), epochs=max_epochs, callbacks=[_StopAtPerfect()], shuffle=False, verbose=0)
    accuracy = history.history["accuracy"][-1]
    return accuracy >= 1.0, len(history.history["accuracy"]), float(accuracy), off


__all__ = ["RunResult", "train", "compile_model", "load_run", "evaluate_run", "check_init", "overfit",
           "switch_off_regularisation"]
