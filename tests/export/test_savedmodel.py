"""SavedModel exports: layout, signatures in a fresh process, REST bodies, warm-up, atomicity, bad inputs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from kerascv_suite.cli import main
from kerascv_suite.export import savedmodel
from kerascv_suite.export.savedmodel import (
    export_savedmodel,
    rest_body_to_inputs,
    versions,
    write_request_files,
)
from kerascv_suite.spec import load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """LeNet-5 with an adapted normalisation op (its statistics must travel with the export)."""
    spec = load_spec(PIPELINES / "classification" / "lenet5.yaml", overrides=[
        "train.epochs=2", "data.preprocess=[{name: resize, size: [32, 32]}, normalize]"])
    result = train(spec, runs_dir=tmp_path_factory.mktemp("runs"))
    from kerascv_suite.training.trainer import load_run

    spec, pipeline, model, task = load_run(result.run_dir)
    images, _ = pipeline.raw_examples("test", 16)
    expected = tf.nn.softmax(model.predict(pipeline.preprocess_images(images), verbose=0)).numpy()
    return spec, pipeline, model, task, result.run_dir, images, expected


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    spec, pipeline, model, task, *_ = trained
    directory = tmp_path_factory.mktemp("savedmodels")
    report = export_savedmodel(model, pipeline, task, spec, directory=directory, report_dir=directory.parent / "report")
    return directory, report, tf.saved_model.load(report["path"])


def test_layout_versions_and_models_config(trained, exported):
    spec, pipeline, model, task, *_ = trained
    directory, report, _ = exported
    assert report["path"] == str(directory / spec.name / "1") and versions(directory / spec.name) == [1]
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(report["path"]))
    second = export_savedmodel(model, pipeline, task, spec, directory=directory)
    assert second["version"] == 2 and versions(directory / spec.name) == [1, 2]
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse((directory / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    entry, = config.model_config_list.config
    assert entry.name == spec.name and entry.base_path == str((directory / spec.name).resolve())
    assert entry.model_platform == "tensorflow"
    assert "signature_def['serving_bytes']" in (directory.parent / "report" / "saved_model_cli.txt").read_text()


def test_every_signature_matches_keras_in_a_fresh_process(exported):
    _, report, _ = exported
    verification = report["verification"]
    assert set(verification["signatures"]) == {"serving_default", "serving_bytes", "serving_examples"}
    assert all(set(outputs) == {"probabilities", "class_ids", "class_names"} for outputs in verification["signatures"].values())
    assert verification["largest_differences"]["probabilities"] <= 1e-5
    assert verification["largest_differences"]["class_ids"] == 0 and verification["largest_differences"]["class_names"] == 0


def test_signature_outputs_and_any_input_size(trained, exported):
    *_, images, expected = trained
    _, _, loaded = exported
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    assert set(outputs) == {"probabilities", "class_ids", "class_names"}
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    assert [n.decode() for n in outputs["class_names"].numpy()] == [str(i) for i in expected.argmax(1)]
    bigger = tf.image.resize(tf.cast(images, tf.float32), (24, 24), method="nearest")
    resized = loaded.signatures["serving_default"](images=tf.cast(bigger, tf.uint8))
    assert resized["probabilities"].shape == expected.shape  # any H, W is resized in the graph
    assert np.mean(resized["class_ids"].numpy() == expected.argmax(1)) > 0.8


def test_rest_bodies_in_both_formats_answer_like_keras(trained, exported, tmp_path):
    *_, images, expected = trained
    _, _, loaded = exported
    files = write_request_files(tmp_path, images[:4])
    assert {f.name for f in files} == {"serving_bytes.instances.json", "serving_bytes.inputs.json",
                                       "serving_default.instances.json", "serving_default.inputs.json"}
    for file in files:
        body = json.loads(file.read_text())
        if file.name.startswith("serving_bytes"):
            entries = body.get("instances") or body["inputs"]["image_bytes"]
            assert all(set(e) == {"b64"} for e in entries)
        signature, inputs = rest_body_to_inputs(body)
        outputs = loaded.signatures[signature](**inputs)
        np.testing.assert_allclose(outputs["probabilities"].numpy(), expected[:4], atol=1e-5, err_msg=file.name)


def test_warmup_file_parses_as_prediction_logs(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    _, report, _ = exported
    path = os.path.join(report["path"], "assets.extra", "tf_serving_warmup_requests")
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
        "serving_default", "serving_bytes", "serving_examples"]
    first = tf.make_ndarray(logs[0].predict_log.request.inputs["images"])
    assert first.dtype == np.uint8 and first.shape[0] == 2


def test_bad_serving_inputs_are_rejected_with_errors(exported):
    _, _, loaded = exported
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        loaded.signatures["serving_default"](images=tf.zeros([1, 8, 8, 1], tf.float32))  # wrong dtype
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        loaded.signatures["serving_default"](images=tf.zeros([8, 8, 1], tf.uint8))  # wrong rank
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_bytes"](image_bytes=tf.constant([b"not an image"]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_examples"](examples=tf.constant([b"\x00garbage"]))


def test_existing_versions_are_refused_unless_overwrite(trained, tmp_path):
    spec, pipeline, model, task, *_ = trained
    first = export_savedmodel(model, pipeline, task, spec, directory=tmp_path, version=3)
    marker = os.path.join(first["path"], "saved_model.pb")
    before = os.stat(marker).st_mtime_ns
    with pytest.raises(UserError, match=r"version 3 is already exported; pass --overwrite"):
        export_savedmodel(model, pipeline, task, spec, directory=tmp_path, version=3)
    time.sleep(0.01)
    export_savedmodel(model, pipeline, task, spec, directory=tmp_path, version=3, overwrite=True)
    assert os.stat(marker).st_mtime_ns != before and versions(tmp_path / spec.name) == [3]
    assert not [p for p in os.listdir(tmp_path / spec.name) if p.startswith(".")]


def test_a_failing_export_leaves_no_version_behind(trained, tmp_path, monkeypatch):
    spec, pipeline, model, task, *_ = trained
    export_savedmodel(model, pipeline, task, spec, directory=tmp_path)

    def crash(*args):
        raise RuntimeError("crash after writing, before the rename")

    monkeypatch.setattr(savedmodel, "_verify_in_fresh_process", crash)
    with pytest.raises(RuntimeError):
        export_savedmodel(model, pipeline, task, spec, directory=tmp_path)
    assert versions(tmp_path / spec.name) == [1] and sorted(os.listdir(tmp_path / spec.name)) == ["1"]


def test_a_killed_export_never_shows_a_half_written_version(trained, tmp_path):
    spec, *_, run_dir, _, _ = trained
    command = [sys.executable, "-m", "kerascv_suite.cli", "export", str(run_dir), "--directory", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True)
    exporter = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = tmp_path / spec.name
    deadline = time.time() + 120
    while time.time() < deadline and not [p for p in base.iterdir() if p.name.startswith(".2.tmp-")]:
        time.sleep(0.01)
    exporter.send_signal(signal.SIGKILL)
    exporter.wait()
    assert versions(base) == [1]  # version 2 never appeared; version 1 is untouched
    assert tf.saved_model.load(str(base / "1")).signatures["serving_default"] is not None
    leftovers = [p.name for p in base.iterdir() if p.name != "1"]
    assert all(name.startswith(".2.tmp-") for name in leftovers)  # hidden, not a version TF Serving loads


def test_kcv_export_and_predict(trained, tmp_path, capsys):
    *_, run_dir, images, expected = trained
    assert main(["export", str(run_dir), "--directory", str(tmp_path), "--request-json"]) == 0
    out = capsys.readouterr().out
    assert "fresh-process check, largest differences from Keras: probabilities" in out and "class_ids 0," in out
    np.save(tmp_path / "batch.npy", images[:2])
    from PIL import Image

    Image.fromarray(images[0][..., 0]).save(tmp_path / "one.png")
    assert main(["predict", str(tmp_path / "lenet5_digits"), str(tmp_path / "one.png"), str(tmp_path / "batch.npy"), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"{tmp_path / 'one.png'}: {expected[0].argmax()} ")
    np.save(tmp_path / "float.npy", images[:2].astype("float32"))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    for bad, message in (("float.npy", "expected uint8 pixels"), ("bad.png", "unreadable image")):
        assert main(["predict", str(tmp_path / "lenet5_digits"), str(tmp_path / bad)]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="tensorflow_model_server is not installed here (no package provides it on these machines)")
def test_real_model_server_answers_the_generated_requests(exported, trained, tmp_path):
    import urllib.request

    directory, report, _ = exported
    *_, images, expected = trained
    port = 8500 + os.getpid() % 1000
    server = subprocess.Popen(["tensorflow_model_server", f"--rest_api_port={port}", "--port=0",
                               f"--model_config_file={directory / 'models.config'}"])
    try:
        files = write_request_files(tmp_path, images[:4])
        time.sleep(5)
        for file in files:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/lenet5_digits:predict", data=file.read_bytes())
            answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
            rows = answer.get("predictions") or answer["outputs"]["probabilities"]
            probabilities = np.array([r["probabilities"] for r in rows] if isinstance(rows[0], dict) else rows)
            np.testing.assert_allclose(probabilities, expected[:4], atol=1e-5)
    finally:
        server.kill()
