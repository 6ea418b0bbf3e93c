"""The input pipeline: source → seeded split → preprocess → cache → shuffle → batch → augment → prefetch.

Preprocessing runs once per example (parallel map) and is cached, so each epoch only
reshuffles and augments; a cached split that fits in memory is held as two tensors and each
batch is one gather by shuffled indices; augmentation runs on whole batches, which vectorises the random
ops. Training batches drop the last partial batch by default so every step sees the same
static shape (one trace, XLA-friendly); evaluation keeps every example.

A source with features beyond (image, label) — boxes, masks, keypoints, captions
(`kerascv_suite.data.examples`) — flows through the same stages as a dict of features:
geometric ops move every feature with the image (their `transform_features`), photometric ops
change the images alone, and last the spec's task turns each batch into the model's
(inputs, targets) (`Task.targets`).

Example::

    pipeline = DataPipeline(spec)
    train_ds = pipeline.dataset("train")          # batched (images, labels), augmented, shuffled
    pipeline.info.input_shape, pipeline.info.num_classes
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from kerascv_suite.data.examples import IMAGES, LABELS
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


def fold_indices(indices: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded, stratified k-fold cross-validation of one split: (training part, held-out fold) for each fold.

    The folds are scikit-learn's ``StratifiedKFold(folds, shuffle=True, random_state=seed)``
    over the labels of `indices`: a partition of `indices` in which every class is spread over
    the folds as evenly as it can be (its counts differ by at most one). The training part of
    each fold is the other k − 1 folds, in the order of `indices`. The same indices, labels,
    folds and seed give the same folds, so every trial of a search validates on the same data.
    This is the syllabus's cross-validation: with little data, k estimates of the validation
    score, each on data the model did not train on, average out the luck of one split.

    A class with fewer than `folds` examples would leave some fold without it, which is a
    `DataError`.

    Example::

        parts = fold_indices(indices["train"], labels, folds=5, seed=0)
        train_part, held_out = parts[0]       # train on 4/5 of the training split, validate on 1/5
    """
    from sklearn.model_selection import StratifiedKFold

    values, counts = np.unique(labels[indices], return_counts=True)
    if counts.min() < folds:
        raise DataError(
            f"search.folds: {folds} folds need at least {folds} training examples of each class, and class "
            f"{values[counts.argmin()]} has {counts.min()}; lower search.folds or raise data.splits.train"
        )
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(indices)), labels[indices])
    return [(indices[rest], indices[held_out]) for rest, held_out in split]


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
    """Builds the tf.data datasets of one spec's splits (source loaded and ops adapted once).

    Args:
        spec: the validated spec.
        smoke: only a few batches of each split.
        feature_keys: features of a structured source to carry besides the ones the task consumes
            (`kcv data` draws them all).
        fold: ``(index, folds)`` for k-fold cross-validation (`fold_indices`, seeded with
            ``data.seed``): the training split (after ``train_examples_per_class``) is cut into
            `folds` stratified folds; "train" becomes all but fold `index` and "val" becomes fold
            `index` (the val split is set aside); "test" stays. Smoke mode then keeps a few
            batches of each. Ops that adapt (normalize) see only the fold's training part, so
            the held-out fold leaks into nothing.
    """

    def __init__(self, spec, smoke: bool = False, feature_keys=(), fold: tuple[int, int] | None = None):
        self.spec = spec
        self.data = spec.data
        self.smoke = smoke
        self.source: Source = build_component(self.data.source)
        # A source with features beyond (image, label) gives examples as dicts (`kerascv_suite.data.examples`);
        # the spec's task turns a batch of them into the model's (inputs, targets).
        self.structured = self.source.features is not None
        self.task = build_component(spec.task) if self.structured else None
        self.feature_keys = set(getattr(self.task, "requires", ())) | set(feature_keys)
        if self.source.skipped:
            print(f"data: skipped {len(self.source.skipped)} unreadable file(s), e.g. {self.source.skipped[0]} "
                  f"(all listed in the run's metrics.json)")
        self.indices = split_indices(self.source.labels, self.data.splits.model_dump(), self.data.seed)
        if self.data.train_examples_per_class:
            self.indices["train"] = first_per_class(self.indices["train"], self.source.labels, self.data.train_examples_per_class)
        if fold is not None:
            index, folds = fold
            self.indices["train"], self.indices["val"] = fold_indices(self.indices["train"], self.source.labels, folds, self.data.seed)[index]
        if smoke:
            per_split = SMOKE_BATCHES * self.data.batch_size
            self.indices = {k: v[:per_split] for k, v in self.indices.items()}
        self.image_shape = None  # for streamed sources: the raw image shape, when every image has the same
        if self.source.images is None:
            self.image_shape = self._common_shape()
        self.preprocess: list = []
        self.preprocess = self._build_ops(self.data.preprocess, self._preprocessed("train"))
        shape = self._image_spec(self._preprocessed("train")).shape
        if not shape.is_fully_defined():
            raise DataError(
                f"data: images reach the model with varying shape {shape}; add a resize op to data.preprocess"
            )
        self.augment = self._build_ops(self.data.augment, self._preprocessed("train").batch(self.data.batch_size))
        if self.structured and any(getattr(op, "mixes_labels", False) for op in self.augment):
            raise DataError("data.augment: mixup and cutmix mix (image, label) pairs; they cannot mix structured examples "
                            "(boxes, masks, ...)")
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
        """(uint8 image, int64 label) of one split, in the split's seeded order (a features dict for structured sources)."""
        indices = self.indices[split]
        if self.structured:  # only the features the task consumes: the others would be moved by every op for nothing
            return tf.data.Dataset.from_tensor_slices({
                IMAGES: self.source.images[indices], LABELS: self.source.labels[indices],
                **{key: values[indices] for key, values in self.source.features.items() if key in self.feature_keys},
            })
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

    def _image_spec(self, examples: tf.data.Dataset) -> tf.TensorSpec:
        spec = examples.element_spec
        return spec[IMAGES] if self.structured else spec[0]

    def _apply(self, op, example):
        """One op on one example or batch: (image, label) → (op(image), label); a features dict through the op's
        `transform_features` when it has one (geometric ops move boxes, masks and keypoints), else its images alone."""
        if not self.structured:
            return op(example[0]), example[1]
        if hasattr(op, "transform_features"):
            return op.transform_features(example)
        return {**example, IMAGES: op(example[IMAGES])}

    def _build_ops(self, op_specs, sample: tf.data.Dataset) -> list:
        """Instantiate ops in order; an op that adapts (normalize, pca_colour) sees the training split through the ops
        before it, in batches."""
        ops = []
        for index, op_spec in enumerate(op_specs):
            shape = tuple(self._image_spec(sample).shape.as_list()[-3:])
            op = build_component(op_spec, input_shape=shape, seed=self.data.seed * 1000 + index)
            if self.structured and getattr(op, "moves_geometry", False) and not hasattr(op, "transform_features"):
                raise DataError(f"data: op '{op_spec.name}' moves pixels but not boxes, masks or keypoints, so it cannot "
                                f"transform structured examples")
            if hasattr(op, "adapt"):
                images = sample.map(lambda *example: example[0][IMAGES] if self.structured else example[0])
                op.adapt(images if images.element_spec.shape.rank == 4 else images.batch(256))   # augment's sample is batched
            ops.append(op)
            if not getattr(op, "mixes_labels", False):  # mixing keeps the images' shape
                sample = sample.map(lambda *example, op=op: self._apply(op, example if len(example) > 1 else example[0]))
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

    def preprocess_features(self, example: dict) -> dict:
        """A features dict through the spec's preprocessing: images cast to float32, geometric ops moving every feature."""
        example = {**example, IMAGES: tf.cast(example[IMAGES], tf.float32)}
        for op in self.preprocess:
            example = self._apply(op, example)
        return example

    def _preprocessed(self, split: str) -> tf.data.Dataset:
        if self.structured:
            return self._raw(split).map(self.preprocess_features, num_parallel_calls=tf.data.AUTOTUNE)
        return self._raw(split).map(lambda image, label: (self.preprocess_images(image), label), num_parallel_calls=tf.data.AUTOTUNE)

    def raw_examples(self, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The uint8 source images and labels of `split` (what a client would send for serving)."""
        raw = self._raw(split)
        if self.structured:
            raw = raw.map(lambda example: (example[IMAGES], example[LABELS]))
        return _arrays(raw, limit)

    def raw_features(self, split: str, limit: int | None = None) -> dict[str, np.ndarray]:
        """Every source feature of `split` before preprocessing, as NumPy arrays (uint8 images, pixel boxes, ...)."""
        return _feature_arrays(self._raw(split), limit)

    def feature_examples(self, split: str, limit: int | None = None) -> dict[str, np.ndarray]:
        """Preprocessed examples of `split` as a dict of NumPy arrays (for reports): `images` and `labels`, and for
        a structured source every feature, geometric ones transformed with the images."""
        if self.structured:
            return _feature_arrays(self._preprocessed(split), limit)
        images, labels = self.examples(split, limit)
        return {IMAGES: images, LABELS: labels}

    def dataset(self, split: str, training: bool | None = None, shuffle: bool | None = None) -> tf.data.Dataset:
        """Batched (images, labels) of `split`; training=True shuffles, augments and drops the remainder.

        For a structured source, the task's (inputs, targets[, sample weights]) of each batch.
        """
        ds = self.feature_dataset(split, training, shuffle)
        if self.structured:
            ds = ds.map(self.task.targets, num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def feature_dataset(self, split: str, training: bool | None = None, shuffle: bool | None = None) -> tf.data.Dataset:
        """Batches of `split` as the pipeline makes them: (images, labels), or a structured source's feature dicts."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        if len(self.indices[split]) == 0:
            raise DataError(f"data: the {split} split is empty; raise data.splits.{split}")
        training = split == "train" if training is None else training
        shuffle = training if shuffle is None else shuffle
        ds = self._preprocessed(split)
        count, drop = len(self.indices[split]), training and self.data.drop_remainder
        sizes = [s.shape.num_elements() * s.dtype.size if s.shape.is_fully_defined() else None
                 for s in tf.nest.flatten(ds.element_spec) if s.dtype != tf.string]
        in_memory = self.data.cache and None not in sizes and count * sum(sizes) <= IN_MEMORY_BYTES
        if in_memory:
            # The cached split as two tensors, and batches gathered from them by shuffled indices: one gather per
            # batch instead of shuffling and batching every example, so the input pipeline takes (almost) no CPU
            # from the training step on small machines. A shuffle of the indices with the same seed and buffer is
            # the same permutation as the shuffle of the examples, so the batches are those of the per-example path.
            split_tensors = ds.batch(count).get_single_element()
            order = tf.data.Dataset.range(count)
            if shuffle:
                order = order.shuffle(min(self.data.shuffle_buffer, count), seed=self.data.seed, reshuffle_each_iteration=True)
            ds = order.batch(self.data.batch_size, drop_remainder=drop).map(
                lambda index: tf.nest.map_structure(lambda tensor: tf.gather(tensor, index), split_tensors))
        else:
            if self.data.cache:
                ds = ds.cache()
            if shuffle:
                ds = ds.shuffle(min(self.data.shuffle_buffer, count), seed=self.data.seed, reshuffle_each_iteration=True)
            ds = ds.batch(self.data.batch_size, drop_remainder=drop)
        if training and self.augment and self.structured:
            ops = _fuse_geometric(self.augment)

            def augment_features(batch):
                for op in ops:
                    batch = self._apply(op, batch)
                return batch

            ds = ds.map(augment_features, num_parallel_calls=tf.data.AUTOTUNE)
        elif training and self.augment:
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
        return ds

    def examples(self, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Preprocessed images and labels of `split` as NumPy arrays (for reports and reference checks)."""
        if self.structured:
            features = self.feature_examples(split, limit)
            return features[IMAGES], features[LABELS]
        return _arrays(self.dataset(split, training=False).unbatch(), limit)


def input_value_range(preprocess, source_range=(0.0, 255.0)) -> tuple[float, float] | None:
    """The range the model's inputs can take: the uint8 source range carried through the preprocess ops, or None.

    `resize` (bilinear or nearest) interpolates inside the range and `rescale` maps v to
    scale·v + offset; after any other op (standardisation, whitening, ...) the range is not known
    from the spec alone and None is returned, so a caller clips nothing rather than guessing.
    Synthesis and attacks clip their images to it, so what they make could be a real input.

    Example::

        input_value_range(spec.data.preprocess)    # (0.0, 1.0) after `rescale` (scale 1/255)
    """
    low, high = source_range
    for op in preprocess:
        op = op if isinstance(op, dict) else op.model_dump()
        if op["name"] == "resize" and op.get("interpolation", "bilinear") in ("bilinear", "nearest"):
            continue
        if op["name"] != "rescale":
            return None
        low, high = sorted((op["scale"] * low + op["offset"], op["scale"] * high + op["offset"]))
    return float(low), float(high)


def _arrays(examples: tf.data.Dataset, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Stack the first `limit` (all, if None) (image, label) pairs of an unbatched dataset."""
    images, labels = [], []
    for image, label in examples.take(limit or -1):
        images.append(image.numpy())
        labels.append(label.numpy())
    return np.stack(images), np.array(labels)


def _fuse_geometric(ops: list) -> list:
    """Runs of consecutive geometric ops as one `geometry.Fused` transform each: one warp per batch instead of one per op.

    Measured here (benchmarks/results/structured_pipeline.md): flip, translation, rotation and scale jitter as
    four warps cost 17% of the localiser's training throughput against cached tensors.
    """
    from kerascv_suite.data.geometry import Fused, GeometricTransform
    from kerascv_suite.data.ops import GeometricOp

    fused, run = [], []
    for op in [*ops, None]:
        transform = getattr(op, "transform", None)
        if isinstance(transform, GeometricTransform):
            run.append(transform)
            continue
        if run:
            transform = Fused(run) if len(run) > 1 else run[0]
            fused.append(GeometricOp(lambda images, transform=transform: transform({IMAGES: images})[IMAGES], transform))
            run = []
        if op is not None:
            fused.append(op)
    return fused


def _feature_arrays(examples: tf.data.Dataset, limit: int | None) -> dict[str, np.ndarray]:
    """Stack the first `limit` (all, if None) examples of an unbatched dataset of feature dicts, key by key."""
    batched = examples.take(limit or -1).batch(1 << 16)
    parts = [{key: value.numpy() for key, value in batch.items()} for batch in batched]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def build_dataset(spec, split: str, training: bool | None = None) -> tf.data.Dataset:
    """One split of a spec as a batched `tf.data.Dataset` (see `DataPipeline`)."""
    return DataPipeline(spec).dataset(split, training)
