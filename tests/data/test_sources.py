"""Data sources: each yields uint8 [H, W, C] images in [0, 255] and int labels, or a clear DataError."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds_lib
from PIL import Image

from kerascv_suite.data import DataPipeline
from kerascv_suite.data.sources import image_folder, npz, tfds, tfrecord, write_tfrecord
from kerascv_suite.registry import DATASETS
from kerascv_suite.spec.errors import DataError, SpecError

from .conftest import make_spec, to_numpy

tfds_lib.disable_progress_bar()


def all_examples(pipeline):
    """Every (image, label) of every split, unaugmented."""
    parts = [to_numpy(pipeline.dataset(split, training=False)) for split in ("train", "val", "test") if len(pipeline.indices[split])]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def as_multiset(images, labels):
    """Order-free view of examples: sorted (label, pixel bytes) pairs."""
    return sorted((int(y), np.asarray(x, np.uint8).tobytes()) for x, y in zip(images, labels))


# ---------------------------------------------------------------- built-in data sets


def test_digits_are_1797_uint8_8x8_images_in_0_255():
    from sklearn.datasets import load_digits

    source = DATASETS.get("digits")()
    assert source.images.shape == (1797, 8, 8, 1)
    assert source.images.dtype == np.uint8
    assert source.images.min() == 0 and source.images.max() == 255
    assert source.class_names == [str(i) for i in range(10)]
    assert source.labels.dtype == np.int64
    assert sorted(np.unique(source.labels)) == list(range(10))
    reference = load_digits()
    np.testing.assert_array_equal(source.labels, reference.target)
    # 0..16 intensities scaled to 0..255: 16 → 255, 8 → 128
    np.testing.assert_array_equal(source.images[..., 0], np.round(reference.images * 255 / 16).astype(np.uint8))


def test_mnist_is_5000_uint8_28x28_images():
    source = DATASETS.get("mnist")()
    assert source.images.shape == (5000, 28, 28, 1)
    assert source.images.dtype == np.uint8
    assert source.images.max() == 255
    assert np.bincount(source.labels).tolist() == [500] * 10
    assert len(source.class_names) == 10


# ---------------------------------------------------------------- npz


def test_npz_round_trip_through_the_pipeline(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 5, 7, 3)).astype(np.uint8)
    labels = np.arange(24) % 3
    np.savez(tmp_path / "d.npz", pics=images, cls=labels)
    source = npz(tmp_path / "d.npz", images_key="pics", labels_key="cls", label_names=["a", "b", "c"])
    np.testing.assert_array_equal(source.images, images)
    np.testing.assert_array_equal(source.labels, labels)
    assert source.class_names == ["a", "b", "c"]

    spec = make_spec(
        {
            "source": {"name": "npz", "path": str(tmp_path / "d.npz"), "images_key": "pics", "labels_key": "cls", "label_names": ["a", "b", "c"]},
            "batch_size": 4,
        }
    )
    pipeline = DataPipeline(spec)
    assert pipeline.info.input_shape == (5, 7, 3)
    assert pipeline.info.num_classes == 3 and pipeline.info.class_names == ["a", "b", "c"]
    assert as_multiset(*all_examples(pipeline)) == as_multiset(images, labels)


def test_npz_grayscale_without_channel_axis_and_integral_floats(tmp_path):
    images = np.arange(6 * 4 * 4, dtype=np.float64).reshape(6, 4, 4) % 256
    np.savez(tmp_path / "d.npz", x=images, y=[0, 1, 0, 1, 0, 1])
    source = npz(tmp_path / "d.npz")
    assert source.images.shape == (6, 4, 4, 1) and source.images.dtype == np.uint8
    np.testing.assert_array_equal(source.images[..., 0], images.astype(np.uint8))
    assert source.class_names == ["0", "1"]


def test_npz_missing_key_is_a_clear_data_error(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 3, 3), np.uint8), y=[0, 1, 0, 1])
    with pytest.raises(DataError) as error:
        npz(tmp_path / "d.npz")
    message = str(error.value)
    assert "'x'" in message and "images" in message and "y" in message


@pytest.mark.parametrize("bad", [[-1.0, 3.0], [0.0, 256.0], [0.5, 3.0]])
def test_npz_float_images_outside_uint8_pixels_are_a_data_error(tmp_path, bad):
    images = np.zeros((4, 3, 3), np.float32)
    images[0, 0, 0], images[1, 0, 0] = bad
    np.savez(tmp_path / "d.npz", x=images, y=[0, 1, 0, 1])
    with pytest.raises(DataError, match=r"uint8 pixels in \[0, 255\]"):
        npz(tmp_path / "d.npz")


def test_npz_other_problems_are_data_errors(tmp_path):
    np.savez(tmp_path / "count.npz", x=np.zeros((4, 3, 3), np.uint8), y=[0, 1, 0])
    with pytest.raises(DataError, match="4 images but 3 labels"):
        npz(tmp_path / "count.npz")
    np.savez(tmp_path / "names.npz", x=np.zeros((4, 3, 3), np.uint8), y=[0, 1, 2, 1])
    with pytest.raises(DataError, match="labels must be in"):
        npz(tmp_path / "names.npz", label_names=["a", "b"])
    np.savez(tmp_path / "shape.npz", x=np.zeros((4, 3, 3, 2), np.uint8), y=[0, 1, 0, 1])
    with pytest.raises(DataError, match="shape"):
        npz(tmp_path / "shape.npz")
    (tmp_path / "garbage.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match="not a readable .npz"):
        npz(tmp_path / "garbage.npz")
    with pytest.raises(DataError):
        npz(tmp_path / "missing.npz")


def test_npz_missing_file_is_reported_by_the_spec(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        make_spec({"source": {"name": "npz", "path": str(tmp_path / "missing.npz")}})


# ---------------------------------------------------------------- image_folder


def _encode(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def image_tree(tmp_path):
    """cat/ and dog/ with real PNG and JPEG files, plus unreadable files the source must skip."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    pngs, jpegs, bad = {}, {}, []
    for label, name in enumerate(["cat", "dog"]):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(8):
            array = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
            (folder / f"p{i}.png").write_bytes(_encode(array, "PNG"))
            pngs[str(folder / f"p{i}.png")] = (array, label)
        for i in range(4):
            # smooth images so JPEG's loss stays small
            array = np.full((6, 6, 3), 40 + 60 * label + 10 * i, np.uint8)
            (folder / f"j{i}.JPG").write_bytes(_encode(array, "JPEG"))
            jpegs[str(folder / f"j{i}.JPG")] = (array, label)
        (folder / "notes.txt").write_text("not an image, not counted")
    (root / "cat" / "corrupt.png").write_bytes(os.urandom(200))
    png = _encode(rng.integers(0, 256, (16, 16, 3)).astype(np.uint8), "PNG")
    (root / "dog" / "truncated.png").write_bytes(png[: len(png) // 2])
    jpeg = _encode(rng.integers(0, 256, (32, 32, 3)).astype(np.uint8), "JPEG")
    (root / "dog" / "truncated.jpg").write_bytes(jpeg[: int(len(jpeg) * 0.9)])  # header intact, scan cut
    bad = [str(root / "cat" / "corrupt.png"), str(root / "dog" / "truncated.png"), str(root / "dog" / "truncated.jpg")]
    return root, pngs, jpegs, bad


def test_image_folder_skips_unreadable_files(image_tree):
    root, pngs, jpegs, bad = image_tree
    source = image_folder(root)
    assert source.class_names == ["cat", "dog"]
    assert sorted(source.skipped) == sorted(bad)
    assert np.bincount(source.labels).tolist() == [12, 12]
    images, labels = [], []
    for image, label in source.dataset_fn():
        images.append(image.numpy())
        labels.append(int(label))
    assert len(images) == 24 and all(image.shape == (6, 6, 3) and image.dtype == np.uint8 for image in images)


def test_image_folder_through_the_pipeline(image_tree, capsys):
    root, pngs, jpegs, bad = image_tree
    spec = make_spec({"source": {"name": "image_folder", "path": str(root)}, "batch_size": 4, "splits": {"train": 0.5, "val": 0.25, "test": 0.25}})
    pipeline = DataPipeline(spec)
    assert sorted(pipeline.info.skipped) == sorted(bad)
    assert f"data: skipped {len(bad)} unreadable file(s)" in capsys.readouterr().out
    assert pipeline.info.input_shape == (6, 6, 3)
    assert pipeline.info.class_names == ["cat", "dog"]
    assert sum(pipeline.info.split_sizes.values()) == 24
    for x, _ in pipeline.dataset("train"):  # the training path (shuffle, batch) runs too
        assert x.shape == (4, 6, 6, 3)
    images, labels = all_examples(pipeline)
    assert len(images) == 24
    # PNG is lossless: every PNG comes back exactly, with its folder's label
    png_expected = as_multiset([a for a, _ in pngs.values()], [l for _, l in pngs.values()])
    got = as_multiset(images, labels)
    assert all(item in got for item in png_expected)
    # JPEG is lossy: each decoded JPEG is close to its original and keeps its label
    for array, label in jpegs.values():
        errors = np.abs(images.astype(np.float32) - array.astype(np.float32)).mean(axis=(1, 2, 3))
        nearest = int(np.argmin(errors))
        assert errors[nearest] < 3 and labels[nearest] == label


def test_image_folder_grayscale_reads_every_format(tmp_path):
    """channels=1 works for BMP and GIF too (TF decodes those only to RGB)."""
    rng = np.random.default_rng(1)
    arrays = {}
    for label, name in enumerate(["a", "b"]):
        (tmp_path / name).mkdir()
        for fmt in ("PNG", "BMP", "GIF", "JPEG"):
            array = rng.integers(0, 256, (5, 5, 1)).astype(np.uint8) if fmt != "JPEG" else np.full((5, 5, 1), 99, np.uint8)
            path = tmp_path / name / f"x.{fmt.lower()}"
            path.write_bytes(_encode(array, fmt))
            arrays[str(path)] = array
    source = image_folder(tmp_path, channels=1)
    assert source.skipped == []
    decoded = [image.numpy() for image, _ in source.dataset_fn()]
    assert len(decoded) == 8 and all(image.shape == (5, 5, 1) for image in decoded)
    originals = [a.tobytes() for p, a in arrays.items() if not p.endswith(".jpeg")]
    assert sum(image.tobytes() in originals for image in decoded) == 6  # PNG, BMP, GIF exact


def test_image_folder_missing_or_empty_folder(tmp_path):
    with pytest.raises(SpecError, match="directory not found"):
        make_spec({"source": {"name": "image_folder", "path": str(tmp_path / "missing")}})
    with pytest.raises(DataError, match="not found"):
        image_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="no class sub-folders"):
        image_folder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match="no readable images"):
        image_folder(tmp_path)


def test_image_folder_varying_sizes_need_a_resize(tmp_path):
    rng = np.random.default_rng(2)
    for label, name in enumerate(["a", "b"]):
        (tmp_path / name).mkdir()
        for i, (h, w) in enumerate([(6, 6), (8, 5), (7, 9), (4, 4)] * 2):
            (tmp_path / name / f"{i}.png").write_bytes(_encode(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), "PNG"))
    data = {"source": {"name": "image_folder", "path": str(tmp_path)}, "batch_size": 2}
    with pytest.raises(DataError, match="varying shape.*add a resize op"):
        DataPipeline(make_spec(data))
    pipeline = DataPipeline(make_spec({**data, "preprocess": [{"name": "resize", "size": [5, 6]}]}))
    assert pipeline.info.input_shape == (5, 6, 3)
    images, labels = all_examples(pipeline)
    assert images.shape == (16, 5, 6, 3)
    assert np.bincount(labels).tolist() == [8, 8]


# ---------------------------------------------------------------- tfrecord


def test_tfrecord_round_trip_is_pixel_exact(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (30, 6, 5, 1)).astype(np.uint8)
    labels = np.arange(30) % 3
    write_tfrecord(tmp_path / "part-0.tfrecord", images[:17], labels[:17])
    write_tfrecord(tmp_path / "part-1.tfrecord", images[17:], labels[17:])
    pattern = str(tmp_path / "part-*.tfrecord")

    source = tfrecord(pattern, channels=1)
    assert source.images is None and sorted(source.labels.tolist()) == sorted(labels.tolist())
    spec = make_spec({"source": {"name": "tfrecord", "files": pattern, "channels": 1, "label_names": ["x", "y", "z"]}, "batch_size": 4})
    pipeline = DataPipeline(spec)
    assert pipeline.info.input_shape == (6, 5, 1)
    assert pipeline.info.class_names == ["x", "y", "z"]
    for split in ("train", "val", "test"):
        got = to_numpy(pipeline.dataset(split, training=False))
        index = pipeline.indices[split]
        assert as_multiset(*got) == as_multiset(images[index], labels[index])

    # channels=3 turns grayscale into three equal channels
    rgb = np.stack([image.numpy() for image, _ in tfrecord(pattern).dataset_fn()])
    assert rgb.shape == (30, 6, 5, 3)
    np.testing.assert_array_equal(rgb, np.repeat(images, 3, axis=-1))


def test_tfrecord_errors(tmp_path):
    with pytest.raises(DataError, match="no files match"):
        tfrecord(str(tmp_path / "*.tfrecord"))
    (tmp_path / "bad.tfrecord").write_bytes(os.urandom(300))
    with pytest.raises(DataError, match="cannot read"):
        tfrecord(str(tmp_path / "*.tfrecord"))


# ---------------------------------------------------------------- tfds


class KcvTinyShades(tfds_lib.core.GeneratorBasedBuilder):
    """A tiny generated TFDS data set: dark (label 0) and light (label 1) 6×6 grayscale squares."""

    VERSION = tfds_lib.core.Version("1.0.0")
    SIZE = 24
    # TFDS looks up the code path of a builder defined in a package (this test package) through
    # `importlib_resources`, which this environment lacks; an unknown module makes it skip that.
    __module__ = "kcv_tiny_shades_builder"

    def _info(self):
        return tfds_lib.core.DatasetInfo(
            builder=self,
            features=tfds_lib.features.FeaturesDict(
                {"image": tfds_lib.features.Image(shape=(6, 6, 1)), "label": tfds_lib.features.ClassLabel(names=["dark", "light"])}
            ),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(self.SIZE):
            yield i, {"image": self.image(i), "label": i % 2}

    @staticmethod
    def image(i):
        """Example i's pixels: the label sets the level, the index makes each image unique."""
        image = np.full((6, 6, 1), 30 + 150 * (i % 2) + i, np.uint8)
        image[0, 0, 0] = i
        return image


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    KcvTinyShades(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


def test_tfds_reads_a_prepared_builder_by_name(tfds_dir):
    source = tfds("kcv_tiny_shades", data_dir=str(tfds_dir))
    assert source.class_names == ["dark", "light"]
    assert np.bincount(source.labels).tolist() == [12, 12]

    spec = make_spec({"source": {"name": "tfds", "dataset": "kcv_tiny_shades", "data_dir": str(tfds_dir)}, "batch_size": 4})
    pipeline = DataPipeline(spec)
    assert pipeline.info.input_shape == (6, 6, 1)
    assert pipeline.info.class_names == ["dark", "light"]
    images, labels = all_examples(pipeline)
    expected = [KcvTinyShades.image(i) for i in range(24)]
    assert as_multiset(images, labels) == as_multiset(expected, [i % 2 for i in range(24)])


def test_tfds_unprepared_or_unknown_data_sets_are_data_errors(tmp_path, tfds_dir):
    empty = tmp_path / "empty"
    with pytest.raises(DataError, match="not prepared"):
        tfds("kcv_tiny_shades", data_dir=str(empty))
    with pytest.raises(DataError, match="not prepared"):
        tfds("mnist", data_dir=str(empty))  # a real catalogue name: no download is attempted
    assert not empty.exists() or not any(empty.rglob("*"))
    with pytest.raises(DataError, match="cannot open"):
        tfds("kcv_no_such_dataset", data_dir=str(empty))
    with pytest.raises(DataError, match="no split"):
        tfds("kcv_tiny_shades", data_dir=str(tfds_dir), split="validation")


# ---------------------------------------------------------------- class subsets


@pytest.mark.parametrize("classes", [[5, 6], [6, 5], [9, 0, 3]])
def test_digits_subset_keeps_and_relabels_the_chosen_digits(classes):
    everything = DATASETS.get("digits")()
    subset = DATASETS.get("digits")(classes=classes)
    assert subset.class_names == [str(c) for c in classes]
    assert sorted(np.unique(subset.labels)) == list(range(len(classes)))
    keep = np.isin(everything.labels, classes)
    np.testing.assert_array_equal(subset.images, everything.images[keep])  # the same examples, in their order
    np.testing.assert_array_equal(np.array(classes)[subset.labels], everything.labels[keep])  # label i is digit classes[i]


def test_mnist_subset():
    subset = DATASETS.get("mnist")(classes=[7, 1])
    assert subset.class_names == ["7", "1"] and subset.images.shape == (1000, 28, 28, 1)
    assert np.bincount(subset.labels).tolist() == [500, 500]


def test_subset_of_none_is_the_source_itself():
    source = DATASETS.get("digits")()
    assert source.subset(None) is source


@pytest.mark.parametrize("classes", [[5, 5], [3, 10], [-1], []], ids=["duplicate", "too_large", "negative", "empty"])
def test_bad_class_subsets_are_data_errors(classes):
    with pytest.raises(DataError, match=r"classes must be distinct indices in \[0, 10\)"):
        DATASETS.get("digits")(classes=classes)


def test_digit_classes_are_checked_when_the_spec_loads():
    with pytest.raises(SpecError, match=r"data\.source\.classes\[0\].*less than or equal to 9"):
        make_spec({"source": {"name": "digits", "classes": [10]}})
    spec = make_spec({"source": {"name": "digits", "classes": [8, 9]}, "batch_size": 16})
    pipeline = DataPipeline(spec)
    assert pipeline.info.num_classes == 2 and pipeline.info.class_names == ["8", "9"]
    assert sum(pipeline.info.split_sizes.values()) == 174 + 180  # the 8s and 9s of the 1,797 digits


def test_image_folder_refuses_a_class_folder_without_images(image_tree):
    root = image_tree[0]
    (root / "bird").mkdir()
    (root / "fish").mkdir()
    (root / "fish" / "README.txt").write_text("no images here yet")  # not an image: the folder still has none
    with pytest.raises(DataError) as caught:
        image_folder(root)
    assert caught.value.problems == [
        f"{root / name}: class folder '{name}' has no image files; every sub-folder of {root} is a class and needs "
        "at least one readable image (png/jpg/jpeg/bmp/gif): add images or remove the folder"
        for name in ("bird", "fish")
    ]


def test_image_folder_refuses_a_class_folder_of_unreadable_files(image_tree):
    root = image_tree[0]
    (root / "bird").mkdir()
    (root / "bird" / "a.png").write_bytes(os.urandom(100))
    (root / "bird" / "b.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    with pytest.raises(DataError) as caught:
        DataPipeline(make_spec({"source": {"name": "image_folder", "path": str(root)}, "batch_size": 4}))
    [problem] = caught.value.problems
    assert problem.startswith(f"{root / 'bird'}: class folder 'bird' has no readable images: all 2 image file(s) "
                              f"are unreadable (e.g. a.png); every sub-folder of {root} is a class"), problem
