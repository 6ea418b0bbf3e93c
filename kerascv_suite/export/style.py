"""A fast style network served: uint8 pixels (and style weights) in, stylised uint8 pixels out.

`StyleModule` wraps a `style_network` (`kerascv_suite.models.style_network`) for deployment:
``serving_default`` takes ``images``, uint8 [N, H, W, C], and, for a network of several styles,
``style``, float32 [N, S] weights (one-hot for one style, a mixture to blend them); it returns
``stylised``, uint8 [N, H, W, C]. The pixels are scaled to [0, 1] for the network and its
output rounded back to grey levels (`serving.unit_to_pixels`), so a client sends camera pixels
and gets a picture.

- `export_style_savedmodel` writes it through the library's SavedModel exporter
  (`savedmodel.export_savedmodel`: versioned ``<directory>/<name>/<version>/``, warm-up requests,
  models.config, built in a temporary folder, loaded and compared with the Keras model in a fresh
  Python process, renamed into place only if every pixel is within `SAVEDMODEL_TOLERANCE`).
- `export_style_tflite` converts the same graph for ONE image of a fixed size (uint8
  [1, H, W, C], style [1, S]) with TFLite builtin ops only (the conditional normalisation is
  means, rsqrt and a matmul; no Flex ops), writes it atomically, runs it in LiteRT (the runtime
  phones use) and deletes it if any pixel is more than `TFLITE_TOLERANCE` grey levels from the
  Keras model's.

The classifier path (`tflite.convert`) takes one image input; a style network has two, so its
fixed-shape signature is converted here, with the library's reading of converter errors
(`tflite.unsupported_ops`).

Example::

    network = style_network((64, 64, 3), styles=2, filters=8, residual_blocks=1)
    saved = export_style_savedmodel(network, "savedmodels", name="fast_style")   # savedmodels/fast_style/1/
    lite = export_style_tflite(network, "fast_style.tflite")
    saved["verification"]["largest_differences"]["stylised"], lite["max_abs_difference"]   # grey levels
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascv_suite.core.runs import write_atomic
from kerascv_suite.export.serving import inference_copy, unit_to_pixels
from kerascv_suite.spec.errors import UserError

OUTPUT = "stylised"
SIGNATURE = "tflite"
# Float rounding (a fresh process, the same kernels) moves a pixel across a rounding boundary at most.
SAVEDMODEL_TOLERANCE = 1.0
# LiteRT's kernels sum in other orders than TensorFlow's: a little more, still invisible.
TFLITE_TOLERANCE = 2.0
CHECK_EXAMPLES = 4


def style_inputs(images: np.ndarray, styles: int) -> dict[str, np.ndarray]:
    """The serving inputs for uint8 `images`: ``images`` and, for styles > 1, ``style`` weights.

    Style weights go through the styles one-hot in turn, and the last image gets an even mixture
    of all of them, so a check covers every style's γ, β and the blending.
    """
    inputs = {"images": np.asarray(images, np.uint8)}
    if styles > 1:
        weights = np.eye(styles, dtype=np.float32)[np.arange(len(images)) % styles]
        weights[-1] = 1.0 / styles
        inputs["style"] = weights
    return inputs


class StyleModule(tf.Module):
    """A style network between uint8 pixels: the signatures of the SavedModel and the TFLite file.

    Args:
        network: a `style_network` (an inference copy is saved: its weights, no optimizer state).
        image_size: (H, W) of the fixed-size TFLite signature; default the network's input size.
        check_images: uint8 [N, H, W, C] the fresh-process check stylises (default: seeded noise).

    Example::

        module = StyleModule(network)
        module.stylise(tf.zeros([1, 64, 64, 3], tf.uint8), tf.one_hot([1], 2))["stylised"]   # uint8
    """

    tolerances = {OUTPUT: SAVEDMODEL_TOLERANCE}

    def __init__(self, network: keras.Model, image_size: tuple | None = None, check_images: np.ndarray | None = None):
        super().__init__(name="style_serving")
        copy = inference_copy(network)
        self._network = lambda inputs: copy(inputs, training=False)  # a closure: the Keras model is not tracked
        self.styles = int(network.inputs[1].shape[-1]) if len(network.inputs) == 2 else 1
        shape = tuple(network.inputs[0].shape[1:])
        self.channels = int(shape[2])
        self.image_size = tuple(int(v) for v in (image_size or shape[:2]) if v is not None)
        if check_images is not None:
            check_images = np.asarray(check_images)
            if check_images.dtype != np.uint8 or check_images.ndim != 4 or check_images.shape[-1] != self.channels:
                # a float image in [0, 1] would be cast to black pixels without a word
                raise UserError(f"style export: check_images must be uint8 pixels [N, H, W, {self.channels}], "
                                f"got {check_images.dtype} {list(check_images.shape)}")
        self._check_images = check_images
        self.stylise = tf.function(self._stylise, input_signature=self._specs(None, *shape[:2]))
        if len(self.image_size) == 2:
            self.stylise_one = tf.function(self._stylise, input_signature=self._specs(1, *self.image_size))
        # The plain tf.Variables the signatures read, as `tflite._TFLiteGraph` tracks them: a tracked Keras
        # model saves keras.Variable wrappers, which the TFLite converter does not freeze (garbage out).
        self.weights = list(self.stylise.get_concrete_function().variables)

    def _specs(self, batch, height, width):
        specs = [tf.TensorSpec([batch, height, width, self.channels], tf.uint8, name="images")]
        if self.styles > 1:
            specs.append(tf.TensorSpec([batch, self.styles], tf.float32, name="style"))
        return specs

    def _stylise(self, images, style=None):
        unit = tf.cast(images, tf.float32) / 255.0
        return {OUTPUT: unit_to_pixels(self._network(unit if style is None else [unit, style]))}

    def check_images(self, count: int) -> np.ndarray:
        if self._check_images is not None:
            return self._check_images[:count]
        if len(self.image_size) != 2:
            raise UserError("style export: a network of any image size needs image_size or check_images to be checked")
        return np.random.default_rng(0).integers(0, 256, (count, *self.image_size, self.channels), dtype=np.uint8)

    def check_cases(self, model: keras.Model, count: int = CHECK_EXAMPLES) -> dict:
        """{"serving_default": (inputs, expected)}: `count` check images (and styles), stylised by the Keras `model`."""
        inputs = style_inputs(self.check_images(count), self.styles)
        unit = inputs["images"].astype(np.float32) / 255.0
        expected = unit_to_pixels(model(unit if self.styles == 1 else [unit, inputs["style"]], training=False)).numpy()
        return {"serving_default": (inputs, {OUTPUT: expected})}

    def signatures(self) -> dict:
        return {"serving_default": self.stylise}


def export_style_savedmodel(network: keras.Model, directory, name: str = "style_network", version: int | None = None,
                            overwrite: bool = False, check_images: np.ndarray | None = None) -> dict:
    """Write `network` as version `version` (default: next free) of ``<directory>/<name>/``, checked in a fresh process.

    Returns the exporter's report: ``path``, ``version``, ``verification`` (the largest
    difference, in grey levels, of the reloaded SavedModel from the Keras model).

    Raises:
        UserError: the version exists (without `overwrite`) or a pixel differs by more than
            `SAVEDMODEL_TOLERANCE` grey levels.
    """
    from kerascv_suite.export.savedmodel import VERIFY_EXAMPLES, export_savedmodel
    from kerascv_suite.spec import validate_spec

    styles = int(network.inputs[1].shape[-1]) if len(network.inputs) == 2 else 1
    spec = validate_spec({"name": name, "model": {"name": "style_network", "styles": styles},
                          "export": {"directory": str(directory), "version": version}})
    serving = StyleModule(network, check_images=None if check_images is None else check_images[:VERIFY_EXAMPLES])
    return export_savedmodel(network, None, None, spec, directory=directory, version=version, overwrite=overwrite,
                             serving=serving)


def convert_style(serving: StyleModule) -> bytes:
    """The module's fixed-size graph (uint8 [1, H, W, C] and style [1, S] → uint8) as a TFLite flatbuffer, builtin ops only."""
    if len(serving.image_size) != 2:
        raise UserError("style tflite: a TFLite file takes one image size; give image_size (H, W) for a network of any size")
    tmp = tempfile.mkdtemp(prefix="kcv-style-tflite-")
    try:
        tf.saved_model.save(serving, tmp, signatures={SIGNATURE: serving.stylise_one})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[SIGNATURE])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            return converter.convert()
        except Exception as error:  # ConverterError, RuntimeError, ...: the details are in the text
            from kerascv_suite.export.tflite import unsupported_ops

            ops = unsupported_ops(str(error))
            detail = f"ops TFLite's builtins cannot run: {', '.join(ops)}" if ops else str(error).strip().splitlines()[0][:300]
            raise UserError(f"style tflite: conversion failed: {detail}") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_style_tflite(tflite_bytes: bytes, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Each image (and its style) through LiteRT's signature runner, one at a time: stylised uint8 [N, H, W, C]."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=tflite_bytes, num_threads=1).get_signature_runner(SIGNATURE)
    return np.concatenate([runner(**{key: value[i : i + 1] for key, value in inputs.items()})[OUTPUT]
                           for i in range(len(inputs["images"]))])


def export_style_tflite(network: keras.Model, path, image_size: tuple | None = None, check_images: np.ndarray | None = None) -> dict:
    """Convert `network` for one uint8 image, write `path` atomically, check it in LiteRT; refuse a file that disagrees.

    The file's inputs are ``images`` uint8 [1, H, W, C] (and ``style`` float32 [1, S]), its
    output ``stylised`` uint8 [1, H, W, C], under the signature ``tflite``.

    Returns:
        {path, size_bytes, max_abs_difference (grey levels, against the Keras model), tolerance, examples}

    Raises:
        UserError: conversion failed, or a pixel differs by more than `TFLITE_TOLERANCE` (the file is removed).
    """
    path = Path(path)
    serving = StyleModule(network, image_size=image_size, check_images=check_images)
    write_atomic(path, convert_style(serving))
    try:
        images = serving.check_images(CHECK_EXAMPLES if check_images is None else len(check_images))
        (inputs, expected), = serving.check_cases(network, len(images)).values()
        lite = run_style_tflite(path.read_bytes(), inputs)   # judge the bytes on disk
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    difference = float(np.max(np.abs(lite.astype(np.int16) - expected[OUTPUT].astype(np.int16))))
    if difference > TFLITE_TOLERANCE:
        path.unlink(missing_ok=True)
        raise UserError(f"style tflite: LiteRT's pixels differ from the Keras model's by up to {difference:g} grey levels "
                        f"(allowed {TFLITE_TOLERANCE:g}); the file was not kept")
    return {"path": str(path), "size_bytes": path.stat().st_size, "max_abs_difference": difference,
            "tolerance": TFLITE_TOLERANCE, "examples": int(len(images))}


__all__ = ["StyleModule", "export_style_savedmodel", "export_style_tflite", "convert_style", "run_style_tflite", "style_inputs"]
