"""TFLite export: every quantization mode converted from a trained LeNet-5, run in LiteRT, and judged.

One model is trained in-process (3 epochs on the digits, ≈ 0.95 test accuracy) so that int8
calibration is meaningful; each mode's file is compared with the Keras model on the test split's
raw uint8 images, and `export_tflite` is checked to keep good files and refuse bad ones.
"""

import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.export import tflite
from kerascv_suite.export.serving import ServingModule
from kerascv_suite.spec import load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.spec.schema import TFLiteSpec
from kerascv_suite.training.trainer import compile_model
from tests.conftest import PIPELINES


@pytest.fixture(scope="module")
def trained():
    spec = load_spec(PIPELINES / "classification" / "lenet5.yaml")
    keras.utils.set_random_seed(0)
    pipeline = DataPipeline(spec)
    model, task = compile_model(spec, pipeline.info)
    model.fit(pipeline.dataset("train"), epochs=3, shuffle=False, verbose=0)  # the pipeline shuffles
    return ServingModule(model, pipeline, task), pipeline


@pytest.fixture(scope="module")
def converted(trained):
    serving, pipeline = trained
    calibration, _ = pipeline.raw_examples("train", 200)
    return {mode: tflite.convert(serving, mode, calibration) for mode in tflite.MODES}


@pytest.fixture(scope="module")
def test_images(trained):
    return trained[1].raw_examples("test")[0]


@pytest.mark.parametrize("mode", tflite.MODES)
def test_each_mode_runs_in_litert_and_agrees_with_keras(mode, trained, converted, test_images):
    serving, pipeline = trained
    interpreter = Interpreter(model_content=converted[mode])
    interpreter.allocate_tensors()
    (source,), (target,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert source["dtype"] == np.uint8  # raw pixels in, for every mode: the preprocessing is in the file
    assert source["quantization"] == (0.0, 0)  # the pixels themselves, not a quantized stand-in
    assert list(source["shape"]) == [1, *pipeline.info.raw_shape] == [1, 8, 8, 1]
    assert list(target["shape"]) == [1, pipeline.info.num_classes]
    assert target["dtype"] == (np.uint8 if mode == "int8_full" else np.float32)

    report = tflite.evaluate(converted[mode], serving, test_images)
    print(f"\n{mode}: {report}")
    assert report["examples"] == len(test_images) == pipeline.info.split_sizes["test"]
    assert report["agreement"] >= tflite.default_threshold(mode)
    if mode == "none":
        assert report["max_abs_difference"] < 1e-5
    elif mode == "float16":
        assert report["max_abs_difference"] < 1e-3
    else:
        assert report["max_abs_difference"] < 0.05
    assert 0 < report["median_latency_ms"] < 50
    assert report["size_bytes"] == len(converted[mode])


def test_quantized_files_are_smaller(converted):
    sizes = {mode: len(data) for mode, data in converted.items()}
    ratio = sizes["int8_full"] / sizes["none"]
    print(f"\nsizes {sizes}; int8_full / none = {ratio:.3f}")
    assert ratio < 0.4  # int8 weights: about a quarter of float32
    assert sizes["dynamic"] < 0.4 * sizes["none"]
    assert sizes["float16"] < 0.6 * sizes["none"]


def test_per_tensor_scales_make_a_smaller_file_that_still_agrees(trained, converted, test_images):
    serving, pipeline = trained
    calibration, _ = pipeline.raw_examples("train", 200)
    per_tensor = tflite.convert(serving, "int8_full", calibration, per_channel=False)
    # 236 output channels (6 + 16 + 120 + 84 + 10) each lose a float32 scale and an int64 zero point
    assert len(converted["int8_full"]) - len(per_tensor) >= 236 * 12 - 11 * 12
    assert tflite.evaluate(per_tensor, serving, test_images)["agreement"] >= 0.98


def test_int8_full_outputs_are_dequantized(converted, trained, test_images):
    probabilities, times = tflite.run_tflite(converted["int8_full"], test_images[:20])
    assert probabilities.dtype == np.float32 and len(times) == 20
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.05)
    reference = trained[0].predict(tf.constant(test_images[:20]))["probabilities"].numpy()
    np.testing.assert_array_equal(probabilities.argmax(axis=1), reference.argmax(axis=1))


def test_export_writes_the_file_and_reports(trained, tmp_path):
    serving, pipeline = trained
    path = tmp_path / "out" / "model.tflite"
    report = tflite.export_tflite(serving, pipeline, TFLiteSpec(quantization="int8_full"), path)
    assert set(report) == {
        "quantization", "path", "size_bytes", "agreement", "max_abs_difference", "max_abs_differences",
        "median_latency_ms", "test_examples", "threshold",
    }
    assert report["quantization"] == "int8_full" and report["path"] == str(path)
    assert report["threshold"] == 0.98 and report["agreement"] >= 0.98
    assert report["test_examples"] == pipeline.info.split_sizes["test"]
    assert report["size_bytes"] == path.stat().st_size
    assert [p.name for p in path.parent.iterdir()] == ["model.tflite"]  # no temp file left beside it
    assert tflite.input_details(path.read_bytes())["dtype"] == np.uint8


def test_export_uses_the_specs_min_agreement(trained, tmp_path):
    serving, pipeline = trained
    report = tflite.export_tflite(serving, pipeline, TFLiteSpec(quantization="none", min_agreement=1.0), tmp_path / "m.tflite")
    assert report["threshold"] == 1.0 and report["agreement"] == 1.0


class BlackCalibration:
    """The real pipeline, except that its training images (the calibration data) are all black."""

    def __init__(self, pipeline):
        self.pipeline, self.info = pipeline, pipeline.info

    def raw_examples(self, split, limit=None):
        images, labels = self.pipeline.raw_examples(split, limit)
        return (np.zeros_like(images) if split == "train" else images), labels


def test_export_refuses_a_badly_calibrated_file_and_removes_it(trained, tmp_path):
    serving, pipeline = trained
    path = tmp_path / "model.tflite"
    with pytest.raises(UserError) as caught:
        tflite.export_tflite(serving, BlackCalibration(pipeline), TFLiteSpec(quantization="int8_full", calibration_examples=4), path)
    message = str(caught.value)
    assert message.startswith("tflite int8_full: top-1 agreement 0.")
    assert "below min_agreement 0.98" in message and "\n" not in message
    assert not path.exists() and list(tmp_path.iterdir()) == []


class WithDeterminant:
    """Serving-like: uint8 [N, 4, 4, 1] → probabilities, through tf.linalg.det (no TFLite kernel)."""

    image_size, channels = (4, 4), 1

    def predict(self, images):
        x = tf.reshape(tf.cast(images, tf.float32) / 255.0, [-1, 4, 4])
        det = tf.linalg.det(x)
        return {"probabilities": tf.nn.softmax(tf.stack([det, -det], axis=-1))}


def test_unsupported_ops_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(UserError) as caught:
        tflite.convert(WithDeterminant(), "none")
    assert str(caught.value).startswith("tflite none: ops the converter cannot handle: MatrixDeterminant ")
    assert list(tmp_path.glob("kcv-tflite-*")) == []  # the temporary SavedModel is removed


def test_op_names_parsed_from_converter_messages():
    # Excerpt of TF 2.21's error for tf.math.bessel_i0e (a custom-op failure rather than a flex one).
    message = (
        "<unknown>:0: error: loc(callsite(fused[\"BesselI0e:\", ...))): 'tf.BesselI0e' op is neither a custom op nor a flex op\n"
        "<unknown>:0: error: failed while converting: 'main': \n"
        "Some ops in the model are custom ops, See instructions to implement custom ops: https://www.tensorflow.org/lite/guide/ops_custom \n"
        "Custom ops: BesselI0e, Lgamma\n"
        "Details:\n"
        "\ttf.BesselI0e(tensor<1x4x4xf32>) -> (tensor<1x4x4xf32>) : {device = \"\"}\n"
        '  %9 = "tf.BesselI0e"(%8) {device = ""} : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>\n'
        '  %6 = "tfl.cast"(%arg0) : (tensor<1x4x4x1xui8>) -> tensor<1x4x4x1xf32>\n'
    )
    assert tflite.unsupported_ops(message) == ["BesselI0e", "Lgamma"]
    assert tflite.unsupported_ops("Flex ops: FlexMatrixDeterminant, FlexSvd\n") == ["MatrixDeterminant", "Svd"]
    assert tflite.unsupported_ops("some other failure inside a tf.function(x)") == []


def test_bad_arguments_are_user_errors(trained):
    with pytest.raises(UserError, match="unknown quantization 'int4'"):
        tflite.convert(trained[0], "int4")
    with pytest.raises(UserError, match="tflite int8: needs representative"):
        tflite.convert(trained[0], "int8")
