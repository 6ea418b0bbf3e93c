"""AlexNet (torchvision's and the paper's two-tower network) and ZFNet: counts from the layer tables, shapes, small-input stem."""

import gc

import keras
import numpy as np
import pytest

from kerascv_suite.layers.local_response_norm import LocalResponseNormalization
from kerascv_suite.models.alexnet import PAPER_FILTERS, alexnet, zfnet
from kerascv_suite.models.arithmetic import summary
from kerascv_suite.spec import validate_spec

IMAGENET = ((224, 224, 3), 1000)


@pytest.fixture(autouse=True)
def free_memory():
    """ImageNet-size models hold hundreds of MB each: release them between tests."""
    yield
    keras.backend.clear_session()
    gc.collect()


def layer_table(convolutions, dense):
    """(parameters, MACs) of a layer table: convolutions (kernel, C_in, C_out, groups, output side), dense (inputs, outputs)."""
    params = sum(k * k * c_in // g * c_out + c_out for k, c_in, c_out, g, _ in convolutions) + sum(i * o + o for i, o in dense)
    macs = sum(side * side * k * k * c_in // g * c_out for k, c_in, c_out, g, side in convolutions) + sum(i * o for i, o in dense)
    return params, macs


def head(features):
    return [(features, 4096), (4096, 4096), (4096, 1000)]


# torchvision's AlexNet: conv1 11×11/4 pad 2 → 55, pool → 27, conv2 → 27, pool → 13, conv3–5 → 13, pool → 6.
TORCHVISION = layer_table([(11, 3, 64, 1, 55), (5, 64, 192, 1, 27), (3, 192, 384, 1, 13), (3, 384, 256, 1, 13),
                           (3, 256, 256, 1, 13)], head(6 * 6 * 256))
# The 2012 paper: conv2, conv4, conv5 split over two GPUs.
PAPER = layer_table([(11, 3, 96, 1, 55), (5, 96, 256, 2, 27), (3, 256, 384, 1, 13), (3, 384, 384, 2, 13),
                     (3, 384, 256, 2, 13)], head(6 * 6 * 256))
# ZFNet, Fig. 3: 7×7/2 → 110, pool → 55, 5×5/2 → 26, pool → 13, conv3–5 → 13, pool → 6.
ZFNET = layer_table([(7, 3, 96, 1, 110), (5, 96, 256, 1, 26), (3, 256, 384, 1, 13), (3, 384, 384, 1, 13),
                     (3, 384, 256, 1, 13)], head(6 * 6 * 256))
ZFNET_WIDE = layer_table([(7, 3, 96, 1, 110), (5, 96, 256, 1, 26), (3, 256, 512, 1, 13), (3, 512, 1024, 1, 13),
                          (3, 1024, 512, 1, 13)], head(6 * 6 * 512))

CASES = {
    "torchvision": (alexnet, {}, TORCHVISION),
    "paper": (alexnet, {"filters": PAPER_FILTERS, "groups": 2, "local_response_norm": True}, PAPER),
    "zfnet": (zfnet, {}, ZFNET),
    "zfnet_wide": (zfnet, {"filters": (96, 256, 512, 1024, 512)}, ZFNET_WIDE),
}


@pytest.mark.parametrize("case", CASES)
def test_imagenet_counts_equal_the_layer_tables(case):
    builder, kwargs, (params, macs) = CASES[case]
    rows = summary(builder(*IMAGENET, **kwargs))
    assert (rows[-1].params, rows[-1].macs) == (params, macs)


def test_published_figures():
    assert TORCHVISION[0] == 61_100_840                                  # torchvision's documented num_params
    assert TORCHVISION[1] == pytest.approx(0.71e9, rel=0.01)             # torchvision's 0.71 GFLOPS (MACs)
    assert PAPER[0] == 60_965_224                                        # the paper's (Caffe bvlc_alexnet's) count
    assert ZFNET[0] == 62_357_608
    assert alexnet(*IMAGENET, filters=PAPER_FILTERS).count_params() == 62_378_344   # one tower: grouping saves 1.4 M


def test_grouped_layers_are_the_papers():
    model = alexnet(*IMAGENET, filters=PAPER_FILTERS, groups=2)
    assert {f"conv{i}": model.get_layer(f"conv{i}_conv").groups for i in range(1, 6)} == {
        "conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}


def feature_sizes(model):
    return [model.get_layer(name).output.shape[1] for name in ("conv1_conv", "conv1_pool", "conv2_conv", "conv2_pool", "conv5_pool")]


def test_imagenet_feature_maps():
    assert feature_sizes(alexnet(*IMAGENET)) == [55, 27, 27, 13, 6]
    assert feature_sizes(zfnet(*IMAGENET)) == [110, 55, 26, 13, 6]       # ZFNet's Fig. 3
    model = alexnet(*IMAGENET)
    assert model.output_shape == (None, 1000)
    assert model.get_layer("avgpool").output.shape[1:] == (6, 6, 256)


@pytest.mark.parametrize("builder", [alexnet, zfnet])
def test_small_input_stem(builder):
    model = builder((32, 32, 1), 10)
    conv1, conv2 = model.get_layer("conv1_conv"), model.get_layer("conv2_conv")
    assert (conv1.kernel_size, conv1.strides, conv2.strides) == ((3, 3), (1, 1), (1, 1))
    assert feature_sizes(model) == [32, 15, 15, 7, 3]                    # only the three max-pools shrink the image
    assert model.get_layer("avgpool").output.shape[1:3] == (3, 3)
    assert model.output_shape == (None, 10)
    assert model(np.zeros((2, 32, 32, 1), "float32")).shape == (2, 10)


@pytest.mark.parametrize("size, small_input, pooled", [(48, None, 3), (63, None, 3), (64, None, 6), (96, False, 6), (224, True, 3)])
def test_small_input_by_size(size, small_input, pooled):
    model = alexnet((size, size, 3), 10, small_input=small_input)
    assert model.get_layer("avgpool").output.shape[1:3] == (pooled, pooled)
    assert model.get_layer("conv1_conv").kernel_size == ((3, 3) if pooled == 3 else (11, 11))


@pytest.mark.parametrize("builder", [alexnet, zfnet])
def test_too_small_input_without_small_input_is_a_one_line_error(builder):
    with pytest.raises(ValueError, match="small_input"):
        builder((40, 40, 3), 10, small_input=False)


def test_local_response_norm_positions():
    names = [layer.name for layer in alexnet((64, 64, 3), 10, local_response_norm=True).layers]
    assert names.index("conv1_act") < names.index("conv1_norm") < names.index("conv1_pool")   # AlexNet: normalise, then pool
    names = [layer.name for layer in zfnet((64, 64, 3), 10, local_response_norm=True).layers]
    assert names.index("conv1_pool") < names.index("conv1_norm") < names.index("conv2_conv")  # ZFNet: pool, then normalise
    norm = alexnet((64, 64, 3), 10, local_response_norm=True).get_layer("conv2_norm")
    assert isinstance(norm, LocalResponseNormalization)
    assert (norm.depth_radius, norm.bias, norm.alpha, norm.beta) == (2, 2.0, 1e-4, 0.75)       # the paper's n, k, α, β
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in alexnet((64, 64, 3), 10).layers)


def test_head_width_and_dropout():
    model = alexnet((32, 32, 1), 10, hidden_units=128, dropout=0.5)
    assert model.get_layer("fc1").units == model.get_layer("fc2").units == 128
    assert model.get_layer("fc1").count_params() == 3 * 3 * 256 * 128 + 128
    assert model.get_layer("fc2_dropout").rate == 0.5
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in alexnet((32, 32, 1), 10).layers)


def test_save_and_reload_round_trip(tmp_path):
    model = zfnet((32, 32, 1), 10, filters=(8, 16, 16, 16, 8), local_response_norm=True, hidden_units=16)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-6)


def test_spec_keys_are_the_constructor_arguments():
    spec = validate_spec({"name": "t", "model": {"name": "zfnet", "filters": [96, 256, 512, 1024, 512], "hidden_units": 512}})
    assert spec.model.filters == (96, 256, 512, 1024, 512) and spec.model.hidden_units == 512
    for bad in ({"filters": [64, 192, 384]}, {"groups": 3}, {"stem": "vgg"}, {"dropout": 1.0}):
        with pytest.raises(Exception, match="filters|groups|stem|dropout"):
            validate_spec({"name": "t", "model": {"name": "alexnet", **bad}})
