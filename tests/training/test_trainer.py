"""The trainer end to end, in process: run folders, resuming rules, re-evaluation, sanity checks."""

import json
import math

import keras
import pytest

from kerascv_suite.spec import dump_spec, load_spec, spec_hash
from kerascv_suite.spec.errors import UserError
from kerascv_suite.core import runs
from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.training.trainer import check_init, compile_model, evaluate_run, overfit, switch_off_regularisation, train
from kerascv_suite.viz.plots import read_history
from tests.conftest import PIPELINES

CLASSIFICATION = PIPELINES / "classification"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    spec = load_spec(None, overrides=["train.epochs=2"])
    runs_dir = tmp_path_factory.mktemp("runs")
    return spec, runs_dir, train(spec, runs_dir=runs_dir, smoke=True)


def test_smoke_run_writes_the_whole_run_folder(smoke_run):
    spec, runs_dir, result = smoke_run
    assert result.run_dir.parent == runs_dir / "lenet5_digits"
    for name in ("spec.yaml", "run.json", "history.csv", "metrics.json", "curves.png", "confusion_matrix.png", "worst.png",
                 "model.keras", "best.weights.h5"):
        assert (result.run_dir / name).stat().st_size > 0, name
    assert (result.run_dir / "spec.yaml").read_text() == dump_spec(spec)
    info = json.loads((result.run_dir / "run.json").read_text())
    assert set(info["versions"]) == {"python", "tensorflow", "keras", "kerascv_suite"} and len(info["spec_hash"]) == 16
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics["test"]) == {"loss", "accuracy"} and math.isfinite(metrics["test"]["loss"])
    assert set(metrics["per_class"]) == {str(d) for d in range(10)}
    assert {"precision", "recall", "support"} <= set(metrics["per_class"]["3"])
    assert sum(c["support"] for c in metrics["per_class"].values()) == metrics["data"]["split_sizes"]["test"]
    assert metrics["train"]["smoke"] is True and metrics["train"]["jit_compile"] is False
    assert read_history(result.run_dir / "history.csv")["epoch"] == [0]
    assert not (result.run_dir / "backup").exists()  # BackupAndRestore cleans up after a finished fit


def test_saved_model_reloads_and_eval_reproduces_the_test_metrics(smoke_run):
    _, _, result = smoke_run
    model = keras.saving.load_model(result.run_dir / "model.keras")
    assert model.count_params() == 61706
    again = evaluate_run(result.run_dir)
    # the smoke run evaluated 2 test batches; eval uses the whole test split of the same seeded split
    assert set(again) == {"loss", "accuracy"} and 0 <= again["accuracy"] <= 1


def test_finished_runs_are_never_overwritten(smoke_run):
    spec, runs_dir, first = smoke_run
    assert runs.unfinished_run(runs_dir, spec.name) is None
    with pytest.raises(UserError, match="finished.*never overwritten"):
        train(spec, run_dir=first.run_dir, smoke=True)


def test_resuming_with_a_changed_spec_is_refused_with_the_diff_unless_forced(tmp_path):
    spec = load_spec(CLASSIFICATION / "softmax.yaml")
    run_dir = runs.new_run_dir(tmp_path, spec.name)
    runs.start(run_dir, dump_spec(spec), spec_hash(spec))
    changed = load_spec(CLASSIFICATION / "softmax.yaml", overrides=["optimizer.learning_rate=0.05"])
    with pytest.raises(UserError, match=r"differs.*-  learning_rate: 0\.01.*\+  learning_rate: 0\.05.*--force"):
        train(changed, runs_dir=tmp_path, smoke=True)
    result = train(changed, runs_dir=tmp_path, smoke=True, force=True)
    assert result.run_dir == run_dir and (run_dir / "metrics.json").exists()


def test_check_init_gives_log_c_for_softmax():
    measured, expected, formula, off, with_penalties = check_init(load_spec(CLASSIFICATION / "softmax.yaml"))
    assert formula == "log(10)" and expected == pytest.approx(math.log(10))
    assert abs(measured - expected) < 0.25 * expected
    assert off == ["L1/L2 penalty on 1 weight"]
    assert with_penalties > measured   # λ = 1e-4 adds a little: the regularisation sanity check


def test_check_init_measures_the_loss_without_the_l2_penalty_and_with_it():
    # A strong penalty on the initial weights adds far more than 25% of log(10) to the loss: the check must leave it out.
    weak = check_init(load_spec(CLASSIFICATION / "softmax.yaml"))
    strong = check_init(load_spec(CLASSIFICATION / "softmax.yaml", overrides=["model.l2=100"]))
    assert strong.off == ["L1/L2 penalty on 1 weight"] and abs(strong.measured - strong.expected) < 0.25 * strong.expected
    assert strong.measured == pytest.approx(weak.measured, rel=1e-5)   # the same untrained model without its penalty
    # with it, the loss grows with λ: 100 · ΣW² of the same initial weights, 10⁶ times weak's 1e-4 · ΣW²
    penalty_weak, penalty_strong = weak.with_penalties - weak.measured, strong.with_penalties - strong.measured
    assert penalty_weak > 0 and penalty_strong == pytest.approx(1e6 * penalty_weak, rel=1e-3)


def test_check_init_of_a_model_without_penalties_has_nothing_to_compare():
    assert check_init(load_spec(CLASSIFICATION / "lenet5.yaml")).with_penalties is None


def test_switching_off_regularisation_removes_penalties_dropout_and_weight_decay():
    from kerascv_suite.layers import DropPath

    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, kernel_regularizer="l2", activity_regularizer="l1", name="first")(inputs)
    x = keras.layers.Dropout(0.5)(x)
    x = x + DropPath(0.5)(keras.layers.Dense(8, name="branch")(x))
    model = keras.Model(inputs, keras.layers.Dense(2, bias_regularizer="l1")(x))
    model.compile(optimizer=keras.optimizers.AdamW(weight_decay=0.1), loss="mse")
    images = keras.random.normal((16, 6), seed=1)
    model(images, training=True)
    assert len(model.losses) == 3
    off = switch_off_regularisation(model)
    assert off == ["L1/L2 penalty on 2 weights", "activity penalty in 1 layer", "dropout in 2 layers", "weight decay"]
    trained, inferred = model(images, training=True), model(images, training=False)
    assert model.losses == [] and model.optimizer.weight_decay is None
    assert keras.ops.convert_to_numpy(trained) == pytest.approx(keras.ops.convert_to_numpy(inferred))
    assert switch_off_regularisation(model) == []


def test_overfit_reaches_full_training_accuracy_on_a_few_examples():
    reached, epochs, accuracy, off = overfit(load_spec(CLASSIFICATION / "mlp.yaml"), 20)
    assert reached and accuracy == 1.0 and epochs < 300 and off == ["L1/L2 penalty on 2 weights"]  # mlp.yaml: l2 on both kernels


def test_overfit_fails_honestly_when_the_model_cannot_learn():
    spec = load_spec(CLASSIFICATION / "mlp.yaml", overrides=["optimizer.learning_rate=1e-9"])
    reached, epochs, accuracy, _ = overfit(spec, 20, max_epochs=5)
    assert not reached and epochs == 5 and accuracy < 1.0


def test_a_training_split_smaller_than_one_dropped_batch_is_refused():
    # 10 classes × 2 labelled examples = 20 training images: batches of 32 with drop_remainder would train nothing, silently
    spec = load_spec(None, overrides=["data.train_examples_per_class=2"])
    info = DataPipeline(spec).info
    assert info.split_sizes["train"] == 20
    with pytest.raises(UserError, match="data.batch_size: 32 is more than the 20 training examples.*drop_remainder") as error:
        compile_model(spec, info)
    assert "\n" not in str(error.value)
    for fix in ("data.batch_size=20", "data.drop_remainder=false"):
        spec = load_spec(None, overrides=["data.train_examples_per_class=2", fix])
        model, _ = compile_model(spec, DataPipeline(spec).info)
        assert model.optimizer is not None


def test_a_run_without_a_validation_split_finishes(tmp_path):
    spec = load_spec(CLASSIFICATION / "softmax.yaml", overrides=["data.splits={train: 0.8, val: 0.0, test: 0.2}"])
    result = train(spec, runs_dir=tmp_path, smoke=True)
    history = read_history(result.run_dir / "history.csv")
    assert "loss" in history and not any(key.startswith("val_") for key in history)
    assert (result.run_dir / "curves.png").stat().st_size > 0


@pytest.mark.parametrize("jit_compile, refused", [(True, True), ("auto", False), (False, False)])
def test_fractional_max_pooling_is_refused_under_jit_compile_true_in_one_line(jit_compile, refused):
    spec = load_spec(None, overrides=["model.pooling=fractional_max", f"train.jit_compile={str(jit_compile).lower()}"])
    info = DataPipeline(spec, smoke=True).info
    if refused:
        with pytest.raises(UserError) as raised:
            compile_model(spec, info)
        message = str(raised.value)
        assert "\n" not in message and "train.jit_compile: true" in message and "(FractionalMaxPooling2D) has no XLA kernel" in message
    else:
        model, _ = compile_model(spec, info)
        assert model.jit_compile is False
