"""Backbones: a zoo CNN's endpoints by output stride, and the heads that sit on them (localizer, fcn)."""

import keras
import numpy as np
import pytest

from kerascv_suite.models.backbones import FAMILIES, endpoints, feature_extractor
from kerascv_suite.registry import BACKBONES, MODELS, load_components

load_components()


@pytest.mark.parametrize("name, kwargs, strides", [
    ("cifar_resnet", {"depth": 8}, [1, 2, 4]),
    ("resnet", {"depth": 18}, [2, 4, 8, 16, 32]),
    ("vgg", {"depth": 11, "hidden_units": 16}, [1, 2, 4, 8, 16, 32]),   # its adaptive 7×7 head pool is no endpoint
    ("googlenet", {"aux_classifiers": True}, [2, 4, 8, 16, 32]),        # auxiliary heads are off the main path
    ("mobilenet_v2", {}, [2, 4, 8, 16, 32]),
])
def test_endpoints_are_the_last_map_at_each_stride_of_the_main_path(name, kwargs, strides):
    network = MODELS.get(name)((64, 64, 3), 5, **kwargs)
    points = endpoints(network)
    assert list(points) == [f"stride_{s}" for s in strides]
    for stride, tensor in zip(strides, points.values()):
        assert tensor.shape[1:3] == (64 // stride, 64 // stride)
    deepest = next(layer for layer in reversed(network.layers) if len(getattr(layer, "output").shape) == 4
                   and layer.output.shape[1] == 64 // strides[-1] and not layer.name.startswith("aux"))
    assert points[f"stride_{strides[-1]}"] is deepest.output


def test_feature_extractor_outputs_the_asked_strides_and_names_the_ones_it_has():
    network = MODELS.get("cifar_resnet")((32, 32, 3), 10, depth=8)
    features = feature_extractor(network, strides=(2, 4))
    out = features(np.zeros((2, 32, 32, 3), np.float32))
    assert set(out) == {"stride_2", "stride_4"} and out["stride_4"].shape == (2, 8, 8, 64)
    with pytest.raises(ValueError, match="no feature map at stride 8; it has strides 1, 2, 4"):
        feature_extractor(network, strides=(8,))


def test_every_zoo_family_is_a_backbone():
    assert set(BACKBONES.names()) == set(FAMILIES) and set(FAMILIES) <= set(MODELS.names())


def test_localizer_heads_give_logits_and_valid_boxes():
    backbone = MODELS.get("cifar_resnet")((32, 32, 3), 3, depth=8)
    model = MODELS.get("localizer")((32, 32, 3), 3, backbone=backbone, hidden_units=16)
    out = model(np.random.default_rng(0).random((4, 32, 32, 3)).astype(np.float32))
    boxes = keras.ops.convert_to_numpy(out["box"])
    assert out["class"].shape == (4, 3) and boxes.shape == (4, 4)
    assert np.all(boxes[:, 2:] >= boxes[:, :2]) and boxes.min() >= 0 and boxes.max() <= 1
    np.testing.assert_allclose(boxes, [[0.25, 0.25, 0.75, 0.75]] * 4, atol=1e-6)   # zero-initialised box layer


@pytest.mark.parametrize("skips, upsampling", [(0, "bilinear"), (1, "transposed"), (2, "bilinear")])
def test_fcn_scores_every_pixel_with_background_and_fuses_the_asked_skips(skips, upsampling):
    backbone = MODELS.get("cifar_resnet")((32, 32, 3), 3, depth=8)
    model = MODELS.get("fcn")((32, 32, 3), 3, backbone=backbone, skips=skips, upsampling=upsampling)
    assert model.output_shape == (None, 32, 32, 4)
    assert sum(layer.name.startswith("fuse_") for layer in model.layers) == skips
    assert any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in model.layers) == (upsampling == "transposed" and skips > 0)
