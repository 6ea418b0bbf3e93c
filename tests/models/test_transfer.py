"""transfer: a new head on a saved model's features, frozen layers, where the source comes from, and its errors."""

import shutil

import keras
import numpy as np
import pytest

from kerascv_suite.data.pipeline import DataInfo
from kerascv_suite.models import build_model, dtype_policy
from kerascv_suite.models.lenet import lenet5
from kerascv_suite.models.transfer import resolve_source, transfer
from kerascv_suite.spec import validate_spec
from kerascv_suite.spec.errors import UserError

SHAPE = (32, 32, 1)
WEIGHTED = ("c1", "c3", "c5", "f6")
HEAD = 84 * 3 + 3


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A LeNet-5 for 5 classes saved as a .keras file, and the model itself."""
    model = lenet5(SHAPE, 5)
    path = tmp_path_factory.mktemp("pretrained") / "m.keras"
    model.save(path)
    return path, model


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_new_head_on_the_chosen_features_with_the_source_weights(source):
    path, pretrained = source
    model = transfer(SHAPE, 3, source=str(path), features="f6_act", freeze_until="c3")
    head = model.get_layer("transfer_logits")
    assert head.units == 3 and model.output_shape == (None, 3)
    assert head.input is model.get_layer("f6_act").output
    assert "logits" not in {layer.name for layer in model.layers}     # the source's classifier is gone
    for name in WEIGHTED:
        for ours, theirs in zip(model.get_layer(name).get_weights(), pretrained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    x = np.random.default_rng(0).normal(size=(2, *SHAPE)).astype("float32")
    features = keras.Model(pretrained.input, pretrained.get_layer("f6_act").output)(x)
    kernel, bias = head.get_weights()
    np.testing.assert_allclose(model(x), np.asarray(features) @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_layers_up_to_freeze_until_are_frozen(source):
    model = transfer(SHAPE, 3, source=str(source[0]), features="f6_act", freeze_until="c3")
    frozen = {layer.name for layer in model.layers if not layer.trainable}
    assert {"c1", "c1_act", "s2", "c3"} <= frozen
    assert not frozen & {"c3_act", "s4", "c5", "c5_act", "f6", "f6_act", "transfer_logits"}
    assert trainable_count(model) == (400 * 120 + 120) + (120 * 84 + 84) + HEAD


def test_freeze_all_trains_only_the_linear_head(source):
    model = transfer(SHAPE, 3, source=str(source[0]), features="f6_act", freeze_until="all")
    assert trainable_count(model) == HEAD == 84 * 3 + 3
    assert [layer.name for layer in model.layers if layer.trainable_weights] == ["transfer_logits"]


def test_default_features_are_the_input_of_the_source_classifier_and_none_fine_tunes_everything(source):
    model = transfer(SHAPE, 3, source=str(source[0]))
    assert model.get_layer("transfer_logits").input is model.get_layer("f6_act").output
    assert trainable_count(model) == 156 + 2416 + 48120 + 10164 + HEAD   # LeNet-5 without its classifier


def test_default_features_skip_a_trailing_softmax_and_a_mixed_precision_float32_cast(tmp_path):
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    logits = keras.layers.Dense(3, name="logits")(hidden)
    outputs = keras.layers.Activation("linear", dtype="float32", name="float32_0")(keras.layers.Softmax(name="probs")(logits))
    keras.Model(inputs, outputs).save(tmp_path / "m.keras")
    model = transfer((6,), 2, source=str(tmp_path / "m.keras"))
    assert model.get_layer("transfer_logits").input is model.get_layer("hidden").output
    assert not {"logits", "probs", "float32_0"} & {layer.name for layer in model.layers}


def test_a_float32_source_computes_in_the_mixed_policy_it_is_fine_tuned_under(source):
    with dtype_policy("mixed_bfloat16"):
        model = transfer(SHAPE, 3, source=str(source[0]), features="f6_act")
    assert {layer.dtype_policy.name for layer in model.layers if layer.weights} == {"mixed_bfloat16"}
    for name in WEIGHTED:  # the weights are the source's, still float32 variables
        for ours, theirs in zip(model.get_layer(name).weights, source[1].get_layer(name).weights):
            assert ours.dtype == "float32"
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_hidden_layer_and_dropout_in_the_head(source):
    model = transfer(SHAPE, 3, source=str(source[0]), features="c5_act", freeze_until="all", hidden=16, dropout=0.3)
    assert model.get_layer("transfer_hidden").input is model.get_layer("c5_act").output
    assert model.get_layer("transfer_dropout").rate == 0.3
    assert trainable_count(model) == (120 * 16 + 16) + (16 * 3 + 3)
    assert "f6" not in {layer.name for layer in model.layers}


def test_freeze_until_none_unfreezes_a_source_saved_with_frozen_layers(source, tmp_path):
    # a model that was itself a frozen transfer (or any model saved with frozen layers) as the source
    frozen = transfer(SHAPE, 4, source=str(source[0]), freeze_until="all")
    frozen.save(tmp_path / "frozen.keras")
    model = transfer(SHAPE, 3, source=str(tmp_path / "frozen.keras"), features="f6_act", freeze_until=None)
    assert all(layer.trainable for layer in model.layers)       # "None fine-tunes all"
    partly = transfer(SHAPE, 3, source=str(tmp_path / "frozen.keras"), features="f6_act", freeze_until="c3")
    assert partly.get_layer("c5").trainable and not partly.get_layer("c3").trainable


def save_run(folder, c1_bias, finished=True):
    """A fake run folder: a LeNet-5 whose c1 bias is `c1_bias` (to tell runs apart), metrics.json when finished."""
    folder.mkdir(parents=True)
    model = lenet5(SHAPE, 5)
    kernel, _ = model.get_layer("c1").get_weights()
    model.get_layer("c1").set_weights([kernel, np.full(6, c1_bias, "float32")])
    model.save(folder / "model.keras")
    if finished:
        (folder / "metrics.json").write_text("{}")


def test_source_may_be_a_run_folder_or_a_runs_name_folder(tmp_path):
    runs = tmp_path / "runs" / "pretrain"
    save_run(runs / "20250101-100000", 1.0)
    save_run(runs / "20250102-100000", 2.0)                   # the newest finished run
    save_run(runs / "20250103-100000", 3.0, finished=False)   # still running (or killed): skipped
    (runs / "notes").mkdir()
    assert resolve_source(runs) == runs / "20250102-100000" / "model.keras"
    model = transfer(SHAPE, 3, source=str(runs), features="f6_act")
    np.testing.assert_array_equal(model.get_layer("c1").get_weights()[1], np.full(6, 2.0))
    one_run = transfer(SHAPE, 3, source=str(runs / "20250101-100000"), features="f6_act")
    np.testing.assert_array_equal(one_run.get_layer("c1").get_weights()[1], np.full(6, 1.0))
    assert resolve_source(runs / "20250103-100000") == runs / "20250103-100000" / "model.keras"   # named explicitly


def one_line_value_error(call, match):
    with pytest.raises(ValueError, match=match) as error:
        call()
    assert "\n" not in str(error.value)


def test_bad_sources_are_one_line_errors(source, tmp_path):
    one_line_value_error(lambda: transfer(SHAPE, 3, source=str(tmp_path / "missing")), "not found")
    (tmp_path / "empty").mkdir()
    one_line_value_error(lambda: transfer(SHAPE, 3, source=str(tmp_path / "empty")), "no finished run")
    save_run(tmp_path / "runs" / "a" / "20250101-100000", 0.0, finished=False)
    one_line_value_error(lambda: transfer(SHAPE, 3, source=str(tmp_path / "runs" / "a")), "no finished run")
    shutil.copy(source[0], tmp_path / "m.h5")
    one_line_value_error(lambda: transfer(SHAPE, 3, source=str(tmp_path / "m.h5")), "not a .keras")


def test_bad_shapes_and_layer_names_are_one_line_errors(source):
    path = str(source[0])
    one_line_value_error(lambda: transfer((28, 28, 1), 3, source=path), r"inputs of shape \[32, 32, 1\].*\[28, 28, 1\]")
    one_line_value_error(lambda: transfer((32, 32, 3), 3, source=path), "shape")
    one_line_value_error(lambda: transfer(SHAPE, 3, source=path, features="fc7"), "features: no layer 'fc7'.*c1, c1_act")
    one_line_value_error(lambda: transfer(SHAPE, 3, source=path, freeze_until="conv1"), "freeze_until: no layer 'conv1'")
    one_line_value_error(lambda: transfer(SHAPE, 3, source=path, features="all"), "features: no layer 'all'")


def test_build_model_reports_the_error_as_a_user_error_naming_the_model(tmp_path):
    spec = validate_spec({"name": "t", "model": {"name": "transfer", "source": str(tmp_path / "runs" / "nothing")}})
    info = DataInfo(input_shape=SHAPE, num_classes=3, class_names=["a", "b", "c"], split_sizes={"train": 10})
    with pytest.raises(UserError, match="model 'transfer': source .*nothing not found") as error:
        build_model(spec, info)
    assert "\n" not in str(error.value)
