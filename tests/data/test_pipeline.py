"""The tf.data pipeline: seeded stratified splits, batching, training-only statistics and augmentation, ops."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data import DataPipeline, split_indices
from kerascv_suite.data.pipeline import SMOKE_BATCHES, first_per_class, fold_indices
from kerascv_suite.spec import validate_spec
from kerascv_suite.spec.errors import DataError, UserError
from kerascv_suite.training.trainer import compile_model

from .conftest import to_numpy

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def random_images(n=24, shape=(6, 8, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype(np.uint8)


# ---------------------------------------------------------------- splits


@pytest.fixture
def unbalanced_labels():
    labels = np.concatenate([np.full(n, c) for c, n in enumerate([30, 17, 9, 41, 3])])
    return np.random.default_rng(5).permutation(labels)


def test_split_indices_are_deterministic_per_seed(unbalanced_labels):
    first = split_indices(unbalanced_labels, FRACTIONS, seed=1)
    again = split_indices(unbalanced_labels, FRACTIONS, seed=1)
    other = split_indices(unbalanced_labels, FRACTIONS, seed=2)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(first[split], again[split])
        assert first[split].dtype == np.int64
    assert any(not np.array_equal(np.sort(first[s]), np.sort(other[s])) for s in ("train", "val", "test"))


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("fractions", [FRACTIONS, {"train": 0.7, "val": 0.15, "test": 0.15}, {"train": 0.8, "val": 0.0, "test": 0.2}])
def test_split_indices_are_disjoint_complete_and_stratified(unbalanced_labels, fractions, seed):
    parts = split_indices(unbalanced_labels, fractions, seed)
    everything = np.concatenate([parts[s] for s in ("train", "val", "test")])
    assert len(everything) == len(unbalanced_labels)
    np.testing.assert_array_equal(np.sort(everything), np.arange(len(unbalanced_labels)))  # disjoint and covering
    for label in np.unique(unbalanced_labels):
        members = np.sum(unbalanced_labels == label)
        for split, fraction in fractions.items():
            count = np.sum(unbalanced_labels[parts[split]] == label)
            assert abs(count - fraction * members) <= 1, (label, split, count, fraction * members)


def test_pipeline_splits_hold_the_indexed_examples(npz_pipeline):
    images = random_images(40)
    labels = np.arange(40) % 4
    pipeline = npz_pipeline(images, labels, batch_size=8, splits=FRACTIONS, seed=3)
    assert pipeline.info.split_sizes == {s: len(pipeline.indices[s]) for s in ("train", "val", "test")}
    assert pipeline.info.split_sizes == {"train": 24, "val": 8, "test": 8}
    for split in ("train", "val", "test"):
        got_images, got_labels = pipeline.examples(split)
        index = pipeline.indices[split]
        np.testing.assert_array_equal(got_images, images[index].astype(np.float32))
        np.testing.assert_array_equal(got_labels, labels[index])


def test_empty_split_is_a_data_error(npz_pipeline):
    pipeline = npz_pipeline(random_images(20), np.arange(20) % 2, splits={"train": 0.8, "val": 0.0, "test": 0.2})
    assert pipeline.info.split_sizes["val"] == 0
    with pytest.raises(DataError, match="val split is empty"):
        pipeline.dataset("val")


# ---------------------------------------------------------------- batching


def test_training_batches_are_static_and_evaluation_keeps_everything(npz_pipeline):
    images = random_images(50)
    pipeline = npz_pipeline(images, np.arange(50) % 2, batch_size=8, splits=FRACTIONS)
    assert pipeline.info.split_sizes == {"train": 30, "val": 10, "test": 10}

    train = pipeline.dataset("train")
    assert train.element_spec[0].shape.as_list() == [8, 6, 8, 3]
    assert train.element_spec[1].shape.as_list() == [8]
    sizes = [int(x.shape[0]) for x, _ in train]
    assert sizes == [8, 8, 8]  # 30 examples: the last 6 are dropped

    for split in ("val", "test"):
        ds = pipeline.dataset(split)
        assert ds.element_spec[0].shape[0] is None
        assert [int(x.shape[0]) for x, _ in ds] == [8, 2]
    x, _ = to_numpy(pipeline.dataset("train", training=False))
    assert len(x) == 30  # evaluating the training split keeps every example too
    np.testing.assert_array_equal(x, images[pipeline.indices["train"]].astype(np.float32))


def test_training_epochs_reshuffle_but_hold_the_same_examples(npz_pipeline):
    images = random_images(40)
    pipeline = npz_pipeline(images, np.arange(40) % 2, batch_size=4, splits={"train": 0.8, "val": 0.1, "test": 0.1}, drop_remainder=False)
    train = pipeline.dataset("train")
    epoch1, labels1 = to_numpy(train)
    epoch2, _ = to_numpy(train)
    assert len(epoch1) == 32  # drop_remainder: false keeps the partial batch
    assert not np.array_equal(epoch1, epoch2)
    expected = images[pipeline.indices["train"]].astype(np.float32)
    key = lambda batch: sorted(image.tobytes() for image in batch)  # noqa: E731
    assert key(epoch1) == key(epoch2) == key(expected)


@pytest.mark.parametrize("buffer", [1000, 7])
def test_in_memory_batches_are_those_of_shuffling_and_batching_every_example(npz_pipeline, buffer):
    """A cached split is batched by gathering shuffled indices; the batches must be the per-example path's, epoch by epoch."""
    images = random_images(60)
    pipeline = npz_pipeline(images, np.arange(60) % 3, batch_size=8, shuffle_buffer=buffer, splits={"train": 0.8, "val": 0.1, "test": 0.1})
    count = len(pipeline.indices["train"])
    per_example = (pipeline._preprocessed("train").cache().shuffle(min(buffer, count), seed=pipeline.data.seed,
                                                                   reshuffle_each_iteration=True).batch(8, drop_remainder=True))
    gathered = pipeline.dataset("train")
    for _ in range(2):  # two epochs: the reshuffles agree too
        (expected, expected_labels), (actual, actual_labels) = to_numpy(per_example), to_numpy(gathered)
        np.testing.assert_array_equal(actual, expected)
        np.testing.assert_array_equal(actual_labels, expected_labels)
    test_images, _ = to_numpy(pipeline.dataset("test"))
    np.testing.assert_array_equal(test_images, images[pipeline.indices["test"]].astype(np.float32))  # in order, all of them


def test_smoke_mode_limits_every_split_to_two_batches(npz_pipeline):
    images = random_images(100, (4, 4, 1))
    labels = np.arange(100) % 5
    pipeline = npz_pipeline(images, labels, smoke=True, batch_size=4, splits=FRACTIONS)
    assert pipeline.info.split_sizes == {s: SMOKE_BATCHES * 4 for s in ("train", "val", "test")}
    for split in ("train", "val", "test"):
        batches = list(pipeline.dataset(split))
        assert len(batches) == SMOKE_BATCHES == 2
        assert all(int(x.shape[0]) == 4 for x, _ in batches)
    full = npz_pipeline(images, labels, batch_size=4, splits=FRACTIONS)
    assert len(list(full.dataset("train"))) == 15


# ---------------------------------------------------------------- training-split statistics and augmentation


def test_normalize_statistics_come_from_the_training_split_only(npz_pipeline):
    rng = np.random.default_rng(4)
    # three channels with clearly different statistics
    images = np.stack(
        [rng.integers(0, 60, (60, 5, 5)), rng.integers(100, 256, (60, 5, 5)), rng.integers(0, 256, (60, 5, 5))], axis=-1
    ).astype(np.uint8)
    pipeline = npz_pipeline(
        images, np.arange(60) % 3, batch_size=8, splits=FRACTIONS, preprocess=[{"name": "rescale"}, {"name": "normalize"}]
    )
    assert pipeline.info.input_shape == (5, 5, 3)  # one image stays one image (no batch axis added)

    train = images[pipeline.indices["train"]].astype(np.float32) / 255
    mean, std = train.mean(axis=(0, 1, 2)), train.std(axis=(0, 1, 2))
    everything = images.astype(np.float32) / 255
    assert np.abs(everything.mean(axis=(0, 1, 2)) - mean).max() > 1e-3  # the test can tell the two apart

    x, _ = pipeline.examples("train")
    assert x.shape == (36, 5, 5, 3)
    np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=(0, 1, 2)), 1, atol=1e-3)
    for split in ("val", "test"):
        got, _ = pipeline.examples(split)
        expected = (images[pipeline.indices[split]].astype(np.float32) / 255 - mean) / std
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_normalize_in_smoke_mode_uses_the_smoke_training_split(npz_pipeline):
    images = random_images(60, (3, 3, 1), seed=9)
    pipeline = npz_pipeline(images, np.arange(60) % 3, smoke=True, batch_size=4, preprocess=[{"name": "normalize"}])
    x, _ = pipeline.examples("train")
    assert x.shape == (8, 3, 3, 1)
    np.testing.assert_allclose(x.mean(), 0, atol=1e-4)


def test_augmentation_applies_to_the_training_split_only(npz_pipeline):
    images = random_images(40, (5, 5, 3), seed=6)
    pipeline = npz_pipeline(
        images, np.arange(40) % 2, batch_size=4, splits={"train": 0.5, "val": 0.25, "test": 0.25}, augment=[{"name": "random_flip"}]
    )
    for split in ("val", "test"):
        got, _ = to_numpy(pipeline.dataset(split))
        np.testing.assert_array_equal(got, images[pipeline.indices[split]].astype(np.float32))
    originals = {image.tobytes() for image in images[pipeline.indices["train"]].astype(np.float32)}
    mirrored = {image[:, ::-1].tobytes() for image in images[pipeline.indices["train"]].astype(np.float32)}
    got, _ = to_numpy(pipeline.dataset("train"))
    kinds = ["same" if g.tobytes() in originals else "mirrored" if g.tobytes() in mirrored else "other" for g in got]
    assert "other" not in kinds and "same" in kinds and "mirrored" in kinds
    # evaluating the training split is not augmented either
    got, _ = to_numpy(pipeline.dataset("train", training=False))
    assert all(g.tobytes() in originals for g in got)


# ---------------------------------------------------------------- deterministic ops, against numpy


def gray(images):
    return np.tensordot(images, np.array([0.2989, 0.5870, 0.1140], np.float32), axes=([-1], [0]))[..., None]


DETERMINISTIC = {
    "resize_nearest_up": ({"name": "resize", "size": [12, 16], "interpolation": "nearest"}, (12, 16, 3), lambda x: x.repeat(2, axis=1).repeat(2, axis=2)),
    "resize_area_down": ({"name": "resize", "size": [3, 4], "interpolation": "area"}, (3, 4, 3), lambda x: x.reshape(-1, 3, 2, 4, 2, 3).mean(axis=(2, 4))),
    "resize_bilinear": ({"name": "resize", "size": [5, 7]}, (5, 7, 3), None),
    "rescale": ({"name": "rescale"}, (6, 8, 3), lambda x: x / 255),
    "rescale_offset": ({"name": "rescale", "scale": 2.0, "offset": -1.0}, (6, 8, 3), lambda x: 2 * x - 1),
    "normalize_given": (
        {"name": "normalize", "mean": [10.0, 100.0, 200.0], "std": [2.0, 4.0, 8.0]},
        (6, 8, 3),
        lambda x: (x - np.array([10, 100, 200], np.float32)) / np.array([2, 4, 8], np.float32),
    ),
    "grayscale": ({"name": "grayscale"}, (6, 8, 1), gray),
    "to_rgb_passes_rgb": ({"name": "to_rgb"}, (6, 8, 3), lambda x: x),
    "pad": ({"name": "pad", "padding": 2}, (10, 12, 3), lambda x: np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])),
    "center_crop": ({"name": "center_crop", "size": [4, 4]}, (4, 4, 3), lambda x: x[:, 1:5, 2:6]),
}


@pytest.mark.parametrize("case", list(DETERMINISTIC))
def test_deterministic_op_matches_numpy(npz_pipeline, case):
    op, shape, reference = DETERMINISTIC[case]
    images = random_images(24)
    pipeline = npz_pipeline(images, np.arange(24) % 2, batch_size=4, splits=FRACTIONS, preprocess=[op])
    assert pipeline.info.input_shape == shape
    for split in ("train", "test"):
        got, _ = pipeline.examples(split)
        original = images[pipeline.indices[split]].astype(np.float32)
        assert got.shape == (len(original), *shape) and got.dtype == np.float32
        if reference is None:  # bilinear: values stay within the image's range
            assert got.min() >= original.min() - 1e-3 and got.max() <= original.max() + 1e-3
        else:
            np.testing.assert_allclose(got, reference(original), rtol=1e-5, atol=1e-3)


def test_single_channel_ops(npz_pipeline):
    images = random_images(20, (4, 5, 1))
    rgb = npz_pipeline(images, np.arange(20) % 2, batch_size=4, preprocess=[{"name": "to_rgb"}])
    assert rgb.info.input_shape == (4, 5, 3)
    got, _ = rgb.examples("test")
    np.testing.assert_array_equal(got, np.repeat(images[rgb.indices["test"]], 3, axis=-1).astype(np.float32))

    same = npz_pipeline(images, np.arange(20) % 2, batch_size=4, preprocess=[{"name": "grayscale"}])
    assert same.info.input_shape == (4, 5, 1)
    got, _ = same.examples("test")
    np.testing.assert_array_equal(got, images[same.indices["test"]].astype(np.float32))

    round_trip = npz_pipeline(random_images(20), np.arange(20) % 2, batch_size=4, preprocess=[{"name": "grayscale"}, {"name": "to_rgb"}])
    assert round_trip.info.input_shape == (6, 8, 3)
    got, _ = round_trip.examples("test")
    assert np.all(got[..., 0] == got[..., 1]) and np.all(got[..., 1] == got[..., 2])


def test_ops_compose_in_order(npz_pipeline):
    images = random_images(24)
    ops = [{"name": "pad", "padding": 1}, {"name": "center_crop", "size": [6, 6]}, {"name": "rescale", "scale": 0.5}]
    pipeline = npz_pipeline(images, np.arange(24) % 2, batch_size=4, preprocess=ops)
    assert pipeline.info.input_shape == (6, 6, 3)
    got, _ = pipeline.examples("test")
    padded = np.pad(images[pipeline.indices["test"]].astype(np.float32), [(0, 0), (1, 1), (1, 1), (0, 0)])
    np.testing.assert_allclose(got, padded[:, 1:7, 2:8] * 0.5)


# ---------------------------------------------------------------- random (augmentation) ops


def identified_images(n=24, size=5, seed=0):
    """Odd-sized RGB images whose centre pixel (fixed by flips and rotations about the centre) is unique."""
    images = random_images(n, (size, size, 3), seed=seed)
    images[:, size // 2, size // 2, :] = np.arange(n)[:, None]
    return images


def augmented_epoch(npz_pipeline, images, augment, batch_size=4):
    pipeline = npz_pipeline(images, np.arange(len(images)) % 2, batch_size=batch_size, splits={"train": 0.5, "val": 0.25, "test": 0.25}, augment=augment)
    got, _ = to_numpy(pipeline.dataset("train"))
    return pipeline, got, images[pipeline.indices["train"]].astype(np.float32)


@pytest.mark.parametrize("mode, flip", [("horizontal", lambda x: x[:, ::-1]), ("vertical", lambda x: x[::-1])])
def test_random_flip(npz_pipeline, mode, flip):
    images = identified_images()
    pipeline, got, originals = augmented_epoch(npz_pipeline, images, [{"name": "random_flip", "mode": mode}])
    assert got.shape == (12, 5, 5, 3)
    by_id = {int(o[2, 2, 0]): o for o in originals}
    flipped = []
    for image in got:
        original = by_id[int(image[2, 2, 0])]
        assert np.array_equal(image, original) or np.array_equal(image, flip(original))
        flipped.append(not np.array_equal(image, original))
    assert any(flipped) and not all(flipped)
    # a new epoch draws new flips (augmentation is not cached)
    again, _ = to_numpy(pipeline.dataset("train"))
    pattern = lambda batch: {int(i[2, 2, 0]): not np.array_equal(i, by_id[int(i[2, 2, 0])]) for i in batch}  # noqa: E731
    assert pattern(got) != pattern(again)


@pytest.mark.parametrize("size, shape", [(None, (6, 8, 3)), ([4, 5], (4, 5, 3))])
def test_random_crop_takes_windows_of_the_zero_padded_image(npz_pipeline, size, shape):
    images = random_images(24, (6, 8, 3), seed=2) | 1  # no zero pixels, so padding is visible
    op = {"name": "random_crop", "padding": 2, **({"size": size} if size else {})}
    pipeline, got, originals = augmented_epoch(npz_pipeline, images, [op])
    assert pipeline.augment and got.shape == (12, *shape)
    padded = np.pad(originals, [(0, 0), (2, 2), (2, 2), (0, 0)])
    offsets = []
    for image in got:
        matches = [
            (dy, dx)
            for p in padded
            for dy in range(padded.shape[1] - shape[0] + 1)
            for dx in range(padded.shape[2] - shape[1] + 1)
            if np.array_equal(p[dy : dy + shape[0], dx : dx + shape[1]], image)
        ]
        assert matches, "an augmented image is no window of a padded original"
        offsets.append(matches[0])
    assert len(set(offsets)) > 1


@pytest.mark.parametrize(
    "op",
    [{"name": "random_rotation", "degrees": 30.0}, {"name": "random_translation", "fraction": 0.3}],
    ids=["rotation", "translation"],
)
def test_random_geometric_ops(npz_pipeline, op):
    # a constant image stays constant under any shift or rotation when the border repeats the nearest pixel
    constant = np.full((16, 7, 7, 3), 100, np.uint8)
    _, got, _ = augmented_epoch(npz_pipeline, constant, [{**op, "fill_mode": "nearest"}])
    assert got.shape == (8, 7, 7, 3)
    np.testing.assert_allclose(got, 100, atol=1e-3)
    # with zero fill, some of the image moves out and zeros come in; pixels stay in range
    _, got, _ = augmented_epoch(npz_pipeline, constant, [{**op, "fill_mode": "constant"}])
    assert got.min() >= -1e-3 and got.max() <= 100 + 1e-3
    assert (got < 99).any(axis=(1, 2, 3)).sum() >= 3


def test_random_rotation_keeps_the_centre_and_moves_the_rest(npz_pipeline):
    images = identified_images(24, size=7, seed=3)
    _, got, originals = augmented_epoch(npz_pipeline, images, [{"name": "random_rotation", "degrees": 45.0}])
    by_id = {int(o[3, 3, 0]): o for o in originals}
    assert sorted(int(round(float(image[3, 3, 0]))) for image in got) == sorted(by_id)
    changed = [not np.allclose(image, by_id[int(round(float(image[3, 3, 0])))], atol=1) for image in got]
    assert sum(changed) >= len(got) - 1


def test_augment_after_preprocess_sees_the_preprocessed_shape(npz_pipeline):
    images = random_images(24)
    pipeline = npz_pipeline(
        images,
        np.arange(24) % 2,
        batch_size=4,
        preprocess=[{"name": "resize", "size": [10, 10]}, {"name": "rescale"}],
        augment=[{"name": "random_crop", "padding": 1}, {"name": "random_flip"}, {"name": "random_translation", "fraction": 0.1}],
    )
    assert pipeline.info.input_shape == (10, 10, 3)
    for x, y in pipeline.dataset("train"):
        assert x.shape == (4, 10, 10, 3) and x.dtype == tf.float32
        assert float(tf.reduce_max(x)) <= 1.0 + 1e-5


# ---------------------------------------------------------------- label-mixing augmentation


def class_level_images(labels, shape=(6, 6, 3)):
    """Every image of class c is the constant 10·(c + 1): a mixed image is its label row · the class levels."""
    return np.broadcast_to((10 * (labels + 1)).astype(np.uint8)[:, None, None, None], (len(labels), *shape)).copy()


@pytest.mark.parametrize("op", ["mixup", "cutmix"])
def test_mixing_ops_give_training_batches_class_distributions(npz_pipeline, op):
    labels = np.arange(48) % 4
    pipeline = npz_pipeline(class_level_images(labels), labels, batch_size=8, splits=FRACTIONS, augment=[{"name": op}])
    assert pipeline.info.mixed_labels
    train = pipeline.dataset("train")
    assert train.element_spec[1].shape.as_list() == [8, 4] and train.element_spec[1].dtype == tf.float32
    images, mixed = to_numpy(train)
    assert len(mixed) == 24
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-6)
    assert mixed.min() >= 0 and ((mixed > 1e-6).sum(axis=1) <= 2).all()
    assert ((mixed > 1e-6).sum(axis=1) == 2).any()  # some examples really are mixed
    if op == "mixup":  # a blend of two images, weighted as the labels say
        levels = 10.0 * np.arange(1, 5)
        np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), mixed @ levels, rtol=1e-5)
    for split in ("val", "test"):
        ds = pipeline.dataset(split)
        assert ds.element_spec[1].shape.as_list() == [None] and ds.element_spec[1].dtype == tf.int64
        _, got = to_numpy(ds)
        np.testing.assert_array_equal(got, labels[pipeline.indices[split]])
    _, unmixed = to_numpy(pipeline.dataset("train", training=False))  # evaluating the training split: integer labels
    assert unmixed.ndim == 1


def test_other_augmentations_keep_integer_labels(npz_pipeline):
    pipeline = npz_pipeline(random_images(24), np.arange(24) % 2, batch_size=4, augment=[{"name": "random_flip"}])
    assert not pipeline.info.mixed_labels
    assert pipeline.dataset("train").element_spec[1].shape.as_list() == [4]


def spec_with_loss(tmp_path, loss, augment):
    labels = np.arange(40) % 4
    np.savez(tmp_path / "d.npz", x=class_level_images(labels), y=labels)
    data = {"source": {"name": "npz", "path": str(tmp_path / "d.npz")}, "batch_size": 8, "augment": augment}
    return validate_spec({"name": "t", "model": {"name": "linear"}, "data": data, **({"loss": loss} if loss else {})})


@pytest.mark.parametrize("loss", ["multiclass_hinge", {"name": "multiclass_hinge", "margin": 0.5}])
def test_mixing_with_a_loss_that_takes_only_integer_labels_is_refused(tmp_path, loss):
    spec = spec_with_loss(tmp_path, loss, [{"name": "mixup"}])
    with pytest.raises(UserError, match="loss: mixup and cutmix.*only cross_entropy.*multiclass_hinge"):
        compile_model(spec, DataPipeline(spec).info)


@pytest.mark.parametrize("loss, augment", [
    (None, [{"name": "cutmix"}]),
    ({"name": "cross_entropy", "label_smoothing": 0.1}, [{"name": "mixup"}]),
    ("multiclass_hinge", []),
], ids=["task_loss_cutmix", "cross_entropy_mixup", "hinge_without_mixing"])
def test_compatible_losses_compile(tmp_path, loss, augment):
    spec = spec_with_loss(tmp_path, loss, augment)
    model, _ = compile_model(spec, DataPipeline(spec).info)
    assert model.loss is not None


# ---------------------------------------------------------------- few labels per class


def test_first_per_class_keeps_the_first_of_each_class_in_order():
    labels = np.array([0, 1, 0, 2, 1, 0, 0, 1, 2])
    indices = np.array([8, 6, 0, 1, 2, 3, 4, 5, 7])
    got = first_per_class(indices, labels, 2)
    np.testing.assert_array_equal(got, [8, 6, 0, 1, 3, 4])
    assert got.dtype == np.int64
    np.testing.assert_array_equal(first_per_class(indices, labels, 5), indices)  # classes with fewer keep all


def test_train_examples_per_class_shrinks_only_the_training_split(npz_pipeline):
    images, labels = random_images(80, (4, 4, 1)), np.arange(80) % 4
    full = npz_pipeline(images, labels, batch_size=4, splits=FRACTIONS)
    few = npz_pipeline(images, labels, batch_size=4, splits=FRACTIONS, train_examples_per_class=3)
    assert few.info.split_sizes == {"train": 12, "val": 16, "test": 16}
    assert np.bincount(labels[few.indices["train"]]).tolist() == [3, 3, 3, 3]
    np.testing.assert_array_equal(few.indices["train"], first_per_class(full.indices["train"], labels, 3))
    for split in ("val", "test"):
        np.testing.assert_array_equal(few.indices[split], full.indices[split])
    _, got = to_numpy(few.dataset("train", training=False))
    np.testing.assert_array_equal(got, labels[few.indices["train"]])


# ---------------------------------------------------------------- structured examples (features dicts)


def shapes_spec(task="localization", model=None, **data):
    model = model or {"name": "localizer", "backbone": {"name": "cifar_resnet", "depth": 8}}
    return validate_spec({
        "name": "structured", "task": task, "model": model,
        "data": {"source": {"name": "shapes", "num_images": 60, "image_size": [32, 32], "max_objects": 2},
                 "batch_size": 8, "preprocess": ["rescale"], **data},
    })


def test_a_task_needing_features_the_source_lacks_is_refused_at_load_in_one_line():
    with pytest.raises(UserError) as error:
        validate_spec({"name": "t", "task": "segmentation", "model": {"name": "fcn", "backbone": {"name": "cifar_resnet"}}})
    (line,) = error.value.problems
    assert "task 'segmentation' needs the example features semantic_mask" in line and "source 'digits'" in line
    assert "\n" not in line


def test_structured_batches_carry_only_what_the_task_consumes_and_become_its_targets():
    pipeline = DataPipeline(shapes_spec())
    batch = next(iter(pipeline.feature_dataset("train")))
    assert set(batch) == {"images", "labels", "boxes", "classes"}   # no masks or keypoints to move for nothing
    images, targets, weights = next(iter(pipeline.dataset("train")))
    assert images.shape == (8, 32, 32, 3) and images.dtype == tf.float32
    assert set(targets) == {"class", "box"} and weights.shape == (8,)
    assert float(tf.reduce_max(targets["box"])) <= 1.0


def test_structured_preprocessing_moves_boxes_and_masks_with_the_image():
    spec = shapes_spec(task="segmentation", model={"name": "fcn", "backbone": {"name": "cifar_resnet"}},
                       preprocess=[{"name": "resize", "size": [16, 48]}, "rescale"])
    pipeline = DataPipeline(spec, feature_keys=("boxes", "classes"))
    raw, moved = pipeline.raw_features("test"), pipeline.feature_examples("test")
    assert moved["images"].shape[1:] == (16, 48, 3) and moved["semantic_mask"].shape[1:] == (16, 48)
    real = raw["classes"] >= 0
    np.testing.assert_allclose(moved["boxes"][real], raw["boxes"][real] * [1.5, 0.5, 1.5, 0.5], atol=1e-4)
    np.testing.assert_array_equal(moved["labels"], raw["labels"])


def test_mixing_augmentations_are_refused_for_structured_examples():
    with pytest.raises(DataError, match="mixup and cutmix"):
        DataPipeline(shapes_spec(augment=[{"name": "mixup"}]))


def test_classic_pipelines_give_feature_examples_as_images_and_labels(npz_pipeline):
    pipeline = npz_pipeline(random_images(), np.arange(24) % 3, preprocess=["rescale"])
    examples = pipeline.feature_examples("test")
    images, labels = pipeline.examples("test")
    assert set(examples) == {"images", "labels"}
    np.testing.assert_array_equal(examples["images"], images)


# ---------------------------------------------------------------- k-fold cross-validation of the training split


@pytest.fixture
def fold_labels():
    labels = np.concatenate([np.full(n, c) for c, n in enumerate([40, 23, 17, 31, 12])])
    return np.random.default_rng(11).permutation(labels)


@pytest.mark.parametrize("folds, seed", [(5, 0), (3, 7)])
def test_fold_indices_are_scikit_learns_stratified_kfold_of_the_training_split(fold_labels, folds, seed):
    from sklearn.model_selection import StratifiedKFold

    parts = split_indices(fold_labels, FRACTIONS, seed)
    train = parts["train"]
    got = fold_indices(train, fold_labels, folds, seed)
    reference = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(train, fold_labels[train])
    assert len(got) == folds
    for (rest, held_out), (ref_rest, ref_held_out) in zip(got, reference, strict=True):
        np.testing.assert_array_equal(rest, train[ref_rest])
        np.testing.assert_array_equal(held_out, train[ref_held_out])
        assert rest.dtype == np.int64
    # and, on their own terms: the held-out folds partition the training split, ...
    held = [held_out for _, held_out in got]
    np.testing.assert_array_equal(np.sort(np.concatenate(held)), np.sort(train))
    for rest, held_out in got:  # ... each trains on exactly the others, in the split's order, ...
        np.testing.assert_array_equal(rest, train[~np.isin(train, held_out)])
        assert not set(held_out) & set(parts["val"]) and not set(held_out) & set(parts["test"])
    for label in np.unique(fold_labels):  # ... and every class is spread evenly over them
        counts = [np.sum(fold_labels[h] == label) for h in held]
        assert max(counts) - min(counts) <= 1, (label, counts)
    again = fold_indices(train, fold_labels, folds, seed)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(got, again))
    other = fold_indices(train, fold_labels, folds, seed + 1)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(got, other))


def test_a_class_with_fewer_examples_than_folds_is_one_clear_line(fold_labels):
    train = split_indices(fold_labels, FRACTIONS, 0)["train"]  # class 4 keeps 7 of its 12
    with pytest.raises(DataError) as error:
        fold_indices(train, fold_labels, 8, 0)
    assert str(error.value) == ("search.folds: 8 folds need at least 8 training examples of each class, and class 4 has 7; "
                                "lower search.folds or raise data.splits.train")


def test_a_fold_pipeline_trains_on_the_other_folds_validates_on_its_own_and_keeps_test(npz_pipeline, fold_labels):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (len(fold_labels), 4, 4, 1)).astype(np.uint8)
    whole = npz_pipeline(images, fold_labels, batch_size=8, splits=FRACTIONS, seed=3, preprocess=[{"name": "normalize"}])
    rest, held_out = fold_indices(whole.indices["train"], fold_labels, 4, 3)[1]
    fold = DataPipeline(whole.spec, fold=(1, 4))
    np.testing.assert_array_equal(fold.indices["train"], rest)
    np.testing.assert_array_equal(fold.indices["val"], held_out)
    np.testing.assert_array_equal(fold.indices["test"], whole.indices["test"])  # the test split is left alone
    assert fold.info.split_sizes == {"train": len(rest), "val": len(held_out), "test": len(whole.indices["test"])}
    # normalize adapts on the fold's training part alone: the held-out fold leaks into nothing
    train = images[rest].astype(np.float32)
    mean, std = train.mean(), train.std()
    assert abs(images[whole.indices["train"]].astype(np.float32).mean() - mean) > 1e-3  # the test can tell them apart
    x, y = fold.examples("train")
    np.testing.assert_allclose([x.mean(), x.std()], [0, 1], atol=1e-3)
    x, y = fold.examples("val")
    np.testing.assert_allclose(x, (images[held_out].astype(np.float32) - mean) / std, atol=1e-4)
    np.testing.assert_array_equal(y, fold_labels[held_out])
    smoke = DataPipeline(whole.spec, smoke=True, fold=(1, 4))  # folds of the whole training split, then a few batches
    for split, kept in (("train", rest), ("val", held_out)):
        np.testing.assert_array_equal(smoke.indices[split], kept[: SMOKE_BATCHES * 8])


def test_pca_colour_in_augment_is_fitted_on_the_training_split_and_shifts_each_training_image(npz_pipeline):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (60, 5, 5, 3)).astype(np.uint8)
    images[..., 2] = images[..., 0] // 2 + 60   # correlated channels: one principal axis mixes red and blue
    pipeline = npz_pipeline(images, np.arange(60) % 3, batch_size=4, splits=FRACTIONS,
                            preprocess=[{"name": "rescale"}], augment=[{"name": "pca_colour", "sigma": 0.5}])
    (op,) = pipeline.augment
    train = images[pipeline.indices["train"]].reshape(-1, 3).astype(np.float64) / 255
    P, eigenvalues = op.eigenvectors.astype(np.float64), op.eigenvalues.astype(np.float64)
    np.testing.assert_allclose(P @ np.diag(eigenvalues) @ P.T, np.cov(train, rowvar=False, bias=True), atol=1e-6)
    got, labels = to_numpy(pipeline.dataset("train", shuffle=False))
    originals = images[pipeline.indices["train"]][: len(got)].astype(np.float32) / 255
    offsets = (got - originals).reshape(len(got), -1, 3)
    np.testing.assert_allclose(offsets, offsets[:, :1].repeat(25, axis=1), atol=1e-5)   # one shift per image
    assert np.abs(offsets[:, 0]).min(axis=1).max() > 1e-3                             # and a real one
    got, _ = to_numpy(pipeline.dataset("test"))
    np.testing.assert_allclose(got, images[pipeline.indices["test"]].astype(np.float32) / 255, atol=1e-6)  # test: untouched
