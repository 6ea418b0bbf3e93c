"""The residual family against torchvision, the papers, keras.applications and closed forms; stems and feature maps."""

import functools

import keras
import numpy as np
import pytest

from kerascv_suite.layers.fused_batch_norm import FusedBatchNormalization
from kerascv_suite.layers.residual import ZeroPadChannels
from kerascv_suite.layers.stochastic_depth import DropPath, stochastic_depth_rates
from kerascv_suite.models.arithmetic import summary
from kerascv_suite.models.resnet import (
    cifar_resnet,
    resnet,
    resnext,
    se_resnet,
    wide_resnet,
)
from kerascv_suite.spec import validate_spec

IMAGENET = ((224, 224, 3), 1000)
CIFAR = ((32, 32, 3), 10)


@functools.cache
def imagenet(builder=resnet, **kwargs):
    return builder(*IMAGENET, **kwargs)


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def batchnorm_channels(model):
    return sum(layer.gamma.shape[0] for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))


def macs(model):
    return summary(model)[-1].macs


def conv_biases(model):
    return sum(layer.bias.shape[0] for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.use_bias)


def feature_map(model):
    return tuple(model.get_layer("pool").input.shape[1:3])


def stride_cost(p, side):
    """Extra MACs of a strided 3×3 over a strided first 1×1 in the bottleneck that halves `side`×`side` (planes p)."""
    return 2 * p * p * (side * side - (side // 2) ** 2)     # its 2p → p 1×1 runs at full resolution


KERAS_V1 = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101, 152: keras.applications.ResNet152}
KERAS_V2 = {50: keras.applications.ResNet50V2, 101: keras.applications.ResNet101V2, 152: keras.applications.ResNet152V2}


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_keras_applications_v1_differs_by_convolution_biases_only(depth):
    reference = KERAS_V1[depth](weights=None)
    ours = imagenet(depth=depth, stride_in_1x1=True)    # keras strides the first 1×1, as the paper
    assert ours.count_params() + conv_biases(reference) == reference.count_params()
    assert conv_biases(reference) == batchnorm_channels(reference)   # one bias per convolution output channel
    assert macs(ours) == macs(reference)
    # torchvision's v1.5 layout strides the 3×3 instead: stages 2–4 pay for a full-resolution 1×1
    extra = sum(stride_cost(p, side) for p, side in [(128, 56), (256, 28), (512, 14)])
    assert extra == 231_211_008
    assert macs(imagenet(depth=depth)) - macs(ours) == extra


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_keras_applications_v2_differs_by_biases_and_where_it_downsamples(depth):
    reference = KERAS_V2[depth](weights=None)
    ours = imagenet(depth=depth, preactivation=True)
    biased = [layer.name for layer in reference.layers if isinstance(layer, keras.layers.Conv2D) and layer.use_bias]
    assert all(name == "conv1_conv" or name.endswith(("_3_conv", "_0_conv")) for name in biased)
    assert ours.count_params() + conv_biases(reference) == reference.count_params()
    # keras downsamples in the last block of stages 1–3, we (He et al. 2016, timm) in the first block of
    # stages 2–4: per resolution change (planes p, side H), 46·p²·H² MACs here against 30.25·p²·H² in keras
    saving = sum(15.75 * p * p * side * side for p, side in [(64, 56), (128, 28), (256, 14)])
    assert saving == 606_928_896
    assert macs(ours) - macs(reference) == saving
    assert macs(ours) == macs(imagenet(depth=depth))   # v2 and v1.5 compute the same convolutions


def se_parameters(channels):
    return (channels * (channels // 16) + channels // 16) + (channels // 16 * channels + channels)


def test_se_resnet50_equals_the_paper():
    model = imagenet(se_resnet)
    assert model.name == "se_resnet50"
    blocks = [(256, 3), (512, 4), (1024, 6), (2048, 3)]
    assert trainable(model) == 25_557_032 + sum(n * se_parameters(c) for c, n in blocks) == 28_088_024
    assert trainable(model) == pytest.approx(28.09e6, rel=0.001)              # Hu et al. (2018) Table 2
    assert macs(model) == pytest.approx(3.87e9, rel=0.005)                    # the paper's 1×1-stride layout
    assert macs(imagenet(depth=50, stride_in_1x1=True)) == pytest.approx(3.86e9, rel=0.005)   # its ResNet-50
    assert all(model.get_layer(f"stage{s}_block{b}_se_reduce") for s, (_, n) in enumerate(blocks, 1) for b in range(1, n + 1))


# CIFAR-10 (32×32×3): trainable parameters as akamaster/pytorch_resnet_cifar10; MACs (conv + linear) as
# chenyaofo/CIFAR-pretrained-models, which rounds to 0.01 M and counts 0.26 M more than the closed form
CIFAR_RESNETS = [(20, 269_722, 40.81e6), (32, 464_154, 69.12e6), (44, 658_586, 97.44e6), (56, 853_018, 125.75e6), (110, 1_727_962, None)]


def cifar_resnet_macs(n):
    """Closed form: 3×3 stem, then per stage 2n 3×3 convolutions (16, 32, 64 channels at 32², 16², 8²), then the classifier."""
    stage1 = 32 * 32 * 9 * 16 * 16 * 2 * n
    stage2 = 16 * 16 * 9 * (16 * 32 + 32 * 32 * (2 * n - 1))
    stage3 = 8 * 8 * 9 * (32 * 64 + 64 * 64 * (2 * n - 1))
    return 32 * 32 * 27 * 16 + stage1 + stage2 + stage3 + 64 * 10


@pytest.mark.parametrize("depth, params, reference_macs", CIFAR_RESNETS)
def test_cifar_resnets_equal_the_reference_implementation(depth, params, reference_macs):
    model = cifar_resnet(*CIFAR, depth=depth)
    assert trainable(model) == params
    assert model.count_params() == pytest.approx(params, rel=0.01)
    assert macs(model) == cifar_resnet_macs((depth - 2) // 6)
    if reference_macs:
        assert macs(model) == pytest.approx(reference_macs, rel=0.01)
    # option A shortcuts: no 1×1 projection anywhere
    assert not any(isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (1, 1) for layer in model.layers)
    assert feature_map(model) == (8, 8)


def test_preactivation_cifar_resnets_equal_he_et_al_2016():
    assert trainable(cifar_resnet(*CIFAR, depth=110, preactivation=True)) == 1_727_962
    resnet164 = cifar_resnet(*CIFAR, depth=164, preactivation=True, bottleneck=True)
    assert trainable(resnet164) == pytest.approx(1.7e6, rel=0.01)          # "Identity mappings", Table 2
    assert resnet164.get_layer("stage1_block1_shortcut_conv").filters == 64
    assert feature_map(resnet164) == (8, 8)


@pytest.mark.parametrize("depth, k, params", [(28, 10, 36.5e6), (16, 8, 11.0e6), (40, 4, 8.9e6)])
def test_wide_resnets_equal_the_paper(depth, k, params):
    model = wide_resnet(*CIFAR, depth=depth, widen_factor=k)
    assert model.name == f"wide_resnet{depth}_{k}"
    assert model.count_params() == pytest.approx(params, rel=0.01)          # Zagoruyko & Komodakis (2016) Table 1
    assert trainable(model) == pytest.approx(params, rel=0.01)
    assert [model.get_layer(f"stage{s}_block1_conv1_conv").filters for s in (1, 2, 3)] == [16 * k, 32 * k, 64 * k]
    assert feature_map(model) == (8, 8)


def test_wide_resnet_28_10_exact_count_and_dropout_between_convolutions():
    model = wide_resnet(*CIFAR, dropout=0.3)
    assert trainable(model) == 36_479_194
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(dropouts) == 12 and all(layer.rate == 0.3 for layer in dropouts)
    assert model.get_layer("stage1_block1_conv2_conv").input is model.get_layer("stage1_block1_dropout").output
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in wide_resnet(*CIFAR, depth=16, widen_factor=1).layers)


@pytest.mark.parametrize("builder, kwargs", [(resnet, {"depth": 18}), (resnet, {"depth": 50}), (resnext, {}),
                                             (resnet, {"depth": 34, "preactivation": True})])
def test_feature_maps_at_224_and_small_input_stem_at_32(builder, kwargs):
    assert feature_map(imagenet(builder, **kwargs)) == (7, 7)              # 224 / 32
    digits = builder((32, 32, 1), 10, **kwargs)
    assert digits.output_shape == (None, 10)
    assert feature_map(digits) == (4, 4)                   # 32 / 8
    assert digits.get_layer("stem_conv").kernel_size == (3, 3) and digits.get_layer("stem_conv").strides == (1, 1)
    assert "stem_pool" not in {layer.name for layer in digits.layers}
    assert digits(np.zeros((2, 32, 32, 1), "float32")).shape == (2, 10)


@pytest.mark.parametrize("size, small_input, expected", [
    (32, None, 4), (32, False, 1), (48, None, 6), (64, None, 2), (224, True, 28), (224, None, 7),
])
def test_small_input_stem(size, small_input, expected):
    model = resnet((size, size, 3), 10, depth=18, small_input=small_input)
    small = small_input or (small_input is None and size < 64)
    assert feature_map(model) == (expected, expected)
    assert model.get_layer("stem_conv").strides == ((1, 1) if small else (2, 2))
    assert model.get_layer("stem_conv").kernel_size == ((3, 3) if small else (7, 7))


def test_v2_has_bare_stem_no_activation_after_adds_and_a_final_batchnorm():
    model = resnet((32, 32, 3), 10, depth=18, preactivation=True)
    names = {layer.name for layer in model.layers}
    assert "stem_bn" not in names and {"head_bn", "head_act"} <= names
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    activations = [layer for layer in model.layers if isinstance(layer, keras.layers.Activation)]
    assert len(adds) == 8 and not any(act.input is add.output for act in activations for add in adds)
    assert model.get_layer("head_bn").input is adds[-1].output


def test_zero_init_last_norm_reaches_every_block():
    model = resnet((32, 32, 3), 10, depth=50, zero_init_last_norm=True)
    last = [layer for layer in model.layers if layer.name.endswith("_conv3_bn")]
    assert len(last) == 16 and all(np.all(np.asarray(layer.gamma) == 0) for layer in last)
    assert np.all(np.asarray(model.get_layer("stage1_block1_conv1_bn").gamma) == 1)


def test_batchnorm_settings_and_dropout_are_applied():
    model = resnet((32, 32, 1), 10, depth=18, bn_momentum=0.8, bn_epsilon=1e-3, dropout=0.2)
    norms = [layer for layer in model.layers if isinstance(layer, FusedBatchNormalization)]
    assert norms and all(layer.momentum == 0.8 and layer.epsilon == 1e-3 for layer in norms)
    assert model.get_layer("dropout").rate == 0.2
    assert all(layer.epsilon == 1e-5 for layer in resnet((32, 32, 1), 10, depth=18).layers
               if isinstance(layer, FusedBatchNormalization))


@pytest.mark.parametrize("call, message", [
    (lambda: resnet((32, 32, 3), 10, depth=18, groups=32), "bottleneck"),
    (lambda: cifar_resnet((32, 32, 3), 10, depth=21), "6n\\+2"),
    (lambda: cifar_resnet((32, 32, 3), 10, depth=32, bottleneck=True), "9n\\+2"),
    (lambda: wide_resnet((32, 32, 3), 10, depth=27), "6n\\+4"),
    (lambda: cifar_resnet((32, 32, 3), 10, depth=20, plain=True, shortcut="projection"), "no shortcuts"),
])
def test_invalid_configurations_are_reported(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("depth", [20, 56])
def test_plain_cifar_networks_are_the_resnets_without_shortcuts(depth):
    resnet_ = cifar_resnet(*CIFAR, depth=depth)
    plain = cifar_resnet(*CIFAR, depth=depth, plain=True)
    assert plain.name == f"cifar_plain{depth}"
    assert not [layer for layer in plain.layers if isinstance(layer, (keras.layers.Add, ZeroPadChannels))]
    assert len([layer for layer in resnet_.layers if isinstance(layer, keras.layers.Add)]) == (depth - 2) // 2
    # option A's shortcuts have no weights, so the plain network has exactly the ResNet's parameters
    assert trainable(plain) == trainable(resnet_)
    weighted = [layer for layer in plain.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert len(weighted) == depth


def test_save_and_reload_round_trip(tmp_path):
    model = cifar_resnet((32, 32, 1), 10, depth=8)   # option A: the custom ZeroPadChannels layer
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)


def test_spec_keys_are_the_constructor_arguments():
    spec = validate_spec({"name": "t", "model": {"name": "resnext", "depth": 101, "width_per_group": 8}})
    assert spec.model.depth == 101 and spec.model.width_per_group == 8
    for model, bad in [("resnet", {"depth": 51}), ("resnet", {"groups": 0}), ("cifar_resnet", {"depth": 2}),
                       ("wide_resnet", {"dropout": 1.0}), ("resnet", {"preactivaton": True})]:
        with pytest.raises(Exception, match="depth|groups|dropout|preactivaton"):
            validate_spec({"name": "t", "model": {"name": model, **bad}})


def layers_of(model, kind):
    return [layer for layer in model.layers if type(layer) is kind]


def test_group_norm_cifar_resnet_has_the_batchnorm_model_trainable_parameters():
    batch = cifar_resnet(*CIFAR, depth=20)
    group = cifar_resnet(*CIFAR, depth=20, norm="group")
    norms = layers_of(group, keras.layers.GroupNormalization)
    assert not layers_of(group, FusedBatchNormalization)
    assert len(norms) == len(layers_of(batch, FusedBatchNormalization)) == 1 + 2 * 9   # stem + two per block
    assert {layer.name for layer in norms} == {"stem_gn"} | {f"stage{s}_block{b}_conv{i}_gn" for s in (1, 2, 3) for b in (1, 2, 3) for i in (1, 2)}
    assert all(layer.groups == min(32, layer.gamma.shape[0]) for layer in norms)   # gcd(32, 16 | 32 | 64)
    assert trainable(group) == trainable(batch) == 269_722    # GroupNorm has BatchNorm's γ and β, no moving statistics
    assert group.count_params() == batch.count_params() - 2 * batchnorm_channels(batch)
    assert group.output_shape == (None, 10)


@pytest.mark.parametrize("norm, suffix", [("layer", "ln"), ("instance", "in")])
def test_resnet_norm_reaches_stem_blocks_and_v2_head(norm, suffix):
    model = resnet((32, 32, 1), 10, depth=18, preactivation=True, norm=norm)
    assert not layers_of(model, FusedBatchNormalization)
    assert {f"head_{suffix}", f"stage1_block1_preact_{suffix}", f"stage4_block2_conv1_{suffix}"} <= {layer.name for layer in model.layers}
    v1 = resnet((32, 32, 1), 10, depth=18, norm=norm)
    assert f"stem_{suffix}" in {layer.name for layer in v1.layers}
    assert not layers_of(v1, FusedBatchNormalization)


@pytest.mark.parametrize("builder, kwargs, blocks", [
    (cifar_resnet, {"depth": 20}, [(s, b) for s in (1, 2, 3) for b in (1, 2, 3)]),
    (resnet, {"depth": 18}, [(s, b) for s in (1, 2, 3, 4) for b in (1, 2)]),
])
def test_drop_path_rates_grow_linearly_to_the_last_block(builder, kwargs, blocks):
    model = builder((32, 32, 3), 10, drop_path=0.5, **kwargs)
    drops = [layer for layer in model.layers if isinstance(layer, DropPath)]
    assert [layer.name for layer in drops] == [f"stage{s}_block{b}_drop_path" for s, b in blocks]
    rates = [layer.rate for layer in drops]
    assert rates == pytest.approx(stochastic_depth_rates(0.5, len(blocks)))
    assert rates == pytest.approx([0.5 * (i + 1) / len(blocks) for i in range(len(blocks))])    # Huang et al.: l/L·p_L
    assert rates[-1] == 0.5
    assert not any(isinstance(layer, DropPath) for layer in builder((32, 32, 3), 10, **kwargs).layers)


def distinct_rows(outputs):
    rows = []
    for row in np.asarray(outputs):
        if not any(np.allclose(row, seen, rtol=1e-5, atol=1e-5) for seen in rows):
            rows.append(row)
    return len(rows)


def test_drop_path_changes_nothing_at_inference_and_drops_branches_in_training():
    keras.utils.set_random_seed(0)
    plain = cifar_resnet((16, 16, 1), 4, depth=8, norm="group")
    dropping = cifar_resnet((16, 16, 1), 4, depth=8, norm="group", drop_path=0.5)
    dropping.set_weights(plain.get_weights())
    x = np.random.default_rng(6).normal(size=(16, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(dropping(x, training=False), plain(x, training=False))
    np.testing.assert_allclose(plain(x, training=True), plain(x, training=False), rtol=1e-5, atol=1e-6)   # group norm: no batch statistics
    # one image 16 times: each copy draws keep/drop for each of the 3 blocks, so 2 to 2³ distinct outputs
    copies = np.repeat(x[:1], 16, axis=0)
    assert 2 <= distinct_rows(dropping(copies, training=True)) <= 8
    assert distinct_rows(dropping(copies, training=False)) == 1


def test_zero_init_last_norm_with_group_norm_reaches_every_block():
    model = cifar_resnet(*CIFAR, depth=20, norm="group", zero_init_last_norm=True)
    last = [layer for layer in model.layers if layer.name.endswith("_conv2_gn")]
    assert len(last) == 9 and all(np.all(np.asarray(layer.gamma) == 0) for layer in last)
    assert all(np.all(np.asarray(layer.gamma) == 1) for layer in model.layers if layer.name.endswith(("_conv1_gn", "stem_gn")))
    assert len([layer for layer in resnet((32, 32, 3), 10, depth=18, norm="group", zero_init_last_norm=True).layers
                if layer.name.endswith("_conv2_gn") and np.all(np.asarray(layer.gamma) == 0)]) == 8


def test_spec_takes_norm_and_drop_path():
    spec = validate_spec({"name": "t", "model": {"name": "cifar_resnet", "norm": "group", "drop_path": 0.2}})
    assert (spec.model.norm, spec.model.drop_path) == ("group", 0.2)
    for bad in [{"norm": "weight"}, {"drop_path": 1.0}, {"drop_path": -0.1}]:
        with pytest.raises(Exception, match="norm|drop_path"):
            validate_spec({"name": "t", "model": {"name": "cifar_resnet", **bad}})
