"""A fast style network exported: SavedModel checked in a fresh process, TFLite (builtins only) checked in LiteRT."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.export import style as style_export
from kerascv_suite.export.style import export_style_savedmodel, export_style_tflite, run_style_tflite, style_inputs
from kerascv_suite.layers.instance_norm import ConditionalInstanceNormalization
from kerascv_suite.models.style_network import style_network
from kerascv_suite.spec.errors import UserError

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)


def tiny_network(styles):
    """An untrained network whose styles differ (random γ, β: at initialisation every style is the same)."""
    network = style_network((16, 16, 3), styles=styles, filters=4, residual_blocks=1)
    for layer in network.layers:
        if isinstance(layer, ConditionalInstanceNormalization):
            layer.gamma.assign(RNG.uniform(0.5, 2.0, size=layer.gamma.shape))
            layer.beta.assign(RNG.normal(size=layer.beta.shape))
    return network


def keras_pixels(network, inputs):
    unit = inputs["images"].astype(np.float32) / 255.0
    outputs = network(unit if "style" not in inputs else [tf.constant(unit), tf.constant(inputs["style"])])
    return np.clip(np.round(outputs.numpy() * 255.0), 0, 255).astype(np.int16)


@pytest.mark.parametrize("styles", [1, 2])
def test_savedmodel_and_tflite_agree_with_keras_within_two_grey_levels(styles, tmp_path):
    network = tiny_network(styles)
    saved = export_style_savedmodel(network, tmp_path / "savedmodels", name="fast_style", check_images=IMAGES)
    assert saved["path"] == str(tmp_path / "savedmodels" / "fast_style" / "1") and (tmp_path / "savedmodels" / "models.config").exists()
    assert saved["verification"]["largest_differences"]["stylised"] <= 1.0   # measured in a fresh process by the exporter

    inputs = style_inputs(IMAGES, styles)
    expected = keras_pixels(network, inputs)
    assert expected.std() > 10   # a picture, not a flat grey: agreement means something
    if styles > 1:
        assert inputs["style"].tolist() == [[1, 0], [0, 1], [0.5, 0.5]]   # each style and a mixture
        assert np.abs(expected[0] - keras_pixels(network, {**inputs, "style": inputs["style"][[1, 1, 1]]})[0]).mean() > 5
    signature = tf.saved_model.load(saved["path"]).signatures["serving_default"]
    served = signature(**{key: tf.constant(value) for key, value in inputs.items()})["stylised"]
    assert served.dtype == tf.uint8 and np.abs(served.numpy().astype(np.int16) - expected).max() <= 1

    lite = export_style_tflite(network, tmp_path / "fast_style.tflite", check_images=IMAGES)
    assert lite["max_abs_difference"] <= 2.0 and lite["size_bytes"] == (tmp_path / "fast_style.tflite").stat().st_size
    tflite_bytes = (tmp_path / "fast_style.tflite").read_bytes()
    pixels = run_style_tflite(tflite_bytes, inputs)
    assert pixels.dtype == np.uint8 and pixels.shape == IMAGES.shape and np.abs(pixels.astype(np.int16) - expected).max() <= 2
    from ai_edge_litert.interpreter import Interpreter

    ops = {op["op_name"] for op in Interpreter(model_content=tflite_bytes)._get_ops_details()}
    assert ops and not any(name.startswith("Flex") or name == "CUSTOM" for name in ops), ops   # builtins only


def test_refusals(tmp_path, monkeypatch):
    any_size = style_network((None, None, 3), styles=2, filters=4, residual_blocks=0)
    with pytest.raises(UserError, match="give image_size"):
        export_style_tflite(any_size, tmp_path / "any.tflite")
    lite = export_style_tflite(any_size, tmp_path / "any.tflite", image_size=(8, 12))   # a fixed size for the file
    assert lite["max_abs_difference"] <= 2.0
    monkeypatch.setattr(style_export, "TFLITE_TOLERANCE", -1.0)   # no file can agree: it must not be kept
    with pytest.raises(UserError, match="the file was not kept"):
        export_style_tflite(any_size, tmp_path / "refused.tflite", image_size=(8, 12))
    assert not (tmp_path / "refused.tflite").exists()
    with pytest.raises(UserError, match=r"check_images must be uint8 pixels \[N, H, W, 3\], got float32 \[3, 16, 16, 3\]"):
        export_style_tflite(tiny_network(1), tmp_path / "floats.tflite", check_images=IMAGES.astype(np.float32) / 255)
    (tmp_path / "s" / "3").mkdir(parents=True)   # an earlier export's version folder
    with pytest.raises(UserError, match="version 3 is already exported"):
        export_style_savedmodel(tiny_network(1), tmp_path, name="s", version=3)
