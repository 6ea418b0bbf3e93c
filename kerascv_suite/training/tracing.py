"""Counting traces of a model's train and test steps, and saying why a retrace happened.

Inside `fit`, Keras runs `train_step`/`test_step` as Python only while TensorFlow traces them
into a graph; after that the graph runs and the Python body is never entered again. So a
wrapper around the steps sees every trace and the input signature (shapes and dtypes) of each.
One signature can be entered twice: when the first trace creates variables (lazily built
metrics, say), `tf.function` traces that same signature once more after lifting them, and still
keeps one concrete function. The count is therefore of distinct input signatures: the graphs
TensorFlow keeps, which is what a retrace adds. A pipeline that retraces wastes time on every new
shape (and recompiles under XLA); the library's datasets are built to trace once (training
batches drop their remainder, evaluation batches have an unknown batch dimension).

Example::

    monitor = TraceMonitor(model)
    model.fit(train_ds, validation_data=val_ds, epochs=2, callbacks=[monitor])
    monitor.counts()      # {'train': 1, 'test': 1}
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf


def _signature(data) -> list[tuple]:
    return [(tuple(t.shape), t.dtype.name) for t in tf.nest.flatten(data) if hasattr(t, "shape")]


class TraceMonitor(keras.callbacks.Callback):
    """Counts traces of `model.train_step` and `model.test_step`; warns when either retraces.

    Args:
        model: the model whose steps to watch (wrapped in place, before `fit` builds its functions).
    """

    def __init__(self, model: keras.Model):
        super().__init__()
        self.traces: dict[str, list[list[tuple]]] = {"train": [], "test": []}  # distinct input signatures
        self._warned: set[str] = set()
        for kind in self.traces:
            step = getattr(model, f"{kind}_step")
            setattr(model, f"{kind}_step", self._counting(kind, step))

    def _counting(self, kind: str, step):
        def traced_step(data):
            signature = _signature(data)
            if signature not in self.traces[kind]:
                self.traces[kind].append(signature)
            return step(data)

        return traced_step

    def counts(self) -> dict[str, int]:
        return {kind: len(shapes) for kind, shapes in self.traces.items()}

    def retrace_messages(self) -> list[str]:
        """One line per retraced step: which input shapes changed between its first two traces."""
        messages = []
        for kind, shapes in self.traces.items():
            if len(shapes) > 1:
                messages.append(
                    f"{kind}_step was traced {len(shapes)} times: its input changed from {shapes[0]} to {shapes[1]} "
                    f"(static batch shapes avoid this: keep data.drop_remainder on for training)"
                )
        return messages

    def _check(self):
        if self.model is not None and self.model.run_eagerly:
            return
        for message in self.retrace_messages():
            if message.split()[0] not in self._warned:
                self._warned.add(message.split()[0])
                warnings.warn(f"retrace: {message}", stacklevel=2)
                print(f"warning: retrace: {message}")

    def on_epoch_end(self, epoch, logs=None):
        self._check()

    def on_test_end(self, logs=None):
        self._check()
