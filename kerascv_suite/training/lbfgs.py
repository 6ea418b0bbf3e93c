"""Full-batch L-BFGS for small models (linear classifiers, small MLPs), through TensorFlow Probability.

Stochastic first-order methods are the default because mini-batches are cheap; for a small,
smooth, deterministic objective a quasi-Newton method on the whole training set converges in
far fewer steps (CS231n's note on second-order optimisation). `tfp.optimizer.lbfgs_minimize`
does the work: a limited history of (Δx, Δg) pairs approximates the inverse Hessian, and a
Hager–Zhang line search picks each step, so there is no learning rate.

It still trains through `model.fit`: the spec names `optimizer: lbfgs`, the trainer turns the
model into a `FullBatchLBFGSModel` (the same layers; only `train_step` differs), and each
epoch is one step on the one batch that holds the whole training split, running up to
`max_iterations` L-BFGS iterations from the current weights. The curvature history starts
afresh each epoch (a restart); curves, checkpoints, resume and export work as for any run.

The objective must be deterministic during an epoch: no dropout, no augmentation that
changes between line-search evaluations (augmentation is drawn once per epoch here).

Example (YAML)::

    optimizer: {name: lbfgs, max_iterations: 50}
    data: {batch_size: 4096, drop_remainder: false}   # one batch: the whole training split
"""

from __future__ import annotations

import keras
import tensorflow as tf
from pydantic import PositiveFloat, PositiveInt

from kerascv_suite.registry import OPTIMIZERS


@OPTIMIZERS.register("lbfgs")
@keras.saving.register_keras_serializable(package="kerascv_suite")
class LBFGS(keras.optimizers.Optimizer):
    """Full-batch L-BFGS (`tfp.optimizer.lbfgs_minimize`): up to `max_iterations` per epoch, no learning rate.

    A Keras optimizer so that `compile`, checkpoints and `BackupAndRestore` treat it like any
    other; it cannot apply a gradient on its own (a line search needs the loss function), so
    `FullBatchLBFGSModel.train_step` drives it. `iterations` counts L-BFGS iterations.

    Args:
        max_iterations: L-BFGS iterations per epoch (each evaluates loss and gradient once or more).
        num_correction_pairs: how many past (Δx, Δg) pairs approximate the inverse Hessian.
        tolerance: stop early when the gradient's sup-norm falls below it.
    """

    line_search = True

    def __init__(self, max_iterations: PositiveInt = 20, num_correction_pairs: PositiveInt = 10,
                 tolerance: PositiveFloat = 1e-8, **kwargs):
        kwargs.pop("learning_rate", None)
        super().__init__(learning_rate=1.0, name=kwargs.pop("name", "lbfgs"), **kwargs)
        self.max_iterations = int(max_iterations)
        self.num_correction_pairs = int(num_correction_pairs)
        self.tolerance = float(tolerance)

    def update_step(self, gradient, variable, learning_rate):
        raise TypeError("L-BFGS needs the loss function for its line search; train with FullBatchLBFGSModel")

    def get_config(self):
        return {**super().get_config(), "max_iterations": self.max_iterations,
                "num_correction_pairs": self.num_correction_pairs, "tolerance": self.tolerance}


@keras.saving.register_keras_serializable(package="kerascv_suite")
class FullBatchLBFGSModel(keras.Model):
    """A functional model whose `train_step` runs L-BFGS on the batch it is given (the whole training split).

    Build it from another functional model's inputs and outputs; it shares their layers, so
    the weights it trains are that model's. Inference, `evaluate`, saving and export are those
    of any functional model.

    Example::

        model = FullBatchLBFGSModel(base.inputs, base.outputs, name=base.name)
        model.compile(optimizer=LBFGS(max_iterations=30), loss=loss, metrics=["accuracy"])
        model.fit(x, y, batch_size=len(x), epochs=5)
    """

    def train_step(self, data):
        import tensorflow_probability as tfp

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        shapes = [v.shape for v in variables]
        sizes = [v.shape.num_elements() for v in variables]

        def flat(tensors):
            return tf.concat([tf.reshape(tf.cast(t, tf.float32), [-1]) for t in tensors], axis=0)

        def loss_and_gradient(position):
            for variable, part, shape in zip(variables, tf.split(position, sizes), shapes):
                variable.assign(tf.reshape(part, shape))
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            return loss, flat(tape.gradient(loss, variables))

        result = tfp.optimizer.lbfgs_minimize(
            loss_and_gradient,
            initial_position=flat(variables),
            max_iterations=self.optimizer.max_iterations,
            num_correction_pairs=self.optimizer.num_correction_pairs,
            tolerance=self.optimizer.tolerance,
        )
        loss, _ = loss_and_gradient(result.position)
        self.optimizer.iterations.assign_add(tf.cast(result.num_iterations, self.optimizer.iterations.dtype))
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return self.compute_metrics(x, y, self(x, training=False), sample_weight=sample_weight)


def check_full_batch(batch_size: int, drop_remainder: bool, train_size: int) -> str | None:
    """Why a data section cannot feed full-batch L-BFGS (None when it can)."""
    if batch_size < train_size:
        return f"data.batch_size is {batch_size}, but L-BFGS is full-batch: set it to at least {train_size} (the training split)"
    if drop_remainder and batch_size > train_size:
        return "data.drop_remainder must be false for L-BFGS (one batch smaller than batch_size holds the whole training split)"
    return None
