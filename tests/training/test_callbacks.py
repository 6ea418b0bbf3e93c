"""`LearningRateLogger` against the schedule it logs, the learning-rate panel of the training curves, monitored directions."""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.training.callbacks import (
    DeadReluMonitor,
    DivergenceStop,
    LearningRateLogger,
    UpdateRatioMonitor,
    early_stopping,
    monitor_mode,
    reduce_lr_on_plateau,
)
from kerascv_suite.training.schedules import step_decay
from kerascv_suite.viz import plots

EPOCHS, STEPS = 3, 3  # 12 examples in batches of 4


def fit_with_logger(schedule, csv_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    x = np.random.default_rng(0).normal(size=(4 * STEPS, 2)).astype("float32")
    callbacks = [LearningRateLogger(), keras.callbacks.CSVLogger(str(csv_path))]
    history = model.fit(x, x[:, :1], batch_size=4, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=callbacks)
    return model, history.history


@pytest.mark.parametrize("schedule", [
    lambda: keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5),  # changes every step
    lambda: step_decay(0.1, step_size=4, gamma=0.5, warmup_steps=2),
], ids=["exponential", "step_decay_with_warmup"])
def test_logged_rate_is_the_rate_of_each_epochs_first_step(schedule, tmp_path):
    schedule = schedule()
    model, history = fit_with_logger(schedule, tmp_path / "history.csv")
    expected = [float(schedule(epoch * STEPS)) for epoch in range(EPOCHS)]
    assert int(model.optimizer.iterations.numpy()) == EPOCHS * STEPS
    np.testing.assert_allclose(history["learning_rate"], expected, rtol=1e-6)
    # the epoch's last step (or the rate after it) would be another value
    assert not np.allclose(expected, [float(schedule((epoch + 1) * STEPS - 1)) for epoch in range(EPOCHS)])
    with open(tmp_path / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    np.testing.assert_allclose([float(row["learning_rate"]) for row in rows], expected, rtol=1e-6)


def test_constant_rate_is_logged_too(tmp_path):
    _, history = fit_with_logger(0.03, tmp_path / "history.csv")
    np.testing.assert_allclose(history["learning_rate"], [0.03] * EPOCHS, rtol=1e-6)


# ---------------------------------------------------------------- the curves


@pytest.fixture
def drawn(monkeypatch):
    """plot_curves's figures, kept open for inspection (plt.close is intercepted)."""
    figures, close = [], plots.plt.close
    monkeypatch.setattr(plots.plt, "close", figures.append)
    yield figures
    for figure in figures:
        close(figure)


HISTORY = {"epoch": [0, 1, 2], "loss": [2.0, 1.5, 1.2], "accuracy": [0.3, 0.5, 0.6],
           "val_loss": [2.1, 1.7, 1.4], "val_accuracy": [0.3, 0.4, 0.5]}


def test_curves_have_a_log_scale_learning_rate_panel(drawn, tmp_path):
    plots.plot_curves({**HISTORY, "learning_rate": [0.1, 0.01, 0.001]}, tmp_path / "curves.png", title="run")
    assert (tmp_path / "curves.png").stat().st_size > 0
    (figure,) = drawn
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["loss", "accuracy", "learning rate (log scale)"]
    panel = figure.axes[2]
    assert panel.get_yscale() == "log" and len(panel.lines) == 1  # one rate, no validation curve
    np.testing.assert_allclose(panel.lines[0].get_xdata(), [1, 2, 3])  # epochs count from 1
    np.testing.assert_allclose(panel.lines[0].get_ydata(), [0.1, 0.01, 0.001])
    loss = figure.axes[0]
    assert [line.get_label() for line in loss.lines] == ["train", "val"]
    np.testing.assert_allclose(loss.lines[1].get_ydata(), HISTORY["val_loss"])


def test_curves_without_a_rate_have_no_rate_panel(drawn, tmp_path):
    plots.plot_curves(HISTORY, tmp_path / "curves.png")
    (figure,) = drawn
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy"]


def test_accuracies_are_maximised_and_losses_minimised():
    assert [monitor_mode(m) for m in ("val_accuracy", "top_k_accuracy", "val_loss", "val_kl")] == ["max", "max", "min", "min"]
    assert early_stopping("val_accuracy").mode == "max" and reduce_lr_on_plateau("val_loss").mode == "min"


def test_a_run_checkpoints_and_stops_early_on_validation_accuracy(tmp_path):
    # the library's accuracy is a metric Keras cannot infer a direction for: without a mode this raised
    from kerascv_suite.spec import load_spec
    from kerascv_suite.training.trainer import train
    from tests.conftest import PIPELINES

    spec = load_spec(PIPELINES / "classification" / "softmax.yaml",
                     overrides=["train.monitor=val_accuracy", "train.callbacks=[{name: early_stopping, monitor: val_accuracy}]"])
    result = train(spec, runs_dir=tmp_path, smoke=True)
    assert (result.run_dir / "best.weights.h5").stat().st_size > 0


def _relu_net(dead_units=(1, 4)):
    """Dense(6) → ReLU → Dense(3) with a bias of −100 on `dead_units`: they output 0 for any input in [0, 1]."""
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(6, name="hidden")(inputs)
    x = keras.layers.Activation("relu", name="hidden_act")(hidden)
    x = keras.layers.ReLU(name="relu2")(keras.layers.Dense(4, name="dense2")(x))
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    kernel, bias = model.get_layer("hidden").get_weights()
    bias[list(dead_units)] = -100.0
    model.get_layer("hidden").set_weights([np.abs(kernel), bias])   # the others: positive weights, alive on [0, 1]
    dense2 = model.get_layer("dense2")
    dense2.set_weights([np.abs(dense2.get_weights()[0]), np.array([0.0, 0.0, 0.0, -100.0])])
    return model


def test_dead_relu_counts_the_units_that_are_zero_on_every_image_and_keeps_one_row_per_epoch(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(32, 5)).astype("float32"), rng.integers(0, 3, 32)
    model = _relu_net()
    assert [layer.name for layer in DeadReluMonitor.relu_layers(model)] == ["hidden_act", "relu2"]
    model.compile(keras.optimizers.SGD(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    monitor = DeadReluMonitor(x, tmp_path)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[monitor])
    assert history.history["dead_relu"] == [pytest.approx(3 / 10)] * 2   # 2 of 6 and 1 of 4 units
    with open(tmp_path / "dead_relu.csv") as handle:
        rows = [(int(r["epoch"]), r["layer"], float(r["dead_share"])) for r in csv.DictReader(handle)]
    assert rows == [(e, layer, pytest.approx(share)) for e in (0, 1, 2) for layer, share in (("hidden_act", 2 / 6), ("relu2", 1 / 4))]
    assert (tmp_path / "dead_relu.png").stat().st_size > 5_000
    # a resumed run (a new monitor on the same folder) rewrites epochs it trains again, never duplicates them
    model.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, verbose=0, callbacks=[DeadReluMonitor(x, tmp_path)])
    assert len((tmp_path / "dead_relu.csv").read_text().splitlines()) == 1 + 3 * 2


def test_dead_relu_is_a_spec_callback_given_the_training_images():
    from kerascv_suite.spec import validate_spec

    spec = validate_spec({"name": "t", "model": "lenet5", "train": {"callbacks": [{"name": "dead_relu", "examples": 64}]}})
    assert spec.train.callbacks[0].examples == 64
    with pytest.raises(Exception, match="examples"):
        validate_spec({"name": "t", "model": "lenet5", "train": {"callbacks": [{"name": "dead_relu", "examples": 0}]}})


def _regression(rate):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0])).astype("float32")[:, None]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(rate), "mse")
    return model, x, y


def test_divergence_stop_ends_a_diverging_run_and_leaves_a_converging_one():
    model, x, y = _regression(rate=0.5)   # far above 2/curvature: the loss explodes within a few steps
    stop = DivergenceStop(factor=3)
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[stop])
    epoch, batch, loss = stop.stopped_at
    assert len(history.history["loss"]) == epoch + 1 < 20 and not loss < 3 * stop.start
    model, x, y = _regression(rate=0.01)
    stop = DivergenceStop(factor=3)
    assert len(model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[stop]).history["loss"]) == 5
    assert stop.stopped_at is None


def test_update_ratio_is_the_first_steps_change_over_the_weights(tmp_path):
    model, x, y = _regression(rate=0.01)
    kernel = model.layers[0].kernel
    before = np.asarray(kernel).astype("float64")
    # the first step of plain SGD changes the kernel by −α·g; compute g for the first batch with the same weights
    with tf.GradientTape() as tape:
        loss = keras.losses.mean_squared_error(y[:8], model(x[:8]))
        loss = tf.reduce_mean(loss)
    gradient = tape.gradient(loss, kernel).numpy().astype("float64")
    monitor = UpdateRatioMonitor(tmp_path)
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[monitor])
    expected = np.linalg.norm(0.01 * gradient) / np.linalg.norm(before)
    assert monitor.rows[(1, kernel.path)] == pytest.approx(expected, rel=1e-3)
    assert len(history.history["update_ratio"]) == 2 and set(monitor.rows) == {(e, v.path) for e in (1, 2) for v in
                                                                                 (model.layers[0].kernel, model.layers[1].kernel)}
    assert len((tmp_path / "update_ratio.csv").read_text().splitlines()) == 1 + 4
    assert (tmp_path / "update_ratio.png").stat().st_size > 5_000


# ---------------------------------------------------------------- snapshot ensembles

RNG = np.random.default_rng(1)
X, Y = RNG.normal(size=(16, 4)).astype("float32"), RNG.integers(0, 3, 16)          # 4 steps an epoch in batches of 4
X_TEST, Y_TEST = RNG.normal(size=(30, 4)).astype("float32"), RNG.integers(0, 3, 30)
SNAPSHOT_STEPS = [5, 8, 11, 14]   # a warm-up of 2 steps, then cycles of ⌈12/4⌉ = 3; 16 steps run, the fifth cycle unfinished


def _snapshot_model():
    """A linear softmax classifier under SGD with momentum and 4 cosine cycles of 3 steps after 2 of warm-up."""
    from kerascv_suite.training.schedules import cosine_restarts

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="logits")])
    model.compile(keras.optimizers.SGD(cosine_restarts(0.5, total_steps=12, cycles=4, warmup_steps=2), momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.optimizer.build(model.trainable_variables)   # as the trainer does, so BackupAndRestore restores its state
    return model


def _fit_snapshots(model, callbacks):
    model.fit(X, Y, batch_size=4, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)


class _StepRecorder(keras.callbacks.Callback):
    """The model's weights and the optimizer's variables after every step, by step."""

    def __init__(self):
        super().__init__()
        self.after = {}

    def on_train_batch_end(self, batch, logs=None):
        self.after[int(self.model.optimizer.iterations)] = (self.model.get_weights(),
                                                             [np.array(v) for v in self.model.optimizer.variables])


def _softmax_of(weights, x):
    kernel, bias = weights
    logits = x.astype(np.float64) @ kernel + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _snapshot_files(run_dir):
    return sorted(path.name for path in (run_dir / "snapshots").iterdir())


def test_snapshots_are_taken_at_cycle_ends_averaged_and_the_final_weights_come_back(tmp_path):
    import json

    from kerascv_suite.training.callbacks import SnapshotEnsemble

    model, recorder = _snapshot_model(), _StepRecorder()
    ensemble = SnapshotEnsemble(X_TEST, Y_TEST, tmp_path, ensemble_size=2)
    _fit_snapshots(model, [ensemble, recorder])
    report = json.loads((tmp_path / "snapshot_ensemble.json").read_text())
    assert [(s["cycle"], s["step"]) for s in report["snapshots"]] == list(zip([1, 2, 3, 4], SNAPSHOT_STEPS))
    assert _snapshot_files(tmp_path) == [f"cycle_{k}.weights.h5" for k in (1, 2, 3, 4)]
    # each snapshot's probabilities are those of the weights after its step, and not after the next one (the restart)
    expected = np.array([_softmax_of(recorder.after[step][0], X_TEST) for step in SNAPSHOT_STEPS])
    np.testing.assert_allclose(ensemble.result["member_probabilities"], expected, atol=1e-6)
    assert not np.allclose(expected[0], _softmax_of(recorder.after[SNAPSHOT_STEPS[0] + 1][0], X_TEST), atol=1e-3)
    mean = expected[-2:].mean(axis=0)   # ensemble_size 2: the last two snapshots
    np.testing.assert_allclose(ensemble.result["probabilities"], mean, atol=1e-6)
    assert report["ensemble"] == {"last": 2, "accuracy": pytest.approx(np.mean(mean.argmax(1) == Y_TEST)),
                                  "cross_entropy": pytest.approx(-np.mean(np.log(mean[np.arange(30), Y_TEST])), rel=1e-5)}
    assert [s["accuracy"] for s in report["snapshots"]] == pytest.approx([np.mean(p.argmax(1) == Y_TEST) for p in expected])
    assert [e["last"] for e in report["ensembles"]] == [2, 3, 4]
    assert "| ensemble of the last 4 |" in (tmp_path / "snapshot_ensemble.md").read_text()
    # the model leaves fit with the weights and optimizer state of its 16th step, not of a snapshot
    weights, optimizer_state = recorder.after[16]
    assert int(model.optimizer.iterations) == 16
    for restored, final in zip(model.get_weights() + [np.array(v) for v in model.optimizer.variables], weights + optimizer_state):
        np.testing.assert_array_equal(restored, final)


def test_snapshots_follow_the_schedule_inside_a_loss_scale_optimizer(tmp_path):
    # under train.precision: mixed_float16 Keras wraps the optimizer; the cycles are read from the one inside
    from kerascv_suite.training.callbacks import SnapshotEnsemble

    model = _snapshot_model()
    model.compile(keras.optimizers.LossScaleOptimizer(model.optimizer), model.loss)
    ensemble = SnapshotEnsemble(X_TEST, Y_TEST, tmp_path)
    _fit_snapshots(model, [ensemble])
    assert [s["step"] for s in ensemble.result["snapshots"]] == SNAPSHOT_STEPS


class _KillAfterStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) == self.step:
            raise RuntimeError("killed")


def test_a_resumed_run_keeps_its_snapshots_and_takes_none_twice(tmp_path):
    from kerascv_suite.training.callbacks import SnapshotEnsemble

    def backup():
        return keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))

    with pytest.raises(RuntimeError, match="killed"):   # killed after step 11, the end of cycle 3; the backup is of step 8
        _fit_snapshots(_snapshot_model(), [SnapshotEnsemble(X_TEST, Y_TEST, tmp_path), backup(), _KillAfterStep(11)])
    assert _snapshot_files(tmp_path) == ["cycle_1.weights.h5", "cycle_2.weights.h5", "cycle_3.weights.h5"]
    assert not (tmp_path / "snapshot_ensemble.json").exists()
    resumed = SnapshotEnsemble(X_TEST, Y_TEST, tmp_path)
    # in the trainer's order (spec callbacks first); it trains steps 9–16 again, so cycle 3 is taken again, in place
    _fit_snapshots(_snapshot_model(), [resumed, backup()])
    assert _snapshot_files(tmp_path) == [f"cycle_{k}.weights.h5" for k in (1, 2, 3, 4)]
    assert [s["step"] for s in resumed.result["snapshots"]] == SNAPSHOT_STEPS
    uninterrupted = SnapshotEnsemble(X_TEST, Y_TEST, tmp_path / "uninterrupted")
    _fit_snapshots(_snapshot_model(), [uninterrupted])
    np.testing.assert_allclose(resumed.result["member_probabilities"], uninterrupted.result["member_probabilities"], atol=1e-6)


def test_snapshot_ensemble_needs_a_restart_schedule_and_a_classification_task(tmp_path):
    from types import SimpleNamespace

    from kerascv_suite.spec import validate_spec
    from kerascv_suite.spec.errors import UserError
    from kerascv_suite.training.callbacks import SnapshotEnsemble, snapshot_ensemble

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(UserError, match="cosine_restarts") as error:
        model.fit(X, Y, verbose=0, callbacks=[SnapshotEnsemble(X_TEST, Y_TEST, tmp_path)])
    assert "\n" not in str(error.value) and int(model.optimizer.iterations) == 0
    with pytest.raises(UserError, match="needs task classification, not generative"):
        snapshot_ensemble(SimpleNamespace(spec=SimpleNamespace(task=SimpleNamespace(name="generative"))), tmp_path)
    with pytest.raises(Exception, match="ensemble_size"):
        validate_spec({"name": "t", "model": "lenet5", "train": {"callbacks": [{"name": "snapshot_ensemble", "ensemble_size": 0}]}})


def test_a_run_with_snapshot_ensemble_reports_on_its_test_split_and_evaluates_its_final_model(tmp_path):
    import json

    from kerascv_suite.spec import load_spec
    from kerascv_suite.training.trainer import train
    from tests.conftest import PIPELINES

    # smoke mode: 2 steps, so cycles of 1 step (the rate is α at every step: each cycle is 1 step long)
    spec = load_spec(PIPELINES / "classification" / "softmax.yaml", overrides=[
        "optimizer={name: sgd, learning_rate: {name: cosine_restarts, initial_learning_rate: 0.1, total_steps: 2, cycles: 2}}",
        "train.callbacks=[snapshot_ensemble]"])
    result = train(spec, runs_dir=tmp_path, smoke=True)
    report = json.loads((result.run_dir / "snapshot_ensemble.json").read_text())
    assert [s["step"] for s in report["snapshots"]] == [1, 2]
    assert report["test_examples"] == result.metrics["data"]["split_sizes"]["test"]
    # the last snapshot is the final model, which the trainer evaluated after the callback had restored it
    assert report["snapshots"][-1]["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"], abs=1e-6)
    assert (result.run_dir / "snapshots" / "cycle_2.weights.h5").stat().st_size > 0
