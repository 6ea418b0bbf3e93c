"""k-nearest neighbours as a Keras model: `fit` memorises, `predict` votes.

The syllabus's first classifier. Training stores every training example in a fixed-size
memory (one epoch of `model.fit`, so it runs through the library's trainer like any other
model); inference computes batched L1 or L2 distances from each query to the whole memory in
TensorFlow, takes the k nearest (ties: the earlier memory entry wins), and lets them vote
(ties: the smaller class id wins, as scikit-learn does). With `k_candidates`, k is chosen by
cross-validation on the training split once fitting ends.

Distances are computed on the pixels by default, or on the features a trained network computes
(`source` and `features`, as in transfer learning): L2 between raw pixels says more about
background, brightness and position than about what the image shows (CS231n's shifted, tinted
and occluded copies at one distance, `kerascv_suite.viz.pixel_space`), while a trained network's
later layers map images of one class close together. The feature extractor is frozen; `fit`
memorises its flattened outputs.

Written here rather than taken from scikit-learn because the model must be a Keras model:
trained by `fit`, evaluated by `evaluate`, saved in the run folder and exported like the others.
Outputs are log vote shares (so softmax gives the vote shares back and cross-entropy is a
meaningful test loss).
"""

from __future__ import annotations

from typing import Literal, Optional

import keras
import numpy as np
from keras import ops
from pydantic import PositiveInt

from kerascv_suite.models.transfer import pretrained_features
from kerascv_suite.registry import MODELS

_SMOOTHING = 1e-3


def pairwise_distances(queries, references, distance: str):
    """Distances [Q, R] between rows of `queries` [Q, D] and `references` [R, D].

    L2 is the squared Euclidean distance (same neighbour order as Euclidean), computed as
    ‖q‖² − 2q·r + ‖r‖² with one matrix multiply; L1 maps over queries so memory stays [R, D].
    """
    if distance == "l2":
        q2 = ops.sum(queries * queries, axis=1, keepdims=True)
        r2 = ops.sum(references * references, axis=1)
        return ops.maximum(q2 - 2.0 * ops.matmul(queries, ops.transpose(references)) + r2[None, :], 0.0)
    return ops.map(lambda q: ops.sum(ops.abs(references - q[None, :]), axis=1), queries)


@keras.saving.register_keras_serializable(package="kerascv_suite")
class KNearestNeighbors(keras.Model):
    """k-NN classifier whose `fit` fills a memory of `train_size` examples.

    Args:
        num_classes: number of classes.
        train_size: memory size (the number of training examples).
        k: neighbours that vote (overwritten by cross-validation when `k_candidates` is set).
        distance: "l1" (Manhattan) or "l2" (Euclidean).
        k_candidates: values of k to cross-validate on the training split after fitting.
        folds: cross-validation folds.
        feature_extractor: a model from images to the features distances are computed on
            (frozen here; its outputs are flattened); None for the pixels.

    Inputs are images [B, ...]; outputs are log vote shares [B, num_classes].

    Example::

        model = KNearestNeighbors(num_classes=10, train_size=1257, k_candidates=[1, 3, 5])
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(train_ds, epochs=1)     # memorise; then k is chosen by 5-fold CV
    """

    def __init__(self, num_classes, train_size, k=1, distance="l2", k_candidates=(), folds=5, feature_extractor=None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # exact distances, whatever the global (mixed) policy
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.train_size = int(train_size)
        self.distance = distance
        self.k_candidates = [int(c) for c in k_candidates]
        self.folds = int(folds)
        self.max_k = max([int(k)] + self.k_candidates)
        self.k = self.add_weight(shape=(), dtype="int32", initializer=keras.initializers.Constant(k), trainable=False, name="k")
        self.filled = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False, name="filled")
        self.position = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False, name="position")
        self.memory_labels = self.add_weight(shape=(self.train_size,), dtype="int32", initializer="zeros", trainable=False, name="memory_labels")
        self.selection: dict[int, float] = {}
        self.feature_extractor = feature_extractor
        if feature_extractor is not None:
            feature_extractor.trainable = False

    def build(self, input_shape):
        if self.feature_extractor is not None:
            input_shape = self.feature_extractor.compute_output_shape(input_shape)
        features = int(np.prod(input_shape[1:]))
        self.memory = self.add_weight(shape=(self.train_size, features), initializer="zeros", trainable=False, name="memory")
        self.built = True

    def embed(self, images):
        """The float32 rows [B, D] distances are computed on: the flattened pixels or extracted features."""
        if self.feature_extractor is not None:
            images = self.feature_extractor(images, training=False)
        return ops.reshape(ops.cast(images, "float32"), (ops.shape(images)[0], -1))

    def call(self, images):
        queries = self.embed(images)
        d = pairwise_distances(queries, self.memory, self.distance)
        d = ops.where(ops.arange(self.train_size)[None, :] < self.filled, d, np.inf)
        _, nearest = ops.top_k(-d, self.max_k)
        return self._vote(ops.take(self.memory_labels, nearest), self.k)

    def _vote(self, neighbour_labels, k):
        """Log vote shares of the first k of each row's neighbour labels [B, max_k]."""
        weights = ops.cast(ops.arange(ops.shape(neighbour_labels)[1]) < k, "float32")
        votes = ops.sum(ops.one_hot(neighbour_labels, self.num_classes) * weights[None, :, None], axis=1)
        total = ops.cast(k, "float32") + self.num_classes * _SMOOTHING
        return ops.log((votes + _SMOOTHING) / total)

    def train_step(self, data):
        """Score the batch against the memory so far (progressive accuracy), then memorise it."""
        images, labels = data[0], data[1]
        predictions = self(images)
        loss = self.compute_loss(x=images, y=labels, y_pred=predictions)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(labels, predictions)
        rows = self.embed(images)
        start = ops.add(self.position.value, 0)  # a tensor, not the variable (tf.stack refuses Keras variables)
        self.memory.assign(ops.slice_update(self.memory.value, ops.stack([start, ops.zeros_like(start)]), rows))
        self.memory_labels.assign(ops.slice_update(self.memory_labels.value, ops.reshape(start, (1,)), ops.cast(labels, "int32")))
        batch = ops.shape(rows)[0]
        self.position.assign((start + batch) % self.train_size)
        self.filled.assign(ops.minimum(self.filled + batch, self.train_size))
        return {**{m.name: m.result() for m in self.metrics}, "memorised": self.filled.value}

    def select_k(self, chunk: int = 256) -> dict[int, float]:
        """Choose k among `k_candidates` by `folds`-fold cross-validation on the memory."""
        n = int(self.filled.numpy())
        memory, labels = self.memory[:n], self.memory_labels.numpy()[:n]
        fold = np.arange(n) % self.folds
        neighbour_labels = []
        for start in range(0, n, chunk):
            d = ops.convert_to_numpy(pairwise_distances(memory[start : start + chunk], memory, self.distance))
            d[fold[start : start + chunk, None] == fold[None, :]] = np.inf
            _, nearest = ops.top_k(-d, self.max_k)
            neighbour_labels.append(labels[ops.convert_to_numpy(nearest)])
        neighbour_labels = np.concatenate(neighbour_labels)
        self.selection = {}
        for k in sorted(self.k_candidates):
            predicted = np.argmax(ops.convert_to_numpy(self._vote(neighbour_labels, k)), axis=1)
            self.selection[k] = float(np.mean(predicted == labels))
        best = max(self.selection, key=lambda k: (self.selection[k], -k))
        self.k.assign(best)
        return self.selection

    def fit_callbacks(self) -> list:
        """Callbacks the trainer adds to `fit`: cross-validate k once the memory is full."""
        model = self

        class SelectK(keras.callbacks.Callback):
            def on_train_end(self, logs=None):
                if model.k_candidates:
                    scores = model.select_k()
                    print("k-NN cross-validation accuracy by k: " + ", ".join(f"k={k}: {a:.4f}" for k, a in scores.items()) + f" → k={int(model.k.numpy())}")

        return [SelectK()]

    def report(self) -> dict:
        """What the run's metrics.json records about this model."""
        report = {"k": int(self.k.numpy()), "distance": self.distance, "cross_validation_accuracy": {str(k): a for k, a in self.selection.items()}}
        if self.feature_extractor is not None:
            report["features"] = self.feature_extractor.layers[-1].name
        return report

    def get_config(self):
        extractor = self.feature_extractor
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "train_size": self.train_size,
            "k": int(self.k.numpy()),
            "distance": self.distance,
            "k_candidates": self.k_candidates,
            "folds": self.folds,
            "feature_extractor": None if extractor is None else keras.saving.serialize_keras_object(extractor),
        }

    @classmethod
    def from_config(cls, config):
        extractor = config.get("feature_extractor")
        if extractor is not None:
            config = {**config, "feature_extractor": keras.saving.deserialize_keras_object(extractor)}
        return cls(**config)


def feature_extractor(input_shape: tuple, source: str, features: Optional[str] = None) -> keras.Model:
    """A frozen model from images to the output of layer `features` of the trained model `source`.

    `source` is read, checked and defaulted as transfer learning reads it (`pretrained_features`):
    a `.keras` file, a run folder or runs/<name> (its newest finished run); `features` defaults to
    the input of the source's classifier.

    Example::

        extractor = feature_extractor((32, 32, 1), "runs/lenet5_digits", "f6_act")   # images → 84 values
    """
    pretrained, layer = pretrained_features(input_shape, source, features)
    return keras.Model(pretrained.inputs[0], pretrained.get_layer(layer).output, name=f"{pretrained.name}_features")


@MODELS.register("knn")
def knn(
    input_shape: tuple,
    num_classes: int,
    train_size: int,
    k: PositiveInt = 1,
    distance: Literal["l1", "l2"] = "l2",
    k_candidates: list[PositiveInt] = [],
    folds: PositiveInt = 5,
    source: Optional[str] = None,
    features: Optional[str] = None,
) -> keras.Model:
    """k-nearest neighbours (L1 or L2) on pixels or learned features, k fixed or chosen by cross-validation.

    Train it for one epoch with ``data.drop_remainder: false`` so every training example is memorised.

    Args:
        k, distance, k_candidates, folds: as `KNearestNeighbors`.
        source: a trained model whose features the distances are computed on: a `.keras` file, a
            run folder, or runs/<name> (the newest finished run of that name); None for the pixels.
        features: the layer of `source` whose (flattened) output is the feature space; default: the
            input of its classifier (LeNet-5's `f6_act`, 84 values).

    Example (YAML), after ``kcv run pipelines/classification/lenet5.yaml``::

        model: {name: knn, k: 5, source: runs/lenet5_digits, features: f6_act}
    """
    if source is None and features is not None:
        raise ValueError(f"features: '{features}' names a layer of a trained model; give its source too "
                         f"(a .keras file, a run folder, or a runs/<name> folder)")
    extractor = None if source is None else feature_extractor(input_shape, source, features)
    model = KNearestNeighbors(num_classes, train_size, k=k, distance=distance, k_candidates=k_candidates, folds=folds,
                              feature_extractor=extractor, name="knn")
    model.build((None,) + tuple(input_shape))
    return model
