"""TFLite files for phones: the serving graph converted, quantized, and checked in LiteRT.

`export_tflite` converts a `ServingModule`'s graph for ONE image at the source's size — uint8
pixels [1, H, W, C] in, the task's `tflite_outputs` out (a classifier's ``probabilities``
[1, num_classes]; a localiser's also ``boxes``; a segmenter's ``probabilities`` [1, H, W, K] and
``class_map``), the spec's preprocessing baked in, so a phone app sends camera pixels exactly as a TF Serving client does. It then runs every
test image through the LiteRT interpreter (the runtime phones use) and compares with the Keras
model on the same uint8 images; a file whose top-1 agreement is below the spec's
``min_agreement`` is deleted and the export fails, because quantization can silently wreck a
model (a badly calibrated int8 file still runs, it just answers differently).

Quantization modes (``export.tflite.quantization``):

- ``none``: float32 weights and activations;
- ``dynamic``: int8 weights, float activations (about 4× smaller, no calibration);
- ``float16``: float16 weights (about 2× smaller);
- ``int8``: int8 weights and activations calibrated on training images, float ops where an op
  has no integer kernel;
- ``int8_full``: integer-only (every op int8, uint8 input and output), for integer-only
  accelerators; its probabilities come back as uint8 and are dequantized for the comparison.

Conversion goes through a temporary SavedModel with one fixed-shape ``tflite`` signature and
``tf.lite.TFLiteConverter.from_saved_model``: on this stack ``from_concrete_functions`` with a
trackable object produced files with uninitialised variables (NaN outputs).

Example::

    serving = ServingModule(model, pipeline, task)
    report = export_tflite(serving, pipeline, spec.export.tflite, run_dir / "model.tflite")
    report["agreement"], report["size_bytes"], report["median_latency_ms"]
"""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascv_suite.core import compat
from kerascv_suite.core.runs import write_atomic
from kerascv_suite.spec.errors import UserError

MODES = ("none", "dynamic", "float16", "int8", "int8_full")
FLOAT_MODES = ("none", "float16")
SIGNATURE = "tflite"
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
WARMUP_INVOKES = 3


def default_threshold(quantization: str) -> float:
    """The least top-1 agreement accepted when the spec sets no ``min_agreement``."""
    return 0.999 if quantization in FLOAT_MODES else 0.98


def tflite_outputs(serving) -> tuple:
    """The serving outputs a TFLite file keeps: the task's `tflite_outputs` (default: a classifier's probabilities)."""
    return tuple(getattr(serving, "tflite_outputs", (OUTPUT_NAME,)))


class _TFLiteGraph(tf.Module):
    """What the temporary SavedModel holds: one fixed-shape signature and the variables it reads.

    The `ServingModule` itself is not tracked, so its three serving signatures are not traced
    and saved a second time.
    """

    def __init__(self, serving):
        super().__init__(name="tflite_graph")
        spec = tf.TensorSpec([1, *serving.image_size, serving.channels], tf.uint8, name=INPUT_NAME)
        names = tflite_outputs(serving)
        self.serve = tf.function(lambda images: {name: serving.predict(images)[name] for name in names}, input_signature=[spec])
        # The plain tf.Variables the graph reads (as keras.export.ExportArchive tracks them): tracking
        # the Keras model instead saves keras.Variable wrappers, which the converter does not freeze
        # (the file then reads uninitialised resource variables and returns garbage or NaN).
        self.weights = list(self.serve.get_concrete_function().variables)


# How the converter names ops it cannot run (seen on TF 2.21): a summary line
# "TF Select ops: A, B" / "Flex ops: FlexA" / "Custom ops: A", per-op errors
# "'tf.A' op is neither a custom op nor a flex op", and "Details:" lines "\ttf.A(tensor<...>) -> ...".
_OP_LIST = re.compile(r"^\s*(?:TF Select|Flex|Custom) ops: (.+)$", re.MULTILINE)
_OP_ERROR = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_OP_DETAIL = re.compile(r"^\s*tf\.(\w+)\(", re.MULTILINE)


def unsupported_ops(message: str) -> list[str]:
    """The TensorFlow op names a converter error message says TFLite cannot run (sorted, unique)."""
    ops = set(_OP_ERROR.findall(message)) | set(_OP_DETAIL.findall(message))
    for listed in _OP_LIST.findall(message):
        ops.update(name.strip().removeprefix("Flex") for name in listed.split(",") if name.strip())
    return sorted(ops)


def _representative(images: np.ndarray, shape: tuple):
    def dataset():
        for image in images:
            yield [np.asarray(image, np.uint8).reshape(shape)]

    return dataset


def _converter(saved_dir: str, quantization: str, representative_images, shape: tuple, per_channel: bool = True):
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_dir, signature_keys=[SIGNATURE])
    # Per-tensor weight scales: TFLite stores a float32 scale and an int64 zero point for every
    # output channel of a per-channel quantized weight (12 bytes a channel), which is a fifth of
    # a narrow MobileNet's int8 file. The converter exposes the switch only as a private attribute.
    compat.disable_tflite_per_channel(converter, not per_channel)
    if quantization == "none":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization in ("int8", "int8_full"):
        if representative_images is None or len(representative_images) == 0:
            raise UserError(f"tflite {quantization}: needs representative (calibration) images; none were given")
        converter.representative_dataset = _representative(representative_images, shape)
        if quantization == "int8_full":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
    return converter


def convert(serving, quantization: str = "none", representative_images: np.ndarray | None = None,
            per_channel: bool = True) -> bytes:
    """The serving graph for one image (uint8 [1, H, W, C] → probabilities [1, K]) as a TFLite flatbuffer.

    Args:
        serving: a `ServingModule` (or anything with ``image_size``, ``channels`` and
            ``predict(uint8 images) -> {"probabilities": ...}``).
        quantization: one of ``none``, ``dynamic``, ``float16``, ``int8``, ``int8_full``.
        representative_images: uint8 images [N, H, W, C] for int8 calibration (int8 modes only).
        per_channel: int8 weight scales per output channel (default) or one per tensor (smaller file).

    Raises:
        UserError: an unknown mode, missing calibration images, or ops TFLite cannot run.
    """
    if quantization not in MODES:
        raise UserError(f"tflite: unknown quantization {quantization!r}; allowed: {', '.join(MODES)}")
    shape = (1, *serving.image_size, serving.channels)
    tmp = tempfile.mkdtemp(prefix="kcv-tflite-")
    try:
        graph = _TFLiteGraph(serving)
        tf.saved_model.save(graph, tmp, signatures={SIGNATURE: graph.serve})
        converter = _converter(tmp, quantization, representative_images, shape, per_channel)
        try:
            return converter.convert()
        except Exception as error:  # the converter raises ConverterError, RuntimeError, ... with the details in the text
            ops = unsupported_ops(str(error))
            if ops:
                raise UserError(
                    f"tflite {quantization}: ops the converter cannot handle: {', '.join(ops)} "
                    "(replace them in the model or preprocessing, or use another quantization)"
                ) from error
            first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
            raise UserError(f"tflite {quantization}: conversion failed: {first[:300]}") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _interpreter(tflite_bytes: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def input_details(tflite_bytes: bytes) -> dict:
    """The file's single input as LiteRT sees it (``dtype``, ``shape``, ``quantization``...)."""
    return _interpreter(tflite_bytes).get_input_details()[0]


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.issubdtype(values.dtype, np.integer) and scale:
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32)


def run_tflite(tflite_bytes: bytes, images: np.ndarray, output: str = OUTPUT_NAME) -> tuple[np.ndarray, list[float]]:
    """Every image through LiteRT, one at a time: (the `output` of each [N, ...] float32, invoke() times in ms)."""
    outputs, times = run_tflite_outputs(tflite_bytes, images)
    return outputs[output], times


def run_tflite_outputs(tflite_bytes: bytes, images: np.ndarray) -> tuple[dict[str, np.ndarray], list[float]]:
    """Every image through LiteRT, one at a time: ({output name: [N, ...] float32}, invoke() times in ms)."""
    interpreter = _interpreter(tflite_bytes)
    source = interpreter.get_input_details()[0]
    targets = interpreter.get_signature_runner(SIGNATURE).get_output_details()
    by_index = {detail["index"]: detail for detail in interpreter.get_output_details()}
    shape = tuple(source["shape"])
    images = np.asarray(images)
    if len(images):
        for _ in range(WARMUP_INVOKES):
            interpreter.set_tensor(source["index"], images[0].reshape(shape).astype(source["dtype"]))
            interpreter.invoke()
    outputs, times = {name: [] for name in targets}, []
    for image in images:
        interpreter.set_tensor(source["index"], image.reshape(shape).astype(source["dtype"]))
        started = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - started) * 1000.0)
        for name, detail in targets.items():
            outputs[name].append(_dequantize(interpreter.get_tensor(detail["index"]), by_index[detail["index"]])[0])
    return {name: np.stack(values) for name, values in outputs.items()}, times


def evaluate(tflite_bytes: bytes, serving, images: np.ndarray) -> dict:
    """Compare the TFLite file (in LiteRT) with ``serving.predict`` on the same uint8 images.

    Returns ``agreement`` (the share of top-1 classes that agree: one per image, or one per pixel
    for a class map's probabilities), ``max_abs_difference`` of the probabilities (int8_full's
    uint8 outputs dequantized first) and of every other output (``max_abs_differences``),
    ``median_latency_ms`` of one ``invoke()`` on one thread (after a warm-up), ``size_bytes`` and
    ``examples``.
    """
    images = np.asarray(images, np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    lite, times = run_tflite_outputs(tflite_bytes, images)
    served = [serving.predict(tf.constant(images[i : i + 256])) for i in range(0, len(images), 256)]
    reference = {name: np.concatenate([np.asarray(batch[name], np.float32) for batch in served]) for name in lite}
    differences = {name: float(np.max(np.abs(lite[name] - reference[name]))) for name in lite}
    return {
        "agreement": float(np.mean(lite[OUTPUT_NAME].argmax(axis=-1) == reference[OUTPUT_NAME].argmax(axis=-1))),
        "max_abs_difference": differences[OUTPUT_NAME],
        "max_abs_differences": differences,
        "median_latency_ms": float(statistics.median(times)),
        "size_bytes": len(tflite_bytes),
        "examples": int(len(images)),
    }


def export_tflite(serving, pipeline, tflite_spec, path) -> dict:
    """Convert, write `path` atomically, check it in LiteRT on the test split; refuse a file that disagrees.

    Calibration images (int8 modes) are the first ``calibration_examples`` of the TRAINING split,
    never the test images the file is judged on.

    Returns:
        {quantization, path, size_bytes, agreement, max_abs_difference, median_latency_ms,
        test_examples, threshold}

    Raises:
        UserError: conversion failed, or top-1 agreement is below the threshold (the file is removed).
    """
    path = Path(path)
    quantization = tflite_spec.quantization
    if pipeline.info.raw_shape is None:
        raise UserError(
            f"tflite {quantization}: the source's images vary in size, but a TFLite file takes one input size; "
            "use a source whose images share one size"
        )
    representative = None
    if quantization in ("int8", "int8_full"):
        representative, _ = pipeline.raw_examples("train", tflite_spec.calibration_examples)
    write_atomic(path, convert(serving, quantization, representative, tflite_spec.per_channel))
    try:
        images, _ = pipeline.raw_examples("test")
        result = evaluate(path.read_bytes(), serving, images)  # judge the bytes on disk, not a copy in memory
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    threshold = tflite_spec.min_agreement if tflite_spec.min_agreement is not None else default_threshold(quantization)
    if result["agreement"] < threshold:
        path.unlink(missing_ok=True)
        raise UserError(
            f"tflite {quantization}: top-1 agreement {result['agreement']:.3f} with the Keras model is below "
            f"min_agreement {threshold:g} on {result['examples']} test images; the file was not kept "
            "(try a milder quantization, more calibration_examples, or a longer-trained model)"
        )
    return {
        "quantization": quantization,
        "path": str(path),
        "size_bytes": result["size_bytes"],
        "agreement": result["agreement"],
        "max_abs_difference": result["max_abs_difference"],
        "max_abs_differences": result["max_abs_differences"],
        "median_latency_ms": result["median_latency_ms"],
        "test_examples": result["examples"],
        "threshold": threshold,
    }
