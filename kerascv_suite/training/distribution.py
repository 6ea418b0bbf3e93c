"""`tf.distribute` strategies for `train.distribution`, and what Keras 3 needs to run multi-worker.

`auto` mirrors over the local GPUs when there are several and otherwise uses the default
strategy; `mirrored` uses every local device; `multi_worker` trains synchronously across the
processes described by TF_CONFIG (`MultiWorkerMirroredStrategy`, collective all-reduce).

Keras 3.15's `fit` fails under `MultiWorkerMirroredStrategy` in two places (reported
upstream as keras-team/keras#20585 and tensorflow/tensorflow#72388): its eager "symbolic
build" reduces a distributed input batch across workers, and it reduces scalar metric results
with ``axis=0``. `multi_worker_fit_support` works around both: the model defers building to
the traced train function (as Keras does when no strategy is attached; `fit` then runs inside
the strategy's scope, so it still distributes), and scalar results are averaged with
``axis=None`` — they are already synchronised across workers, so the mean is the value itself.
Verified here: two workers on loopback end `fit` with identical weights.
"""

from __future__ import annotations

import contextlib
import os

import keras
import tensorflow as tf

from kerascv_suite.core import compat
from kerascv_suite.spec.errors import UserError


def make_strategy(distribution: str) -> tf.distribute.Strategy:
    """The strategy for `train.distribution` (auto | mirrored | multi_worker)."""
    if distribution == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError("train.distribution: multi_worker needs the TF_CONFIG environment variable describing the cluster")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if distribution == "mirrored" or len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """0 for the chief (or a single process), the worker's position in the cluster otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0
    if resolver.task_type == "chief":
        return 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_id + (1 if has_chief else 0)


def _is_multi_worker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and compat.num_workers(strategy) > 1


@contextlib.contextmanager
def multi_worker_fit_support(model, strategy):
    """Inside this block, `fit`/`evaluate`/`predict` of `model` work under `strategy` (see module docstring)."""
    if not _is_multi_worker(strategy):
        with strategy.scope():
            yield
        return
    def reduce(values, strategy, reduction, original):
        if compat.is_collective_multi_worker(strategy) and reduction in ("auto", "mean"):
            return keras.tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    with compat.multi_worker_reduction(model, reduce), strategy.scope():
        yield
