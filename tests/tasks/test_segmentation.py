"""Semantic segmentation: per-class IoU, a smoke FCN run's report, and exports that answer at the request's size."""

import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.tasks.segmentation import per_class_iou
from tests.conftest import PIPELINES
from tests.tasks.conftest import exporting_smoke_run

SPEC = PIPELINES / "segmentation" / "fcn_shapes.yaml"


def test_per_class_iou_matches_scikit_learn():
    from sklearn.metrics import confusion_matrix, jaccard_score

    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    expected = jaccard_score(truth, predicted, average=None, labels=[0, 1, 2, 3])
    np.testing.assert_allclose(per_class_iou(confusion_matrix(truth, predicted, labels=[0, 1, 2, 3])), expected)
    assert np.isnan(per_class_iou(np.zeros((2, 2), np.int64))).all()   # a class that never occurs has no IoU


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return exporting_smoke_run(SPEC, tmp_path_factory.mktemp("runs"))


def test_smoke_run_reports_pixel_accuracy_and_per_class_iou(run):
    report = run.metrics["segmentation"]
    assert set(report["per_class_iou"]) == {"background", "circle", "square", "triangle"}
    assert report["pixel_accuracy"] == pytest.approx(run.metrics["test"]["pixel_accuracy"], abs=1e-5)
    assert report["mean_iou"] == pytest.approx(run.metrics["test"]["mean_iou"], abs=1e-4)   # ours and keras.metrics.MeanIoU
    assert (run.run_dir / "masks.png").is_file() and (run.run_dir / "confusion_matrix.png").is_file()
    assert run.metrics["train"]["traces"]["train"] == 1


def test_exports_return_a_class_map_at_the_request_size(run):
    export = run.metrics["export"]
    assert export["savedmodel"]["verification"]["largest_differences"]["class_map"] == 0
    assert export["tflite"]["max_abs_differences"]["probabilities"] < 1e-4
    served = tf.saved_model.load(export["savedmodel"]["path"]).signatures["serving_default"]
    out = served(images=tf.zeros([2, 48, 80, 3], tf.uint8))
    assert out["class_map"].dtype == tf.uint8 and out["class_map"].shape == (2, 48, 80)
    assert out["probabilities"].shape == (2, 48, 80, 4)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=-1), 1.0, atol=1e-5)
