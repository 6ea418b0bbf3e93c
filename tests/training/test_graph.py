"""Static graphs: tracing a spec's train step, counting its ops before and after Grappler, writing it for TensorBoard."""

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import function_pb2, graph_pb2

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.spec import load_spec
from kerascv_suite.training.graph import (
    count_ops,
    graph_report,
    grappler_op_count,
    trace_train_step,
    write_graph,
)
from kerascv_suite.training.trainer import compile_model
from tests.conftest import PIPELINES

CLASSIFICATION = PIPELINES / "classification"
SPECS = ["lenet5", "knn_l2"]  # the default train_step, and a custom one (k-NN memorises instead of descending)


def _events(path):
    return list(tf.compat.v1.train.summary_iterator(str(path)))


def test_count_ops_of_a_small_function_is_its_node_count():
    step = tf.function(lambda x: x * 2.0 + 1.0).get_concrete_function(tf.TensorSpec([3], tf.float32))
    # Placeholder x, Const 2, Mul, Const 1, AddV2, Identity (the output)
    assert count_ops(step.graph.as_graph_def()) == 6


def test_count_ops_includes_the_nodes_of_called_functions():
    inner = tf.function(lambda x: x * 2.0)
    outer = tf.function(lambda x: inner(x) + 1.0).get_concrete_function(tf.TensorSpec([3], tf.float32))
    graph_def = outer.graph.as_graph_def()
    # outer: Placeholder, PartitionedCall, Const, AddV2, Identity; inner's body: Const, Mul, Identity
    assert len(graph_def.node) == 5 and len(graph_def.library.function) == 1
    assert count_ops(graph_def) == 8


def test_count_ops_sums_the_whole_function_library():
    graph_def = graph_pb2.GraphDef()
    graph_def.node.add(name="a", op="Const")
    graph_def.node.add(name="b", op="PartitionedCall")
    for body_size in (3, 1):
        graph_def.library.function.append(function_pb2.FunctionDef(node_def=[{"name": f"n{i}", "op": "Const"} for i in range(body_size)]))
    assert count_ops(graph_def) == 2 + 3 + 1


def test_grappler_folds_constants_of_a_small_function():
    step = tf.function(lambda x: x * (tf.constant(2.0) + tf.constant(3.0))).get_concrete_function(tf.TensorSpec([3], tf.float32))
    before = count_ops(step.graph.as_graph_def())
    assert before == 6  # Placeholder, Const, Const, AddV2, Mul, Identity
    assert grappler_op_count(step) < before  # 2 + 3 is folded into one constant


@pytest.fixture(scope="module", params=SPECS)
def traced(request):
    spec = load_spec(CLASSIFICATION / f"{request.param}.yaml")
    pipeline = DataPipeline(spec, smoke=True)
    model, _ = compile_model(spec, pipeline.info)
    images, labels = next(iter(pipeline.dataset("train")))
    weights = [np.array(w) for w in model.weights]
    step = trace_train_step(model, images, labels)
    return request.param, pipeline, model, images, labels, weights, step


def test_trace_follows_the_batch_and_the_models_own_train_step(traced):
    name, _, model, images, labels, weights_before, step = traced
    image_spec, label_spec = step.structured_input_signature[0][0]
    assert image_spec.shape == images.shape and image_spec.dtype == images.dtype
    assert label_spec.shape == labels.shape and label_spec.dtype == labels.dtype
    ops = {node.op for node in step.graph.as_graph_def().node}
    if name == "lenet5":
        assert "Conv2DBackpropFilter" in ops  # backprop through the convolutions
    else:
        assert "Conv2DBackpropFilter" not in ops and "TopKV2" in ops  # k-NN's step: vote among nearest, memorise
        assert "memorised" in step.structured_outputs
    # tracing runs nothing: the weights are as they were
    for before, after in zip(weights_before, model.weights):
        np.testing.assert_array_equal(before, np.array(after))


def test_model_still_trains_with_fit_after_tracing(traced):
    name, pipeline, model, images, _, weights_before, _ = traced
    history = model.fit(pipeline.dataset("train"), epochs=1, steps_per_epoch=1, shuffle=False, verbose=0).history
    assert math.isfinite(history["loss"][0])
    if name == "lenet5":
        assert any(not np.array_equal(b, np.array(a)) for b, a in zip(weights_before, model.trainable_weights))
    else:
        assert history["memorised"][0] == images.shape[0]


def test_write_graph_writes_a_graph_event(traced, tmp_path):
    step = traced[-1]
    path = write_graph(step, tmp_path / "logs")
    assert path.is_file() and path.parent == tmp_path / "logs" and path.name.startswith("events.out.tfevents.")
    graphs = [event.graph_def for event in _events(path) if event.HasField("graph_def")]
    assert len(graphs) == 1
    written, traced_graph = graph_pb2.GraphDef.FromString(graphs[0]), step.graph.as_graph_def()
    # the same nodes (TensorBoard's copy also records each node's output shapes)
    assert [(n.name, n.op, list(n.input)) for n in written.node] == [(n.name, n.op, list(n.input)) for n in traced_graph.node]
    assert count_ops(written) == count_ops(traced_graph)


@pytest.mark.parametrize("name", SPECS)
def test_graph_report(name, tmp_path):
    report = graph_report(load_spec(CLASSIFICATION / f"{name}.yaml"), tmp_path / name)
    assert set(report) >= {"ops", "ops_after_grappler", "logdir", "batch_shape"}
    ops, after = report["ops"], report["ops_after_grappler"]
    assert isinstance(ops, int) and ops > 0
    assert isinstance(after, int) and 0 < after
    if name == "lenet5":
        assert report["batch_shape"] == (32, 32, 32, 1)
        assert after < ops  # Grappler really ran: constants folded, redundant casts and identities gone
    else:
        assert report["batch_shape"] == (128, 8, 8, 1)
    events = [event for event in _events(report["events_file"]) if event.HasField("graph_def")]
    assert len(events) == 1 and str(tmp_path / name) == report["logdir"]
