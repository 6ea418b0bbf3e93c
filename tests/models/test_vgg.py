"""VGG against keras.applications and torchvision's documented counts, the block layout, BatchNorm and small inputs."""

import gc

import keras
import numpy as np
import pytest

from kerascv_suite.models.arithmetic import summary
from kerascv_suite.models.vgg import CONVOLUTIONS, WIDTHS, vgg
from kerascv_suite.spec import validate_spec

IMAGENET = ((224, 224, 3), 1000)
# torchvision's documented num_params and GFLOPS (multiply-accumulates) for vgg{depth} and vgg{depth}_bn.
TORCHVISION = {
    (11, False): (132_863_336, 7.61e9), (11, True): (132_868_840, 7.61e9),
    (13, False): (133_047_848, 11.31e9), (13, True): (133_053_736, 11.31e9),
    (16, False): (138_357_544, 15.47e9), (16, True): (138_365_992, 15.47e9),
    (19, False): (143_667_240, 19.63e9), (19, True): (143_678_248, 19.63e9),
}


@pytest.fixture(autouse=True)
def free_memory():
    """ImageNet-size models hold hundreds of MB each: release them between tests."""
    yield
    keras.backend.clear_session()
    gc.collect()


def weighted_layers(model):
    return [(layer.name, layer.count_params()) for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]


@pytest.mark.parametrize("depth, reference", [(16, keras.applications.VGG16), (19, keras.applications.VGG19)])
def test_parameters_equal_keras_applications_layer_by_layer(depth, reference):
    ours, theirs = vgg(*IMAGENET, depth=depth), reference(weights=None)
    assert ours.count_params() == theirs.count_params() == TORCHVISION[depth, False][0]
    assert [count for _, count in weighted_layers(ours)] == [count for _, count in weighted_layers(theirs)]


@pytest.mark.parametrize("depth, batch_norm", list(TORCHVISION))
def test_imagenet_counts_match_torchvision(depth, batch_norm):
    params, gmacs = TORCHVISION[depth, batch_norm]
    model = vgg(*IMAGENET, depth=depth, batch_norm=batch_norm)
    total = summary(model)[-1]
    assert total.macs == pytest.approx(gmacs, rel=0.001)
    convolution_channels = sum(w * n for w, n in zip(WIDTHS, CONVOLUTIONS[depth]))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    if batch_norm:
        # torchvision keeps a bias in each convolution before BatchNorm; ours drops it (BatchNorm's β replaces it),
        # and Keras also counts BatchNorm's moving mean and variance.
        assert trainable == params - convolution_channels
        assert total.params == params - convolution_channels + 2 * convolution_channels
        assert total.params == pytest.approx(params, rel=0.01)
    else:
        assert total.params == trainable == params


def test_depth_is_the_papers_configurations():
    for depth in (11, 13, 16, 19):
        model = vgg((32, 32, 3), 10, depth=depth)
        assert len(weighted_layers(model)) == depth
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        assert all(c.kernel_size == (3, 3) and c.strides == (1, 1) for c in convs)


def test_block_outputs():
    model = vgg(*IMAGENET, depth=11)
    assert [model.get_layer(f"block{b}_pool").output.shape[1] for b in range(1, 6)] == [112, 56, 28, 14, 7]
    assert model.get_layer("avgpool").output.shape[1:] == (7, 7, 512)
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize("size, small_input, pooled", [(32, None, 1), (48, None, 1), (32, False, 7), (64, None, 7), (224, True, 1)])
def test_small_input_head(size, small_input, pooled):
    model = vgg((size, size, 1), 10, depth=11, hidden_units=64, small_input=small_input)
    assert model.get_layer("block5_pool").output.shape[1] == size // 32
    assert model.get_layer("avgpool").output.shape[1:] == (pooled, pooled, 512)
    assert model.get_layer("fc1").count_params() == pooled * pooled * 512 * 64 + 64
    assert model(np.zeros((2, size, size, 1), "float32")).shape == (2, 10)


def test_linear_head_for_cifar():
    model = vgg((32, 32, 1), 10, depth=11, hidden_units=0)
    assert [name for name, _ in weighted_layers(model)][-1:] == ["logits"]
    assert model.get_layer("logits").count_params() == 512 * 10 + 10


def test_batch_norm_settings():
    model = vgg((32, 32, 1), 10, depth=11, batch_norm=True, bn_momentum=0.8)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 8 and all((n.momentum, n.epsilon) == (0.8, 1e-5) for n in norms)
    assert not model.get_layer("block1_conv1_conv").use_bias
    assert vgg((32, 32, 1), 10, depth=11).get_layer("block1_conv1_conv").use_bias
    assert model.name == "vgg11_bn"


def test_dropout_after_each_hidden_layer():
    model = vgg((32, 32, 1), 10, depth=11, hidden_units=32, dropout=0.5)
    names = [layer.name for layer in model.layers]
    assert names[-5:] == ["fc1", "fc1_dropout", "fc2", "fc2_dropout", "logits"]


def test_save_and_reload_round_trip(tmp_path):
    model = vgg((32, 32, 1), 10, depth=11, batch_norm=True, hidden_units=16)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)


def test_spec_keys_are_the_constructor_arguments():
    spec = validate_spec({"name": "t", "model": {"name": "vgg", "depth": 13, "batch_norm": True, "hidden_units": 256}})
    assert (spec.model.depth, spec.model.batch_norm, spec.model.hidden_units) == (13, True, 256)
    for bad in ({"depth": 18}, {"dropout": 1.0}, {"hidden_units": -1}):
        with pytest.raises(Exception, match="depth|dropout|hidden_units"):
            validate_spec({"name": "t", "model": {"name": "vgg", **bad}})
