"""The input pipeline: source → seeded split → preprocess → cache → shuffle → batch → augment → prefetch.

Preprocessing runs once per example (parallel map) and is cached, so each epoch only
reshuffles and augments; a cached split that fits in memory is held as two tensors and each
batch is one gather by shuffled indices; augmentation runs on whole batches, which vectorises the random
ops. Training batches drop the last partial batch by default so every step sees the same
static shape (one trace, XLA-friendly); evaluation keeps every example.

Example::

    pipeline = DataPipeline(spec)
    train_ds = pipeline.dataset("train")          # batched (images, labels), augmented, shuffled
    pipeline.info.input_shape, pipeline.info.num_classes
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from kerascv_suite.data.sources import Source
from kerascv_suite.spec import build_component
from kerascv_suite.spec.errors import DataError

SPLITS = ("train", "val", "test")
# A cached split up to this size is held as two tensors and batched by gathering shuffled indices.
IN_MEMORY_BYTES = 1 << 30
SMOKE_BATCHES = 2


@dataclass
class DataInfo:
    """What the model builder and the reports need to know about the data."""

    input_shape: tuple
    num_classes: int
    class_names: list[str]
    split_sizes: dict[str, int]
    skipped: list[str] = field(default_factory=list)
    raw_shape: tuple | None = None  # the source images' [H, W, C], when they all share it
    mixed_labels: bool = False  # training batches carry one-hot class distributions (mixup, cutmix)


def split_indices(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Seeded, stratified split: each class is shuffled and cut by the fractions.

    The same labels, fractions and seed always give the same indices, so a split never leaks
    between runs; each split's indices are returned in a seeded shuffled order.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {name: [] for name in SPLITS}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_train = int(round(fractions["train"] * len(members)))
        n_val = int(round(fractions["val"] * len(members)))
        parts["train"].append(members[:n_train])
        parts["val"].append(members[n_train : n_train + n_val])
        parts["test"].append(members[n_train + n_val :])
    return {name: rng.permutation(np.concatenate(chunks)).astype(np.int64) for name, chunks in parts.items()}


def first_per_class(indices: np.ndarray, labels: np.ndarray, per_class: int) -> np.ndarray:
    """The first `per_class` of `indices` of each class, in their order (the split's seeded shuffle)."""
    seen: dict[int, int] = {}
    keep = []
    for index in indices:
        label = int(labels[index])
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            keep.append(index)
    return np.asarray(keep, np.int64)


class DataPipeline:
    """Builds the tf.data datasets of one spec's splits (source loaded and ops adapted once)."""

    def __init__(self, spec, smoke: bool = False):
        self.spec = spec
        self.data = spec.data
        self.smoke = smoke
        self.source: Source = build_component(self.data.source)
        if self.source.skipped:
            print(f"data: skipped {len(self.source.skipped)} unreadable file(s), e.g. {self.source.skipped[0]} "
                  f"(all listed in the run's metrics.json)")
        self.indices = split_indices(self.source.labels, self.data.splits.model_dump(), self.data.seed)
        if self.data.train_examples_per_class:
            self.indices["train"] = first_per_class(self.indices["train"], self.source.labels, self.data.train_examples_per_class)
        if smoke:
            per_split = SMOKE_BATCHES * self.data.batch_size
            self.indices = {k: v[:per_split] for k, v in self.indices.items()}
        self.image_shape = None  # for streamed sources: the raw image shape, when every image has the same
        if self.source.images is None:
            self.image_shape = self._common_shape()
        self.preprocess: list = []
        self.preprocess = self._build_ops(self.data.preprocess, self._preprocessed("train"), adapt=True)
        shape = self._preprocessed("train").element_spec[0].shape
        if not shape.is_fully_defined():
            raise DataError(
                f"data: images reach the model with varying shape {shape}; add a resize op to data.preprocess"
            )
        self.augment = self._build_ops(self.data.augment, self._preprocessed("train").batch(self.data.batch_size), adapt=False)
        self.info = DataInfo(
            input_shape=tuple(shape.as_list()),
            num_classes=len(self.source.class_names),
            class_names=list(self.source.class_names),
            split_sizes={k: len(v) for k, v in self.indices.items()},
            skipped=self.source.skipped,
            raw_shape=self._raw_shape(),
            mixed_labels=any(getattr(op, "mixes_labels", False) for op in self.augment),
        )

    def _raw_shape(self) -> tuple | None:
        """The source images' shape [H, W, C] when they all share it, else None."""
        if self.source.images is not None:
            return tuple(self.source.images.shape[1:])
        return tuple(self.image_shape.as_list()) if self.image_shape is not None else None

    def _raw(self, split: str) -> tf.data.Dataset:
        """(uint8 image, int64 label) of one split, in the split's seeded order."""
        indices = self.indices[split]
        if self.source.images is not None:
            return tf.data.Dataset.from_tensor_slices((self.source.images[indices], self.source.labels[indices]))
        member = np.full(len(self.source.labels), -1, np.int64)
        member[indices] = np.arange(len(indices))
        member = tf.constant(member)
        streamed = self.source.dataset_fn().enumerate().filter(lambda i, example: tf.gather(member, i) >= 0)
        if self.image_shape is not None:
            return streamed.map(lambda i, example: (tf.ensure_shape(example[0], self.image_shape), example[1]))
        return streamed.map(lambda i, example: example)

    def _common_shape(self) -> tf.TensorShape | None:
        """The shape every streamed image has (decoded images have no static shape), or None if they vary."""
        static = self.source.dataset_fn().element_spec[0].shape
        if static.is_fully_defined():
            return static
        shapes = (
            self.source.dataset_fn()
            .map(lambda image, label: tf.strings.reduce_join(tf.strings.as_string(tf.shape(image)), separator=","), num_parallel_calls=tf.data.AUTOTUNE)
            .unique()
            .take(2)
        )
        found = [text.decode() for text in shapes.as_numpy_iterator()]
        return tf.TensorShape([int(v) for v in found[0].split(",")]) if len(found) == 1 else None

    def _build_ops(self, op_specs, sample: tf.data.Dataset, adapt: bool) -> list:
        """Instantiate ops in order; an op that adapts sees the training split through the ops before it."""
        ops = []
        for index, op_spec in enumerate(op_specs):
            shape = tuple(sample.element_spec[0].shape.as_list()[-3:])
            op = build_component(op_spec, input_shape=shape, seed=self.data.seed * 1000 + index)
            if adapt and hasattr(op, "adapt"):
                op.adapt(sample.map(lambda x, y: x).batch(256))
            ops.append(op)
            if not getattr(op, "mixes_labels", False):  # mixing keeps the images' shape
                sample = sample.map(lambda x, y, op=op: (op(x), y))
        return ops

    def preprocess_images(self, images: tf.Tensor) -> tf.Tensor:
        """uint8 pixels → model inputs: the spec's preprocessing, for one image [H, W, C] or a batch.

        The one definition of preprocessing: the datasets, the serving signatures and TFLite
        calibration all call it, so a served model sees exactly what training saw.
        """
        images = tf.cast(images, tf.float32)
        for op in self.preprocess:
            images = op(images)
        return images

    def _preprocessed(self, split: str) -> tf.data.Dataset:
        return self._raw(split).map(lambda image, label: (self.preprocess_images(image), label), num_parallel_calls=tf.data.AUTOTUNE)

    def raw_examples(self, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The uint8 source images and labels of `split` (what a client would send for serving)."""
        return _arrays(self._raw(split), limit)

    def dataset(self, split: str, training: bool | None = None, shuffle: bool | None = None) -> tf.data.Dataset:
        """Batched (images, labels) of `split`; training=True shuffles, augments and drops the remainder."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        if len(self.indices[split]) == 0:
            raise DataError(f"data: the {split} split is empty; raise data.splits.{split}")
        training = split == "train" if training is None else training
        shuffle = training if shuffle is None else shuffle
        ds = self._preprocessed(split)
        count, drop = len(self.indices[split]), training and self.data.drop_remainder
        in_memory = self.data.cache and ds.element_spec[0].shape.is_fully_defined() and (
            count * ds.element_spec[0].shape.num_elements() * ds.element_spec[0].dtype.size <= IN_MEMORY_BYTES)
        if in_memory:
            # The cached split as two tensors, and batches gathered from them by shuffled indices: one gather per
            # batch instead of shuffling and batching every example, so the input pipeline takes (almost) no CPU
            # from the training step on small machines. A shuffle of the indices with the same seed and buffer is
            # the same permutation as the shuffle of the examples, so the batches are those of the per-example path.
            images, labels = ds.batch(count).get_single_element()
            order = tf.data.Dataset.range(count)
            if shuffle:
                order = order.shuffle(min(self.data.shuffle_buffer, count), seed=self.data.seed, reshuffle_each_iteration=True)
            ds = order.batch(self.data.batch_size, drop_remainder=drop).map(
                lambda index: (tf.gather(images, index), tf.gather(labels, index)))
        else:
            if self.data.cache:
                ds = ds.cache()
            if shuffle:
                ds = ds.shuffle(min(self.data.shuffle_buffer, count), seed=self.data.seed, reshuffle_each_iteration=True)
            ds = ds.batch(self.data.batch_size, drop_remainder=drop)
        if training and self.augment:
            ops, classes, mixed = self.augment, len(self.source.class_names), self.info.mixed_labels

            def augment(images, labels):
                if mixed:
                    labels = tf.one_hot(labels, classes)
                for op in ops:
                    if getattr(op, "mixes_labels", False):
                        images, labels = op(images, labels)
                    else:
                        images = op(images)
                return images, labels

            ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def examples(self, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Preprocessed images and labels of `split` as NumPy arrays (for reports and reference checks)."""
        return _arrays(self.dataset(split, training=False).unbatch(), limit)


def _arrays(examples: tf.data.Dataset, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Stack the first `limit` (all, if None) (image, label) pairs of an unbatched dataset."""
    images, labels = [], []
    for image, label in examples.take(limit or -1):
        images.append(image.numpy())
        labels.append(label.numpy())
    return np.stack(images), np.array(labels)


def build_dataset(spec, split: str, training: bool | None = None) -> tf.data.Dataset:
    """One split of a spec as a batched `tf.data.Dataset` (see `DataPipeline`)."""
    return DataPipeline(spec).dataset(split, training)
