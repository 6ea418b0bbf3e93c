"""Train and test steps trace once per run; a retrace is counted and explained."""

import warnings

import keras
import numpy as np
import pytest

from kerascv_suite.spec import load_spec
from kerascv_suite.training.tracing import TraceMonitor
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES


@pytest.mark.parametrize("pipeline, overrides", [
    ("softmax", ["train.epochs=2"]),                      # the default train_step; val/test splits end in a partial batch
    ("knn_l2", ["train.epochs=2", "data.batch_size=100"]),  # a custom train_step; even training ends in a partial batch
])
def test_a_two_epoch_run_traces_each_step_once(pipeline, overrides, tmp_path):
    spec = load_spec(PIPELINES / "classification" / f"{pipeline}.yaml", overrides=overrides)
    sizes = {"val": 270, "test": 270}
    assert all(size % spec.data.batch_size for size in sizes.values())  # partial last batches really occur
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a retrace warning would fail the test
        warnings.filterwarnings("ignore", message=".*shuffle.*")
        result = train(spec, runs_dir=tmp_path)
    assert result.metrics["train"]["traces"] == {"train": 1, "test": 1}
    assert result.metrics["train"]["epochs"] == 2


def test_a_retrace_is_counted_and_explained():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    monitor = TraceMonitor(model)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.zeros((48, 4), "float32"), np.zeros(48, "int64")
    with pytest.warns(UserWarning, match=r"retrace: train_step was traced 2 times: its input changed from "
                                         r"\[\(\(32, 4\), 'float32'\), \(\(32,\), 'int64'\)\] to "
                                         r"\[\(\(None, 4\), 'float32'\), \(\(None,\), 'int64'\)\]"):  # reduce_retracing relaxes
        model.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0, callbacks=[monitor])
        model.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.counts()["train"] == 2
