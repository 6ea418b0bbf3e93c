"""Every private Keras / TensorFlow API the library relies on, in one place, checked against the versions it was verified on.

Public APIs cover almost everything; these few places have none, and each says why:

- `install_keras_registration_hook`, `make_custom_objects_lazy`: plain `keras.saving.load_model`
  finds the library's classes (`core/keras_loading.py`) by replacing Keras's private
  ``keras.src.saving.object_registration.GLOBAL_CUSTOM_OBJECTS`` dict. No public hook exists:
  `keras.saving.custom_object_scope` only works around a call the user makes.
- `producer`, `inbound_nodes`: walking a functional model's graph (receptive fields, backbone
  endpoints, GoogLeNet's auxiliary heads) needs the node that produced a tensor; Keras 3 keeps it
  in ``KerasTensor._keras_history`` and ``Operation._inbound_nodes`` and offers nothing public.
- `disable_tflite_per_channel`: TFLite's per-tensor weight scales are only reachable through the
  converter's ``_experimental_disable_per_channel`` attribute.
- `grappler_optimize`: the graph Grappler produces (``tensorflow.python.grappler.tf_optimizer``,
  the entry TensorFlow's own Grappler tests use) — the runtime keeps its result internal.
- `forgetting_custom_gradients`: TensorFlow's `tf.custom_gradient`, traced in a graph, registers its
  gradient under a fresh name in the global ``ops._gradient_registry`` and never removes it, and
  every Keras train step traces one (the optimizer's all-reduce of the gradients, even under the
  default strategy). The entry's closure holds the whole traced step, so a process that trains
  many models (`kcv tune`, the test suite) keeps every train-step graph it ever traced; the
  registry has no public way to drop an entry.
- `multi_worker_reduction`: Keras 3.15's `fit` under `MultiWorkerMirroredStrategy` (see
  `training/distribution.py`) needs a patched ``reduce_per_replica`` of Keras's TensorFlow
  trainer, the strategy's ``_num_workers`` and the model's ``_distribute_strategy``.

Version guard: `VERIFIED` names the Keras and TensorFlow releases these were checked on, and
`check()` probes every one of them on the installed versions, returning one line per private
API that is gone. `tests/core/test_compat.py` asserts the list is empty and the versions are
the verified ones, so an upgrade fails one test that names what to re-check, instead of a far-off
`AttributeError`. An accessor whose private API is gone raises `CompatError` in one line.

This module imports nothing at import time (`import kerascv_suite` installs the hook).

Example::

    from kerascv_suite.core import compat
    compat.check()          # [] on Keras 3.15 / TensorFlow 2.21
"""

from __future__ import annotations

import contextlib
import sys

VERIFIED = {"keras": "3.15", "tensorflow": "2.21"}
KERAS_REGISTRATION_MODULE = "keras.src.saving.object_registration"


class CompatError(RuntimeError):
    """A private Keras/TensorFlow API this library relies on is not in the installed version."""


def _missing(what: str, package: str) -> CompatError:
    import importlib.metadata

    installed = importlib.metadata.version(package)
    return CompatError(f"kerascv_suite relies on {what}, verified on {package} {VERIFIED[package]}; "
                       f"{package} {installed} does not have it (see kerascv_suite/core/compat.py)")


# --- loading .keras files with plain Keras -----------------------------------------------------

def make_custom_objects_lazy(registration) -> None:
    """Replace Keras's global custom-object dict (in the object_registration module given) by a `LazyCustomObjects`."""
    from kerascv_suite.core.keras_loading import LazyCustomObjects

    objects = getattr(registration, "GLOBAL_CUSTOM_OBJECTS", None)
    if type(objects) is dict:  # anything else is either done already or a Keras this was not written for
        registration.GLOBAL_CUSTOM_OBJECTS = LazyCustomObjects(objects)


class _KerasRegistrationLoader:
    """Runs Keras's object_registration module with its own loader, then makes its custom-object dict lazy."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        make_custom_objects_lazy(module)

    def __getattr__(self, name):  # get_source, get_filename, ...: the wrapped loader's
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)


class _KerasRegistrationFinder:
    """A one-shot meta-path finder that gives Keras's object_registration module the loader above."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != KERAS_REGISTRATION_MODULE:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _KerasRegistrationLoader(spec.loader)
                return spec
        return None


def install_keras_registration_hook() -> None:
    """Make Keras's custom-object lookup lazy now (Keras imported) or the moment Keras imports its registry."""
    if KERAS_REGISTRATION_MODULE in sys.modules:
        make_custom_objects_lazy(sys.modules[KERAS_REGISTRATION_MODULE])
    elif not any(isinstance(finder, _KerasRegistrationFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasRegistrationFinder())


# --- walking functional graphs ------------------------------------------------------------------

def producer(tensor):
    """(operation, node index) that produced a functional-model tensor; None for a tensor no layer made."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else (history.operation, history.node_index)


def inbound_nodes(operation) -> list:
    """The call nodes of a Keras layer or model (each has `input_tensors` and `output_tensors`)."""
    if not hasattr(operation, "_inbound_nodes"):
        raise _missing("Operation._inbound_nodes (a layer's call nodes)", "keras")
    return operation._inbound_nodes


def input_tensors(tensor) -> list:
    """The tensors the layer call that produced `tensor` read; [] for a model input."""
    made = producer(tensor)
    if made is None:
        return []
    operation, index = made
    return list(inbound_nodes(operation)[index].input_tensors)


# --- TensorFlow ---------------------------------------------------------------------------------

def disable_tflite_per_channel(converter, disable: bool) -> None:
    """Per-tensor instead of per-channel weight scales in a quantized TFLite file."""
    if not hasattr(converter, "_experimental_disable_per_channel"):
        raise _missing("TFLiteConverter._experimental_disable_per_channel", "tensorflow")
    converter._experimental_disable_per_channel = disable


def grappler_optimize(config, meta_graph):
    """Grappler's meta-optimizer run on a MetaGraphDef: the optimised GraphDef."""
    try:
        from tensorflow.python.grappler import tf_optimizer
    except ImportError as error:
        raise _missing("tensorflow.python.grappler.tf_optimizer", "tensorflow") from error
    return tf_optimizer.OptimizeGraph(config, meta_graph, verbose=False)


def num_workers(strategy) -> int:
    """How many workers a `MultiWorkerMirroredStrategy` spans."""
    extended = strategy.extended
    if not hasattr(extended, "_num_workers"):
        raise _missing("CollectiveAllReduceExtended._num_workers", "tensorflow")
    return extended._num_workers


@contextlib.contextmanager
def multi_worker_reduction(model, reduce):
    """Inside: the model builds in its traced train function, and Keras reduces per-replica values with `reduce`.

    `reduce(values, strategy, reduction, original)` decides; `original` is Keras's own reduction.
    """
    try:
        from keras.src.backend.tensorflow import trainer as keras_tf_trainer
    except ImportError as error:
        raise _missing("keras.src.backend.tensorflow.trainer", "keras") from error
    if not hasattr(keras_tf_trainer, "reduce_per_replica"):
        raise _missing("keras.src.backend.tensorflow.trainer.reduce_per_replica", "keras")
    original = keras_tf_trainer.reduce_per_replica
    model._distribute_strategy = None
    keras_tf_trainer.reduce_per_replica = lambda values, strategy, reduction: reduce(values, strategy, reduction, original)
    try:
        yield
    finally:
        keras_tf_trainer.reduce_per_replica = original


def is_collective_multi_worker(strategy) -> bool:
    """Keras's own test for a collective all-reduce strategy over several workers."""
    from keras.src.backend.tensorflow import trainer as keras_tf_trainer

    if not hasattr(keras_tf_trainer, "_collective_all_reduce_multi_worker"):
        raise _missing("keras.src.backend.tensorflow.trainer._collective_all_reduce_multi_worker", "keras")
    return keras_tf_trainer._collective_all_reduce_multi_worker(strategy)


# --- memory of processes that train many models -------------------------------------------------

CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry() -> dict:
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):
        raise _missing("tensorflow.python.framework.ops._gradient_registry._registry", "tensorflow")
    return registry


@contextlib.contextmanager
def forgetting_custom_gradients():
    """Inside: models train as usual; on leaving, the custom gradients traced inside are dropped from TF's registry.

    An entry is read only while a graph holding its op is differentiated, which for a train step
    is while it is traced; so once the models trained inside are done with, dropping the entries
    lets their traced graphs be freed (measured: about 17 MB per small model's train step, 440 MB
    over 26 of `test_every_model`'s steps). Entries made before entering are kept. Do not
    differentiate, after leaving, a function that was traced inside.

    Example::

        with compat.forgetting_custom_gradients():
            model.fit(...)     # one search trial; the next trial starts without its graphs
    """
    registry = _gradient_registry()
    before = set(registry)
    try:
        yield
    finally:
        for name in [name for name in registry if name not in before and name.startswith(CUSTOM_GRADIENT_PREFIX)]:
            del registry[name]


# --- the canary ---------------------------------------------------------------------------------

def check() -> list[str]:
    """One line for each private API above that the installed Keras/TensorFlow lacks; [] when all are there."""
    import importlib
    import inspect

    import keras
    import tensorflow as tf

    problems = []

    def probe(what, test):
        try:
            if not test():
                problems.append(what)
        except Exception as error:  # an import that fails or an attribute that moved
            problems.append(f"{what}: {type(error).__name__}: {error}")

    registration = importlib.import_module(KERAS_REGISTRATION_MODULE)
    probe(f"{KERAS_REGISTRATION_MODULE}.GLOBAL_CUSTOM_OBJECTS is a dict Keras looks names up in",
          lambda: isinstance(registration.GLOBAL_CUSTOM_OBJECTS, dict))
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(inputs)
    probe("KerasTensor._keras_history names the producing layer",
          lambda: producer(outputs) is not None and producer(outputs)[0] is outputs._keras_history.operation)
    probe("Operation._inbound_nodes[i].input_tensors", lambda: input_tensors(outputs) == [inputs])
    probe("TFLiteConverter._experimental_disable_per_channel",
          lambda: hasattr(tf.lite.TFLiteConverter([], None), "_experimental_disable_per_channel"))
    probe("tensorflow.python.grappler.tf_optimizer.OptimizeGraph",
          lambda: callable(importlib.import_module("tensorflow.python.grappler.tf_optimizer").OptimizeGraph))
    trainer = "keras.src.backend.tensorflow.trainer"
    for name in ("reduce_per_replica", "_collective_all_reduce_multi_worker"):
        probe(f"{trainer}.{name}", lambda name=name: callable(getattr(importlib.import_module(trainer), name)))
    probe("ops._gradient_registry._registry holds tf.custom_gradient's CustomGradient-N entries",
          lambda: _custom_gradient_registers())
    probe("CollectiveAllReduceExtended._num_workers", lambda: "self._num_workers =" in inspect.getsource(
        importlib.import_module("tensorflow.python.distribute.collective_all_reduce_strategy").CollectiveAllReduceExtended))
    return problems


def _custom_gradient_registers() -> bool:
    """Tracing a `tf.custom_gradient` adds one CustomGradient- entry to the registry `forgetting_custom_gradients` prunes."""
    import tensorflow as tf

    registry = _gradient_registry()
    before = set(registry)

    @tf.custom_gradient
    def identity(x):
        return tf.identity(x), lambda dy: dy

    tf.function(lambda x: identity(x)).get_concrete_function(tf.TensorSpec((), tf.float32))
    added = [name for name in registry if name not in before]
    for name in added:
        del registry[name]
    return len(added) == 1 and added[0].startswith(CUSTOM_GRADIENT_PREFIX)


def unverified_versions() -> list[str]:
    """'package installed (verified on X)' for each of Keras/TensorFlow whose major.minor is not the verified one."""
    import importlib.metadata

    found = []
    for package, verified in VERIFIED.items():
        installed = importlib.metadata.version(package)
        if ".".join(installed.split(".")[:2]) != verified:
            found.append(f"{package} {installed} (verified on {verified})")
    return found
