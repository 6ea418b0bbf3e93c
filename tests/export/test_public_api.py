"""The Python API's exports: a model trained with your own `model.fit` exports as `kcv export` would.

One softmax classifier (with normalisation statistics adapted on the training split, which the
export must rebuild and bake in) is trained for one epoch through the public API, then written
as a SavedModel and as a TFLite file and run in TensorFlow and in LiteRT.
"""

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import kerascv_suite as kcv
from kerascv_suite.export.savedmodel import versions
from tests.conftest import PIPELINES


@pytest.fixture(scope="module")
def trained():
    spec = kcv.load_spec(PIPELINES / "classification" / "softmax.yaml",
                         overrides=["train.epochs=1", "data.preprocess=[rescale, normalize]"])
    model = kcv.build_model(spec)
    model.fit(kcv.build_dataset(spec, "train"), epochs=1, verbose=0)
    pipeline = kcv.DataPipeline(spec)
    images, _ = pipeline.raw_examples("test", 64)
    expected = np.argmax(model.predict(pipeline.preprocess_images(images), verbose=0), axis=-1)
    return spec, model, images, expected


def test_export_savedmodel_serves_the_models_class_ids(trained, tmp_path):
    spec, model, images, expected = trained
    report = kcv.export_savedmodel(model, spec, tmp_path / "sm")
    assert report["path"] == str(tmp_path / "sm" / spec.name / "1") and versions(tmp_path / "sm" / spec.name) == [1]
    assert (tmp_path / "sm" / "models.config").is_file()
    assert (tmp_path / "sm" / spec.name / "1" / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert set(report["signatures"]) == {"serving_default", "serving_bytes", "serving_examples"}
    assert report["verification"]["largest_differences"]["class_ids"] == 0  # the export's own fresh-process check
    served = tf.saved_model.load(report["path"]).signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_array_equal(served["class_ids"].numpy(), expected)
    assert kcv.export_savedmodel(model, spec, tmp_path / "sm")["version"] == 2  # the next free version


def test_export_tflite_runs_in_litert(trained, tmp_path):
    spec, model, images, expected = trained
    path = tmp_path / "lite" / "softmax.tflite"
    report = kcv.export_tflite(model, spec, path)
    assert report["path"] == str(path) and path.stat().st_size == report["size_bytes"]
    assert report["quantization"] == "none" and report["agreement"] >= 0.999
    assert (path.parent / "labels.txt").read_text().split() == [str(d) for d in range(10)]
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (source,), (target,) = interpreter.get_input_details(), interpreter.get_output_details()
    class_ids = []
    for image in images:
        interpreter.set_tensor(source["index"], image[None].astype(np.uint8))
        interpreter.invoke()
        class_ids.append(int(np.argmax(interpreter.get_tensor(target["index"])[0])))
    np.testing.assert_array_equal(class_ids, expected)
