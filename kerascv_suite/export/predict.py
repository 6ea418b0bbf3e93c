"""`kcv predict EXPORT INPUT...`: top-k classes from a SavedModel folder or a .tflite file.

Inputs are image files (PNG/JPEG/BMP/GIF) or .npy arrays of uint8 pixels ([H, W, C] or
[N, H, W, C]). Everything a user can get wrong is checked before the model runs and reported
in one line: an unreadable image, an array that is not uint8 pixels (a float array would be
silently cast to uint8 by the signature and give wrong answers), a wrong rank or channel
count, a missing signature, an export folder that is not one.

Example::

    rows = predict("savedmodels/lenet5_digits", ["three.png"], top_k=3)
    rows[0]   # ('three.png', [('3', 0.98), ('5', 0.01), ('8', 0.005)])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascv_suite.spec.errors import UserError


def read_inputs(paths: list[str]) -> list[tuple[str, object]]:
    """(label, PNG/JPEG bytes or a uint8 array [N, H, W, C]) for each input path."""
    from PIL import Image, UnidentifiedImageError

    inputs = []
    for path in map(Path, paths):
        if not path.is_file():
            raise UserError(f"{path}: file not found")
        if path.suffix.lower() == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except ValueError as error:
                raise UserError(f"{path}: not a readable .npy array ({error})") from None
            if array.dtype != np.uint8:
                raise UserError(f"{path}: expected uint8 pixels in [0, 255], got a {array.dtype} array")
            if array.ndim == 3:
                array = array[None]
            if array.ndim != 4:
                raise UserError(f"{path}: expected an image [H, W, C] or a batch [N, H, W, C], got shape {list(array.shape)}")
            inputs.append((str(path), array))
            continue
        try:
            with Image.open(path) as image:
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            raise UserError(f"{path}: unreadable image ({error})") from None
        inputs.append((str(path), path.read_bytes()))
    return inputs


def _savedmodel_dir(path: Path) -> Path:
    if (path / "saved_model.pb").is_file():
        return path
    found = sorted((p for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()), key=lambda p: int(p.name)) if path.is_dir() else []
    if not found:
        raise UserError(f"{path}: not a SavedModel folder (no saved_model.pb) nor a TF Serving base path with versions")
    return found[-1]


def _top_k(probabilities: np.ndarray, names: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(names[i] if i < len(names) else str(i), float(probabilities[i])) for i in order]


def predict_savedmodel(path: Path, inputs, top_k: int) -> list:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(_savedmodel_dir(path)))
    for needed in ("serving_default", "serving_bytes"):
        if needed not in loaded.signatures:
            raise UserError(f"{path}: the SavedModel has no '{needed}' signature (it has {', '.join(loaded.signatures)})")
    names = [n.decode() for n in loaded.class_list().numpy()] if hasattr(loaded, "class_list") else []
    expected = loaded.signatures["serving_default"].structured_input_signature[1]["images"]
    channels = expected.shape[-1]
    rows = []
    for label, value in inputs:
        if isinstance(value, bytes):
            try:
                probabilities = loaded.signatures["serving_bytes"](image_bytes=tf.constant([value]))["probabilities"].numpy()
            except tf.errors.InvalidArgumentError as error:
                raise UserError(f"{label}: the model could not decode it ({error.message.splitlines()[0]})") from None
            rows.append((label, _top_k(probabilities[0], names, top_k)))
            continue
        if value.shape[-1] != channels:
            raise UserError(f"{label}: the model takes {channels}-channel images, got {value.shape[-1]} channels")
        probabilities = loaded.signatures["serving_default"](images=tf.constant(value))["probabilities"].numpy()
        rows.extend((f"{label}[{i}]", _top_k(p, names, top_k)) for i, p in enumerate(probabilities))
    return rows


def predict_tflite(path: Path, inputs, top_k: int) -> list:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from kerascv_suite.export.serving import resize_pixels

    labels_file = path.parent / "labels.txt"
    names = labels_file.read_text().splitlines() if labels_file.is_file() else []
    try:
        interpreter = Interpreter(model_path=str(path))
    except ValueError as error:
        raise UserError(f"{path}: not a readable TFLite file ({error})") from None
    interpreter.allocate_tensors()
    source, = interpreter.get_input_details()
    target, = interpreter.get_output_details()
    _, height, width, channels = source["shape"]
    rows = []
    for label, value in inputs:
        if isinstance(value, bytes):
            try:
                image = tf.io.decode_image(value, channels=int(channels), expand_animations=False)
            except tf.errors.InvalidArgumentError as error:
                raise UserError(f"{label}: unreadable image ({error.message.splitlines()[0]})") from None
            batch = image.numpy()[None]
        else:
            batch = value
            if batch.shape[-1] != channels:
                raise UserError(f"{label}: the model takes {channels}-channel images, got {batch.shape[-1]} channels")
        for i, image in enumerate(batch):
            resized = resize_pixels(image, (height, width))
            interpreter.set_tensor(source["index"], resized.numpy()[None].astype(source["dtype"]))
            interpreter.invoke()
            output = interpreter.get_tensor(target["index"])[0].astype(np.float32)
            scale, zero_point = target["quantization"]
            if scale:
                output = (output - zero_point) * scale
            rows.append((label if len(batch) == 1 else f"{label}[{i}]", _top_k(output, names, top_k)))
    return rows


def predict(export: str, paths: list[str], top_k: int = 3) -> list:
    """Top-k (class name, probability) pairs for every input, from a SavedModel or a .tflite file."""
    export_path = Path(export)
    if not export_path.exists():
        raise UserError(f"{export_path}: no such export")
    inputs = read_inputs(paths)
    if export_path.suffix == ".tflite":
        return predict_tflite(export_path, inputs, top_k)
    return predict_savedmodel(export_path, inputs, top_k)
