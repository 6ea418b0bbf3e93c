"""Versioned, atomic SavedModel exports laid out for TF Serving, checked in a fresh process.

`export_savedmodel` writes ``<directory>/<name>/<version>/`` — the base-path layout TF Serving
watches — with the signatures of the task's serving module (a classifier's `ServingModule`, a
generative model's `GeneratorModule`), warm-up requests in
``assets.extra/tf_serving_warmup_requests``, and refreshes ``<directory>/models.config`` (a
``model_config_list`` for ``tensorflow_model_server --model_config_file``). The version is
built in a temporary folder beside its target, loaded by a fresh Python process whose
signatures must reproduce the Keras model's outputs within the module's tolerances, and only
then renamed into place: TF Serving never sees half a model, a failed or killed
export leaves the earlier versions as they were, and an existing version is replaced only
with ``overwrite=True``.

Serving a finished export::

    tensorflow_model_server --rest_api_port=8501 --model_config_file=$PWD/savedmodels/models.config
    curl -d @serving_bytes.instances.json localhost:8501/v1/models/lenet5_digits:predict

Example::

    report = export_savedmodel(model, pipeline, task, spec, report_dir=run_dir / "export")
    report["path"], report["verification"]["largest_differences"]
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascv_suite.core.runs import write_atomic
from kerascv_suite.export.serving import INPUT_NAMES, encode_png
from kerascv_suite.spec.errors import UserError

VERIFY_EXAMPLES = 32
WARMUP_EXAMPLES = 2


def versions(base: Path) -> list[int]:
    """The integer versions already exported under a model's base path."""
    return sorted(int(p.name) for p in Path(base).iterdir() if p.is_dir() and p.name.isdigit()) if Path(base).is_dir() else []


def write_warmup_requests(export_dir: Path, model_name: str, cases: dict) -> Path:
    """assets.extra/tf_serving_warmup_requests: one PredictionLog per signature (TF Serving replays them at load).

    `cases` maps each signature to (inputs, expected outputs), as `check_cases` of a serving module gives them.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = Path(export_dir) / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, (inputs, _) in cases.items():
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
            for key, values in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(tf.constant(values[:WARMUP_EXAMPLES])))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def write_models_config(directory: Path) -> Path:
    """<directory>/models.config: every exported model, as TF Serving's `model_config_list` text proto."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    directory = Path(directory)
    config = model_server_config_pb2.ModelServerConfig()
    for base in sorted(p for p in directory.iterdir() if p.is_dir() and versions(p)):
        entry = config.model_config_list.config.add()
        entry.name = base.name
        entry.base_path = str(base.resolve())
        entry.model_platform = "tensorflow"
    path = directory / "models.config"
    write_atomic(path, text_format.MessageToString(config))
    return path


def rest_body_to_inputs(body: dict) -> tuple[str, dict[str, tf.Tensor]]:
    """Map a TF Serving REST predict body to (signature name, input tensors) the way the server does.

    Row format ``{"instances": [...]}`` stacks one entry per example (an object per example when
    the signature has several inputs); columnar format ``{"inputs": ...}`` is already batched.
    ``{"b64": "..."}`` stands for binary bytes. Useful to check a request file without a server.
    """
    signature = body.get("signature_name", "serving_default")
    name = INPUT_NAMES.get(signature)

    def decode(value):
        if isinstance(value, dict) and set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    if "instances" in body:
        rows = [decode(row) for row in body["instances"]]
        if rows and isinstance(rows[0], dict):
            inputs = {key: [row[key] for row in rows] for key in rows[0]}
        else:
            inputs = {name: rows}
    elif "inputs" in body:
        columns = body["inputs"]
        inputs = {k: decode(v) for k, v in columns.items()} if isinstance(columns, dict) else {name: decode(columns)}
    else:
        raise UserError("REST body needs 'instances' (row format) or 'inputs' (columnar format)")
    dtype = {"images": tf.uint8}.get
    return signature, {key: tf.constant(value, dtype=dtype(key)) for key, value in inputs.items()}


def write_request_files(folder: Path, images: np.ndarray) -> list[Path]:
    """REST request bodies for TF Serving in both formats: b64 PNG images and raw uint8 pixels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    b64 = [{"b64": base64.b64encode(png).decode()} for png in encode_png(images)]
    pixels = images.tolist()
    bodies = {
        "serving_bytes.instances.json": {"signature_name": "serving_bytes", "instances": b64},
        "serving_bytes.inputs.json": {"signature_name": "serving_bytes", "inputs": {"image_bytes": b64}},
        "serving_default.instances.json": {"signature_name": "serving_default", "instances": pixels},
        "serving_default.inputs.json": {"signature_name": "serving_default", "inputs": {"images": pixels}},
    }
    paths = []
    for file_name, body in bodies.items():
        (folder / file_name).write_text(json.dumps(body))
        paths.append(folder / file_name)
    return paths


def _verify_in_fresh_process(export_dir: Path, cases: dict) -> dict:
    """Load the SavedModel in a new Python process, call every signature on its check inputs, report the differences."""
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / "cases.pickle"
        inputs.write_bytes(pickle.dumps(cases))
        done = subprocess.run(
            [sys.executable, "-m", "kerascv_suite.export.verify", str(export_dir), str(inputs)],
            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    if done.returncode != 0:
        raise UserError(f"export check: the SavedModel did not load and run in a fresh process: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_verification(differences: dict, tolerances: dict) -> dict:
    """The fresh-process differences against the serving module's tolerances: the report's `verification` entry.

    Raises UserError when an output of a signature differs from the Keras model's by more than its tolerance.
    """
    largest = {output: max(per[output] for per in differences.values()) for output in tolerances}
    over = [f"{output} (largest difference {largest[output]:.3g} > {tolerances[output]})"
            for output in tolerances if largest[output] > tolerances[output]]
    if over:
        raise UserError(f"export check: signatures differ from the Keras model in {', '.join(over)}")
    return {"largest_differences": largest, "tolerances": tolerances, "signatures": differences}


def export_savedmodel(model, pipeline, task, spec, directory=None, version=None, overwrite=False, report_dir=None,
                      serving=None) -> dict:
    """Export `model` (through `serving`, default the task's serving module) as version `version` (default: next free) of `spec.name`.

    Returns the export report (path, version, signatures, fresh-process verification).
    Raises UserError when the version exists (without `overwrite`) or the check fails.
    """
    base = Path(directory or spec.export.directory) / spec.name
    base.mkdir(parents=True, exist_ok=True)
    version = int(version or spec.export.version or (max(versions(base), default=0) + 1))
    target = base / str(version)
    if target.exists() and not overwrite:
        raise UserError(f"{target}: version {version} is already exported; pass --overwrite to replace it, or omit the version to write {max(versions(base)) + 1}")
    serving = serving or task.serving_module(model, pipeline)
    cases = serving.check_cases(model, VERIFY_EXAMPLES)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=base))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model server running as another user must read it
    try:
        tf.saved_model.save(serving, str(tmp), signatures=serving.signatures())
        write_warmup_requests(tmp, spec.name, cases)
        verification = check_verification(_verify_in_fresh_process(tmp, cases), serving.tolerances)
        verification["examples"] = VERIFY_EXAMPLES
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{version}.old-", dir=base))
            os.rename(target, retired / "old")
            os.rename(tmp, target)
            shutil.rmtree(retired)
        else:
            os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    config = write_models_config(base.parent)
    report = {"path": str(target), "version": version, "signatures": list(serving.signatures()), "models_config": str(config),
              "verification": verification}
    if report_dir is not None:
        report_dir = Path(report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        cli = subprocess.run(["saved_model_cli", "show", "--dir", str(target), "--all"], capture_output=True, text=True)
        (report_dir / "saved_model_cli.txt").write_text(cli.stdout + cli.stderr)
    return report
