"""Classification + localisation: target selection, the IoU metric, a smoke run's report and its exports."""

import json

import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.tasks.localization import BoxIoU, Localization, largest_object, paired_iou
from tests.conftest import PIPELINES
from tests.tasks.conftest import exporting_smoke_run

SPEC = PIPELINES / "detection" / "localization_shapes.yaml"


def test_largest_object_skips_padding_rows():
    boxes = np.array([[[0, 0, 4, 4], [2, 2, 12, 10], [0, 0, 50, 50]]], np.float32)
    classes = np.array([[1, 2, -1]], np.int32)   # the largest row is padding
    box, label = largest_object(boxes, classes)
    np.testing.assert_array_equal(np.asarray(box), [[2, 2, 12, 10]])
    assert int(np.asarray(label)[0]) == 2


def test_paired_iou_matches_hand_computed_values():
    true = np.array([[0, 0, 10, 10], [0, 0, 4, 4], [0, 0, 2, 2]], np.float32)
    predicted = np.array([[5, 5, 15, 15], [0, 0, 2, 4], [3, 3, 5, 5]], np.float32)
    np.testing.assert_allclose(np.asarray(paired_iou(true, predicted)), [25 / 175, 8 / 16, 0.0], atol=1e-6)
    metric = BoxIoU()
    metric.update_state(true, predicted)
    assert float(metric.result()) == pytest.approx((25 / 175 + 0.5) / 3, abs=1e-6)
    assert BoxIoU.from_config(metric.get_config()).name == "iou"


def test_targets_are_the_largest_box_as_image_fractions_with_a_weight_for_dropped_objects():
    batch = {
        "images": tf.zeros([2, 32, 64, 3]),
        "boxes": tf.constant([[[8, 4, 24, 20]], [[0, 0, 0, 0]]], tf.float32),
        "classes": tf.constant([[2], [-1]], tf.int32),   # the second object left the image
    }
    images, targets, weights = Localization().targets(batch)
    np.testing.assert_allclose(targets["box"].numpy()[0], [8 / 64, 4 / 32, 24 / 64, 20 / 32])
    np.testing.assert_array_equal(targets["class"].numpy(), [2, 0])
    np.testing.assert_array_equal(weights.numpy(), [1.0, 0.0])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return exporting_smoke_run(SPEC, tmp_path_factory.mktemp("runs"))


def test_smoke_run_reports_accuracy_iou_and_draws_the_worst_boxes(run):
    report = run.metrics["localization"]
    assert 0.0 <= report["mean_iou"] <= 1.0 and 0.0 <= report["accuracy"] <= 1.0
    assert report["mean_iou"] == pytest.approx(run.metrics["test"]["box_iou"], abs=1e-4)
    assert report["accuracy"] == pytest.approx(run.metrics["test"]["class_accuracy"], abs=1e-6)
    assert (run.run_dir / "worst.png").stat().st_size > 1000
    assert run.metrics["train"]["traces"]["train"] == 1


def test_exports_serve_boxes_in_the_request_pixels(run):
    export = run.metrics["export"]
    assert set(export["savedmodel"]["verification"]["largest_differences"]) >= {"boxes", "class_ids", "probabilities"}
    assert export["tflite"]["agreement"] >= 0.999 and export["tflite"]["max_abs_differences"]["boxes"] < 1e-3
    served = tf.saved_model.load(export["savedmodel"]["path"]).signatures["serving_default"]
    image = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    small = served(images=tf.constant(image))
    large = served(images=tf.constant(np.repeat(np.repeat(image, 2, axis=1), 2, axis=2)))   # the same scene at 128×128
    assert small["boxes"].shape == (1, 4) and small["class_names"].dtype == tf.string
    np.testing.assert_allclose(large["boxes"].numpy(), 2 * small["boxes"].numpy(), atol=1.5)
    assert json.loads((run.run_dir / "metrics.json").read_text())["export"]["tflite"]["quantization"] == "none"
