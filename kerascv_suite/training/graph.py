"""Static graphs: trace a model's training step, count its ops before and after Grappler, show it in TensorBoard.

`model.fit` does not run a model's Python code step by step: it wraps the model's own
`train_step` (the default one, or a custom one such as k-NN's) in a `tf.function`, traces it
once per input signature into a dataflow graph, and from then on runs that graph. Before it
runs, TensorFlow's graph optimiser, Grappler, rewrites it (constant folding, removing
redundant casts and identities, arithmetic simplification, ...). This module makes those
steps visible for one spec: it traces the same step `fit` would trace for a real training
batch, counts the graph's ops as traced and as Grappler leaves them, and writes the graph
for TensorBoard's graph plugin.

Example::

    spec = load_spec("pipelines/classification/lenet5.yaml")
    report = graph_report(spec, "graphs/lenet5")
    report["ops"], report["ops_after_grappler"]     # e.g. 575, 425
    # tensorboard --logdir graphs/lenet5            → the Graphs tab shows the train step

or piece by piece::

    step = trace_train_step(model, images, labels)  # a ConcreteFunction; the model is left ready for fit
    count_ops(step.graph.as_graph_def()), grappler_op_count(step)
    write_graph(step, "graphs/lenet5")
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.training.trainer import compile_model

__all__ = ["trace_train_step", "count_ops", "grappler_op_count", "write_graph", "graph_report"]


def _build_state(model: keras.Model, images, labels) -> None:
    """Create every variable the train step touches, eagerly, before the step is traced.

    `fit` without a distribution strategy lets these variables (the compiled loss's and
    metrics' state, the optimizer's slots) be created while its own `tf.function` is first
    traced. Creating them here instead keeps them owned by the model rather than by a
    throw-away function, keeps the traced graph to the step itself, and leaves the model
    exactly as ready for a later `fit` as before. The eager forward pass updates no state
    except the metrics, which are reset afterwards.
    """
    if model.optimizer is None:
        raise ValueError("trace_train_step: compile the model first (it has no optimizer)")
    predictions = model(images, training=False)
    model.compute_loss(x=images, y=labels, y_pred=predictions)  # builds the compiled loss
    model.compute_metrics(images, labels, predictions)  # builds the compiled metrics
    model.reset_metrics()
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def trace_train_step(model: keras.Model, images, labels) -> tf.types.experimental.ConcreteFunction:
    """The model's own `train_step`, traced into a graph for the shapes and dtypes of one batch.

    The step is wrapped the way `fit` wraps it (a `tf.function`, autograph off), so a custom
    `train_step` is traced as it would be in training. Tracing runs nothing: the returned
    concrete function has not been called, and the model's weights are unchanged. The model
    must be compiled; its loss, metric and optimizer state is built first (see `_build_state`),
    so the model can still be trained with `fit` afterwards.
    """
    images, labels = tf.convert_to_tensor(images), tf.convert_to_tensor(labels)
    _build_state(model, images, labels)
    step = tf.function(model.train_step, autograph=False)
    return step.get_concrete_function((tf.TensorSpec(images.shape, images.dtype), tf.TensorSpec(labels.shape, labels.dtype)))


def count_ops(graph_def) -> int:
    """Number of nodes in `graph_def`, including the nodes of every function in its library.

    A GraphDef keeps the bodies of called functions (a `tf.function` called from another, the
    branches of `tf.cond`, the body of `tf.while_loop`) out of its node list, in
    `graph_def.library`; the library is flat (nested functions are listed there too), so
    summing over it counts every op once.
    """
    return len(graph_def.node) + sum(len(function.node_def) for function in graph_def.library.function)


def _grappler_optimize(concrete_function) -> tf.compat.v1.GraphDef:
    """Run Grappler, with the default rewriter config, on the concrete function's graph.

    TensorFlow has no public API that returns the graph Grappler produces: the runtime
    optimises a function's graph internally just before running it and keeps the result.
    `tensorflow.python.grappler.tf_optimizer.OptimizeGraph` (private, in `core/compat.py`; the entry point
    TensorFlow's own Grappler tests use) runs the same meta-optimizer on a MetaGraphDef. The
    function's outputs and its control outputs (the variable updates) go into the "train_op"
    collection, which Grappler treats as the fetches it must preserve.
    """
    from tensorflow.core.protobuf import config_pb2

    from kerascv_suite.core import compat

    graph = concrete_function.graph
    meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph.as_graph_def(), graph=graph)
    fetches = meta_graph.collection_def["train_op"].node_list.value
    fetches.extend(tensor.name for tensor in concrete_function.outputs)
    fetches.extend(op.name for op in graph.control_outputs)
    return compat.grappler_optimize(config_pb2.ConfigProto(), meta_graph)


def grappler_op_count(concrete_function) -> int:
    """`count_ops` of the concrete function's graph after Grappler has optimised it."""
    return count_ops(_grappler_optimize(concrete_function))


def write_graph(concrete_function, logdir) -> Path:
    """Write the traced graph as an event file for TensorBoard's graph plugin; returns the file's path."""
    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    before = set(logdir.glob("events.out.tfevents.*"))
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        tf.summary.graph(concrete_function.graph)
    writer.close()
    written = sorted(set(logdir.glob("events.out.tfevents.*")) - before, key=lambda path: path.stat().st_mtime)
    if not written:
        raise RuntimeError(f"{logdir}: TensorFlow wrote no event file")
    return written[-1]


def graph_report(spec, logdir) -> dict:
    """Trace a spec's train step on one smoke-sized training batch, count its ops and write the graph.

    Returns {"ops": traced op count, "ops_after_grappler": op count after Grappler,
    "logdir": where the graph was written, "events_file": the event file, "batch_shape": the
    images' shape}.
    """
    keras.utils.set_random_seed(spec.train.seed)
    pipeline = DataPipeline(spec, smoke=True)
    model, _ = compile_model(spec, pipeline.info)
    images, labels = next(iter(pipeline.dataset("train")))
    step = trace_train_step(model, images, labels)
    events = write_graph(step, logdir)
    return {
        "ops": count_ops(step.graph.as_graph_def()),
        "ops_after_grappler": grappler_op_count(step),
        "logdir": str(logdir),
        "events_file": str(events),
        "batch_shape": tuple(images.shape.as_list()),
    }
