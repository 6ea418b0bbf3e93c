"""The execution_modes callback: eager, tf.function and XLA step times of a copy of the model.

Timings are noisy (and on a CPU XLA may well be slower), so no speed relation is asserted:
only that each mode ran, was timed, and left the trained model alone.
"""

import json
import math

import keras
import numpy as np
import pytest
from PIL import Image

from kerascv_suite.registry import CALLBACKS, load_components
from kerascv_suite.spec import build_component, load_spec
from kerascv_suite.spec.schema import component_model
from kerascv_suite.training.execution_modes import FILES, ExecutionModes
from kerascv_suite.training.trainer import compile_model
from tests.conftest import PIPELINES


class _Info:
    """What `build_model` needs to know about the data: LeNet-5 on 32×32 grey digits."""

    input_shape = (32, 32, 1)
    num_classes = 10
    class_names = [str(d) for d in range(10)]
    split_sizes = {"train": 1257, "val": 270, "test": 270}
    mixed_labels = False


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    spec = load_spec(PIPELINES / "software" / "execution_modes.yaml")
    model, _ = compile_model(spec, _Info())
    model.optimizer.build(model.trainable_variables)
    before = [w.copy() for w in model.get_weights()]
    optimizer_before = [np.array(v) for v in model.optimizer.variables]
    modes_before = (model.run_eagerly, model.jit_compile)
    run_dir = tmp_path_factory.mktemp("run")
    callback = build_component(spec.train.callbacks[0].model_copy(update={"steps": 3, "warmup": 1, "batch_size": 8}), run_dir=run_dir)
    assert isinstance(callback, ExecutionModes)
    callback.set_model(model)
    callback.on_train_begin()
    return model, (before, modes_before), optimizer_before, run_dir


def test_the_callback_is_registered_and_run_dir_is_not_a_spec_key():
    load_components()
    assert "execution_modes" in CALLBACKS
    fields = component_model("callbacks", "execution_modes").model_fields
    assert "run_dir" not in fields and {"steps", "warmup", "batch_size"} <= set(fields)


def test_it_writes_the_three_files(measured):
    _, _, _, run_dir = measured
    for name in FILES:
        assert (run_dir / name).stat().st_size > 0, name


def test_json_has_every_mode_timed_and_eager_as_the_reference(measured):
    _, _, _, run_dir = measured
    report = json.loads((run_dir / "execution_modes.json").read_text())
    assert set(report["modes"]) == {"eager", "graph", "xla"}
    for mode, result in report["modes"].items():
        assert "error" not in result, (mode, result)
        for key in ("median_ms", "p90_ms", "first_step_ms", "speedup_vs_eager"):
            assert math.isfinite(result[key]) and result[key] > 0, (mode, key, result[key])
        assert result["p90_ms"] >= result["median_ms"] and result["steps"] == 3
    assert report["modes"]["eager"]["speedup_vs_eager"] == 1.0
    assert report["modes"]["xla"]["xla_compiled"] is True
    assert report["modes"]["eager"]["xla_compiled"] is False and report["modes"]["graph"]["xla_compiled"] is False
    machine = report["machine"]
    assert machine["tensorflow"] and machine["keras"] == keras.__version__ and isinstance(machine["gpu_visible"], bool)
    assert machine["cpu_cores"] >= 1 and report["input_shape"] == [32, 32, 1] and report["batch_size"] == 8


def test_markdown_table_lists_the_modes(measured):
    _, _, _, run_dir = measured
    table = (run_dir / "execution_modes.md").read_text()
    for mode in ("eager", "graph", "xla"):
        assert f"| {mode} |" in table


def test_the_trained_model_is_left_alone(measured):
    model, (before, modes_before), optimizer_before, _ = measured
    after = model.get_weights()
    assert len(after) == len(before)
    assert all(np.array_equal(a, b) for a, b in zip(after, before))
    assert all(np.array_equal(np.array(v), b) for v, b in zip(model.optimizer.variables, optimizer_before))
    assert int(model.optimizer.iterations.numpy()) == 0
    assert (model.run_eagerly, model.jit_compile) == modes_before


def test_the_chart_is_a_real_png(measured):
    _, _, _, run_dir = measured
    with Image.open(run_dir / "execution_modes.png") as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100
        image.verify()
