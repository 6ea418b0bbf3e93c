"""`LearningRateLogger` against the schedule it logs, the learning-rate panel of the training curves, monitored directions."""

import csv

import keras
import numpy as np
import pytest

from kerascv_suite.training.callbacks import LearningRateLogger, early_stopping, monitor_mode, reduce_lr_on_plateau
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
