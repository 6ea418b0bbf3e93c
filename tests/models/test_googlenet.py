"""GoogLeNet: counts from Table 1 and torchvision, the inception module, the small-input stem, and training with auxiliary classifiers."""

import gc

import keras
import numpy as np
import pytest

from kerascv_suite.models import dtype_policy, float32_outputs
from kerascv_suite.models.arithmetic import receptive_fields, summary
from kerascv_suite.models.googlenet import (
    STAGES,
    AuxiliaryClassifierModel,
    AuxiliaryLogits,
    Inception,
    googlenet,
    inception_module,
)
from kerascv_suite.spec import validate_spec

IMAGENET = ((224, 224, 3), 1000)
SIDES = {"3": 28, "4": 14, "5": 7}   # map side of each stage at 224×224


@pytest.fixture(autouse=True)
def free_memory():
    """ImageNet-size models hold hundreds of MB each: release them between tests."""
    yield
    keras.backend.clear_session()
    gc.collect()


def table1():
    """Weights, biases (one per convolution output channel) and MACs of Table 1's configuration at 224×224."""
    weights = 7 * 7 * 3 * 64 + 64 * 64 + 3 * 3 * 64 * 192
    macs = 112 * 112 * 7 * 7 * 3 * 64 + 56 * 56 * (64 * 64 + 3 * 3 * 64 * 192)
    biases = 64 + 64 + 192
    channels = 192
    for modules in STAGES:
        for module, s in modules.items():
            w = channels * (s.branch1x1 + s.reduce3x3 + s.reduce5x5 + s.pool_proj) + 9 * s.reduce3x3 * s.branch3x3 + 25 * s.reduce5x5 * s.branch5x5
            weights, macs = weights + w, macs + SIDES[module[0]] ** 2 * w
            biases += sum(s)
            channels = s.branch1x1 + s.branch3x3 + s.branch5x5 + s.pool_proj
    assert channels == 1024
    return weights + 1024 * 1000, biases + 1000, macs + 1024 * 1000


def test_imagenet_counts_equal_table1():
    weights, biases, macs = table1()
    assert (weights, macs) == (6_990_272, 1_582_671_872)
    total = summary(googlenet(*IMAGENET))[-1]
    assert (total.params, total.macs) == (weights + biases, macs)
    # The table's own columns, which carry slips (conv1: 2.7K/34M), sum to 6,797.7 "K" = units of 1,024, and 1,502 M.
    assert total.params == pytest.approx(6_797.7 * 1024, rel=0.01)


def test_batch_norm_equals_torchvision_plus_the_real_5x5_kernels():
    five_by_five = sum(16 * s.reduce5x5 * s.branch5x5 for modules in STAGES for s in modules.values())  # 25 − 9 weights per pair
    assert five_by_five == 380_928
    model = googlenet(*IMAGENET, batch_norm=True)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 6_624_904 + five_by_five                       # torchvision's documented num_params
    assert summary(model)[-1].macs == pytest.approx(1.50e9 + 84e6, rel=0.005)   # its 1.50 GFLOPS + the 5×5 branches


def side(model, name):
    return model.get_layer(name).output.shape[1]


def test_imagenet_feature_maps():
    model = googlenet(*IMAGENET)
    assert [side(model, n) for n in ("conv1_conv", "conv1_pool", "conv2_pool", "inception3b_concat", "inception4e_concat",
                                       "inception5b_concat")] == [112, 56, 28, 28, 14, 7]
    assert [model.get_layer(f"inception{m}_concat").output.shape[-1] for m in ("3a", "3b", "4a", "4d", "4e", "5b")] == [
        256, 480, 512, 528, 832, 1024]
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize("size, small_input, expected", [(32, None, 4), (32, True, 4), (32, False, 1), (63, None, 8), (64, None, 2)])
def test_small_input_stem(size, small_input, expected):
    model = googlenet((size, size, 1), 10, small_input=small_input)
    assert side(model, "inception5b_concat") == expected
    small = small_input or (small_input is None and size < 64)
    conv1 = model.get_layer("conv1_conv")
    assert (conv1.kernel_size, conv1.strides) == (((3, 3), (1, 1)) if small else ((7, 7), (2, 2)))
    assert ("conv1_pool" in {layer.name for layer in model.layers}) is not small


def test_inception_module_concatenates_its_four_branches():
    inputs = keras.Input((6, 6, 8))
    spec = Inception(3, 2, 4, 2, 5, 6)
    outputs = inception_module(inputs, spec, {"batch_norm": False}, name="m")
    module = keras.Model(inputs, outputs)
    branches = [module.get_layer(f"m_{branch}_act").output for branch in ("1x1", "3x3", "5x5", "pool_proj")]
    probe = keras.Model(inputs, [outputs, *branches])
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 8)).astype("float32")
    concat, *branches = probe(x)
    assert concat.shape == (2, 6, 6, 3 + 4 + 5 + 6)
    np.testing.assert_allclose(concat, np.concatenate([np.asarray(b) for b in branches], axis=-1))
    assert probe.get_layer("m_5x5_conv").kernel_size == (5, 5)
    assert probe.get_layer("m_pool").strides == (1, 1)
    # The pooling branch max-pools the input 3×3 ("same") before its 1×1 projection.
    pooled = keras.Model(inputs, probe.get_layer("m_pool").output)(x).numpy()
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    expected = np.max([padded[:, i:i + 6, j:j + 6] for i in range(3) for j in range(3)], axis=0)
    np.testing.assert_allclose(pooled, expected)


# ------------------------------------------------------------------ auxiliary classifiers

def digits_batch(n=8, size=32, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, size, size, 1)).astype("float32"), rng.integers(0, classes, size=n)


def small_googlenet(**kwargs):
    keras.utils.set_random_seed(0)
    return googlenet((32, 32, 1), 10, aux_classifiers=True, **kwargs)


def tiny_wrapper(aux_weight=0.3):
    """The wrapper around a 3-output network small enough to compile in a second: its behaviour does not depend on GoogLeNet."""
    keras.utils.set_random_seed(0)
    images = keras.Input((8, 8, 1), name="images")
    h1 = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(images)
    h2 = keras.layers.Conv2D(4, 3, activation="relu", name="c2")(h1)
    aux1 = keras.layers.Dense(3, name="aux1")(keras.layers.Flatten(name="aux1_flatten")(h1))
    aux2 = keras.layers.Dense(3, name="aux2")(keras.layers.Flatten(name="aux2_flatten")(h2))
    logits = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D(name="pool")(h2))
    weighted = [AuxiliaryLogits(aux_weight, name=f"aux{i}_weight")(a) for i, a in enumerate((aux1, aux2), start=1)]
    return AuxiliaryClassifierModel(images, [logits, *weighted], name="tiny")


def cross_entropy(labels, logits):
    return float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits))


def compiled(model, jit_compile=False):
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


def test_without_auxiliary_classifiers_it_is_a_plain_functional_model():
    model = googlenet((32, 32, 1), 10)
    assert type(model).__name__ == "Functional" and not isinstance(model, AuxiliaryClassifierModel)
    assert "aux1" not in {layer.name for layer in model.layers}


def test_auxiliary_heads_sit_after_4a_and_4d():
    model = small_googlenet()
    assert isinstance(model, AuxiliaryClassifierModel) and model.aux_weights == [0.3, 0.3]
    assert [o.shape for o in model.outputs] == [(None, 10)] * 3
    for head, module in (("aux1", "inception4a"), ("aux2", "inception4d")):
        layer = model.get_layer(head)
        assert layer.input.shape == model.get_layer(f"{module}_concat").output.shape
        assert layer.get_layer(f"{head}_avgpool").output.shape[1:3] == (4, 4)
    fc_inputs = 4 * 4 * 128
    assert model.get_layer("aux1").count_params() == (512 * 128 + 128) + (fc_inputs * 1024 + 1024) + (1024 * 10 + 10)


def fit_loss_and_expected(model, x, y, weight, jit_compile=False):
    compiled(model, jit_compile)
    logits, aux1, aux2 = model(x, training=True)
    expected = cross_entropy(y, logits) + weight * (cross_entropy(y, aux1) + cross_entropy(y, aux2))
    history = model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0).history
    return history, expected, logits


def test_googlenet_fit_loss_is_main_plus_weighted_auxiliary_losses():
    x, y = digits_batch()
    history, expected, logits = fit_loss_and_expected(small_googlenet(aux_weight=0.3), x, y, 0.3)
    assert history["loss"][0] == pytest.approx(expected, rel=1e-4)
    assert history["accuracy"][0] == pytest.approx(np.mean(np.argmax(logits, axis=1) == y))   # metrics score the main logits


@pytest.mark.parametrize("jit_compile", [False, True])
def test_wrapper_fit_loss_under_xla_and_not(jit_compile):
    x, y = digits_batch(size=8, classes=3)
    history, expected, _ = fit_loss_and_expected(tiny_wrapper(aux_weight=0.5), x, y, 0.5, jit_compile)
    assert history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_evaluate_and_predict_see_only_the_main_classifier():
    x, y = digits_batch(size=8, classes=3)
    model = compiled(tiny_wrapper())
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    predictions = model.predict(x, verbose=0)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (8, 3)
    np.testing.assert_allclose(predictions, model(x), rtol=1e-6)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(cross_entropy(y, predictions), rel=1e-5)
    assert set(result) == {"loss", "accuracy"}
    assert model(keras.Input((8, 8, 1))).shape == (None, 3)       # used inside another model: the logits


def test_googlenet_keras_file_round_trip_and_clone(tmp_path):
    x, _ = digits_batch(n=2)
    model = small_googlenet(aux_weight=0.5)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded, AuxiliaryClassifierModel) and reloaded.aux_weights == [0.5, 0.5]
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    clone = keras.models.clone_model(model)               # what the SavedModel export and execution-mode timing do
    assert isinstance(clone, AuxiliaryClassifierModel) and clone.aux_weights == [0.5, 0.5]


def test_wrapper_clones_as_itself():
    x, _ = digits_batch(size=8)
    model = tiny_wrapper(aux_weight=0.5)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    assert isinstance(clone, AuxiliaryClassifierModel) and clone.aux_weights == [0.5, 0.5]
    np.testing.assert_array_equal(clone(x), model(x))


def test_arithmetic_works_on_the_wrapper():
    model = small_googlenet()
    rows = summary(model)
    assert [r.stage for r in rows][-4:] == ["logits", "aux1", "aux2", "total"]
    assert rows[-1].params == model.count_params()
    assert rows[-1].output_shape == (10,)
    assert rows[-1].macs == summary(googlenet((32, 32, 1), 10))[-1].macs + sum(r.macs for r in rows if r.stage.startswith("aux"))
    fields = {r.layer: r for r in receptive_fields(model)}
    assert fields["logits"].receptive_field == fields["pool"].receptive_field


def test_trains_under_mixed_precision_with_float32_outputs():
    x, y = digits_batch()
    with dtype_policy("mixed_bfloat16"):
        model = small_googlenet()
    assert float32_outputs(model) is model                 # every output is already float32: the wrapper is kept
    assert all(keras.backend.standardize_dtype(o.dtype) == "float32" for o in model.outputs)
    assert model.get_layer("inception3a_1x1_conv").dtype_policy.compute_dtype == "bfloat16"
    history = compiled(model).fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert keras.backend.standardize_dtype(model(x).dtype) == "float32"


def test_spec_keys_are_the_constructor_arguments():
    spec = validate_spec({"name": "t", "model": {"name": "googlenet", "aux_classifiers": True, "aux_weight": 0.5, "batch_norm": True}})
    assert (spec.model.aux_classifiers, spec.model.aux_weight, spec.model.batch_norm) == (True, 0.5, True)
    for bad in ({"aux_weight": -1}, {"dropout": 1.0}, {"aux_dropout": 1.5}):
        with pytest.raises(Exception, match="aux_weight|dropout|aux_dropout"):
            validate_spec({"name": "t", "model": {"name": "googlenet", **bad}})
