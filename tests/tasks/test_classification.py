"""Multi-crop test-time evaluation: on models whose scores are means of fixed image regions, the 5- and 10-crop
probabilities equal the NumPy average of the softmax over the crops."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from kerascv_suite.spec import validate_spec
from kerascv_suite.spec.errors import SpecError, UserError
from kerascv_suite.tasks.classification import Classification, multi_crop_probabilities

SIZE, CHANNELS, SCALE = 12, 3, 4.0


def region_scores(x):
    """Three class scores, each SCALE × the mean of one region: top-left of channel 0, bottom-right of channel 1,
    and the left three columns of both; a crop's offset and a mirror image change all three."""
    mean = np.mean if isinstance(x, np.ndarray) else ops.mean
    stack = np.stack if isinstance(x, np.ndarray) else ops.stack
    return SCALE * stack([mean(x[:, :4, :6, 0], axis=(1, 2)), mean(x[:, 4:, 6:, 1], axis=(1, 2)),
                          mean(x[:, :, :3, :], axis=(1, 2, 3))], axis=-1)


def channel_scores(x):
    """Three class scores: SCALE × each channel's mean over the whole image."""
    mean = np.mean if isinstance(x, np.ndarray) else ops.mean
    return SCALE * mean(x, axis=(1, 2))


def scoring_model(scores):
    inputs = keras.Input((SIZE, SIZE, CHANNELS))
    return keras.Model(inputs, keras.layers.Lambda(scores)(inputs))


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def images(n=20, seed=0):
    return np.random.default_rng(seed).normal(size=(n, SIZE, SIZE, CHANNELS)).astype(np.float32)


def corner_and_centre_crops(x, crop, padding):
    padded = np.pad(x, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
    spare = padded.shape[1] - crop
    return [padded[:, top:top + crop, left:left + crop]
            for top, left in [(0, 0), (0, spare), (spare, 0), (spare, spare), (spare // 2, spare // 2)]]


def ten_crop_reference(x, padding):
    crops = corner_and_centre_crops(x, SIZE, padding)
    views = crops + [crop[:, :, ::-1] for crop in crops]
    return np.mean([softmax(region_scores(view.astype(np.float64))) for view in views], axis=0)


def test_ten_crops_of_the_padded_images_average_the_softmax_of_each_crop_and_its_mirror_image():
    x = images()
    got = multi_crop_probabilities(scoring_model(region_scores), x, crops=10, padding=2)
    np.testing.assert_allclose(got, ten_crop_reference(x, 2), rtol=1e-5, atol=1e-7)
    # ... which is neither the single-crop answer nor the 5-crop one: the crops and mirror images count
    assert not np.allclose(got, softmax(region_scores(x.astype(np.float64))), atol=1e-3)
    five = multi_crop_probabilities(scoring_model(region_scores), x, crops=5, padding=2)
    np.testing.assert_allclose(five, np.mean([softmax(region_scores(c.astype(np.float64)))
                                              for c in corner_and_centre_crops(x, SIZE, 2)], axis=0), rtol=1e-5, atol=1e-7)
    assert not np.allclose(five, got, atol=1e-3)


def test_five_smaller_crops_are_resized_to_the_model_input_size():
    # 6 × 6 crops of 12 × 12 images, resized back to 12 × 12 (bilinear, ×2 exactly, which keeps every channel's mean):
    # the channel-mean model scores each resized crop as the crop's own channel means.
    x = images()
    got = multi_crop_probabilities(scoring_model(channel_scores), x, crops=5, size=(6, 6))
    expected = np.mean([softmax(channel_scores(c.astype(np.float64))) for c in corner_and_centre_crops(x, 6, 0)], axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_report_gives_the_multi_crop_accuracy_beside_the_single_crop_one(tmp_path):
    x = images(40)
    reference = ten_crop_reference(x, 2)
    labels = np.argmax(reference, axis=1)            # all right by the 10-crop average ...
    labels[:10] = (labels[:10] + 1) % 3              # ... but 10
    task = Classification(test_crops=10, test_crop_padding=2)
    report = task.report(scoring_model(region_scores), {"images": x, "labels": labels}, ["a", "b", "c"], tmp_path)
    single = np.argmax(region_scores(x.astype(np.float64)), axis=1)
    assert report["test_crops"] == {"crops": 10, "crop_size": [SIZE, SIZE], "padding": 2, "accuracy": 0.75,
                                    "single_crop_accuracy": pytest.approx(np.mean(single == labels))}
    assert np.mean(single == labels) != 0.75   # the two accuracies differ on these images
    assert "test_crops" not in Classification().report(scoring_model(region_scores), {"images": x, "labels": labels},
                                                       ["a", "b", "c"], tmp_path)


def test_crop_settings_are_spec_keys_and_inconsistent_ones_are_refused_in_one_line():
    spec = validate_spec({"name": "t", "model": {"name": "linear"},
                          "task": {"name": "classification", "test_crops": 10, "test_crop_padding": 4}})
    assert spec.task.test_crops == 10 and spec.task.test_crop_padding == 4
    with pytest.raises(SpecError, match="test_crops"):
        validate_spec({"name": "t", "model": {"name": "linear"}, "task": {"name": "classification", "test_crops": 7}})
    with pytest.raises(UserError, match="set test_crops: 5 or 10"):
        Classification(test_crop_padding=4)
    with pytest.raises(UserError, match="would cut every crop as the whole image"):
        Classification(test_crops=5)
    with pytest.raises(UserError, match=r"test_crop_size: \[20, 20\] is larger than the 16×16 test images \(padded by 2\)"):
        multi_crop_probabilities(scoring_model(channel_scores), images(), crops=5, size=(20, 20), padding=2)
