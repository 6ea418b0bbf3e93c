"""Full-batch L-BFGS against SciPy's L-BFGS-B on the same objective, its trainer wiring, and saving."""

import keras
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_softmax

from kerascv_suite.data import DataPipeline
from kerascv_suite.models.linear import linear
from kerascv_suite.spec import load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.training.lbfgs import LBFGS, FullBatchLBFGSModel, check_full_batch
from kerascv_suite.tasks.losses import CrossEntropy
from kerascv_suite.training.trainer import compile_model, train
from kerascv_suite.viz.plots import read_history
from tests.conftest import PIPELINES

N, D, C, L2 = 120, 6, 3, 0.01


@pytest.fixture(scope="module")
def problem():
    """A small softmax-regression problem whose classes overlap (a finite, unique minimum)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    scores = x @ rng.normal(size=(D, C)) + rng.normal(size=C)
    probabilities = np.exp(log_softmax(scores, axis=1))
    y = np.array([rng.choice(C, p=p) for p in probabilities])
    return x, y


def objective(params, x, y):
    """Mean cross-entropy + λ·ΣW² (Keras's L1L2 on the kernel only, not the bias), and its gradient."""
    w, b = params[: D * C].reshape(D, C), params[D * C :]
    log_p = log_softmax(x @ w + b, axis=1)
    loss = -log_p[np.arange(len(y)), y].mean() + L2 * np.sum(w * w)
    residual = (np.exp(log_p) - np.eye(C)[y]) / len(y)
    return loss, np.concatenate([(x.T @ residual + 2 * L2 * w).ravel(), residual.sum(axis=0)])


def lbfgs_model(max_iterations):
    keras.utils.set_random_seed(0)
    base = linear((D,), C, l2=L2)
    model = FullBatchLBFGSModel(base.inputs, base.outputs, name=base.name)
    model.compile(optimizer=LBFGS(max_iterations=max_iterations), loss=CrossEntropy())
    return model


def parameters(model):
    kernel, bias = model.get_layer("logits").get_weights()
    return np.concatenate([kernel.ravel(), bias]).astype("float64")


@pytest.fixture(scope="module")
def trained(problem):
    """Four epochs of 3 L-BFGS iterations each (one batch per epoch), then 20 more epochs to converge."""
    x, y = problem
    model = lbfgs_model(max_iterations=3)
    initial = objective(parameters(model), x.astype("float64"), y)[0]
    early = model.fit(x, y, batch_size=N, epochs=4, shuffle=False, verbose=0).history["loss"]
    iterations = int(model.optimizer.iterations.numpy())
    late = model.fit(x, y, batch_size=N, epochs=20, shuffle=False, verbose=0).history["loss"]
    return model, initial, early, iterations, late


def test_reaches_scipys_minimum_of_the_same_objective(problem, trained):
    x, y = problem
    model, _, _, _, late = trained
    reference = minimize(objective, np.zeros(D * C + C), args=(x.astype("float64"), y), jac=True, method="L-BFGS-B",
                         options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-10})
    assert reference.success
    assert late[-1] == pytest.approx(reference.fun, rel=1e-5)
    loss, gradient = objective(parameters(model), x.astype("float64"), y)
    assert loss == pytest.approx(reference.fun, rel=1e-5)
    assert np.abs(objective(np.zeros(D * C + C), x, y)[1]).max() > 0.1
    assert np.abs(gradient).max() < 1e-4  # a stationary point
    np.testing.assert_allclose(parameters(model), reference.x, atol=1e-3)


def test_epoch_losses_never_increase_and_iterations_count_lbfgs_steps(trained):
    model, initial, early, iterations, late = trained
    assert early[0] < initial
    assert all(later < earlier for earlier, later in zip(early, early[1:]))  # far from the minimum: real progress
    losses = early + late
    assert all(later <= earlier * (1 + 1e-6) for earlier, later in zip(losses, losses[1:]))  # and no epoch loses ground
    assert 4 < iterations <= 3 * 4  # L-BFGS iterations (up to 3 per epoch), not one per batch
    assert int(model.optimizer.iterations.numpy()) > 24


def test_the_optimizer_alone_cannot_apply_a_gradient():
    variable = keras.Variable(np.ones(2, "float32"))
    with pytest.raises(TypeError, match="FullBatchLBFGSModel"):
        LBFGS().apply_gradients([(keras.ops.ones(2), variable)])


def test_saved_model_reloads_with_its_optimizer_and_logits(problem, trained, tmp_path):
    x, _ = problem
    model = trained[0]
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(restored, FullBatchLBFGSModel) and isinstance(restored.optimizer, LBFGS)
    assert restored.optimizer.max_iterations == 3
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- through a spec


def test_check_full_batch_boundaries():
    assert check_full_batch(100, True, 100) is None  # exactly one full batch: nothing is dropped
    assert check_full_batch(4096, False, 100) is None
    assert "data.batch_size is 99" in check_full_batch(99, False, 100)
    assert "data.drop_remainder" in check_full_batch(101, True, 100)


@pytest.mark.parametrize("overrides, problem", [
    (["optimizer={name: lbfgs}"], r"data\.batch_size is 32.*at least 1258"),
    (["optimizer={name: lbfgs}", "data.batch_size=4096"], r"data\.drop_remainder must be false"),
], ids=["small_batch", "drop_remainder"])
def test_specs_that_cannot_feed_a_full_batch_are_refused(overrides, problem):
    spec = load_spec(PIPELINES / "classification" / "softmax.yaml", overrides=overrides)
    pipeline = DataPipeline(spec)
    assert pipeline.info.split_sizes["train"] == 1258
    with pytest.raises(UserError, match=r"optimizer lbfgs: " + problem):
        compile_model(spec, pipeline.info)


@pytest.fixture(scope="module")
def lbfgs_run(tmp_path_factory):
    spec = load_spec(PIPELINES / "training" / "optimizer_lbfgs.yaml")
    return train(spec, runs_dir=tmp_path_factory.mktemp("runs"), smoke=True)


def test_lbfgs_pipeline_trains_and_logs_no_learning_rate(lbfgs_run, tmp_path):
    history = read_history(lbfgs_run.run_dir / "history.csv")
    assert "learning_rate" not in history and {"loss", "accuracy", "val_loss"} <= set(history)
    # one epoch of 30 L-BFGS iterations on the whole training split already classifies the digits
    assert lbfgs_run.metrics["test"]["accuracy"] > 0.8
    sgd = train(load_spec(PIPELINES / "training" / "optimizer_sgd.yaml"), runs_dir=tmp_path, smoke=True)
    assert read_history(sgd.run_dir / "history.csv")["learning_rate"] == [pytest.approx(0.05)]


def test_lbfgs_run_model_reloads_with_the_trained_weights(lbfgs_run):
    restored = keras.saving.load_model(lbfgs_run.run_dir / "model.keras")
    assert isinstance(restored, FullBatchLBFGSModel) and restored.optimizer.max_iterations == 30
    spec = load_spec(PIPELINES / "training" / "optimizer_lbfgs.yaml")
    pipeline = DataPipeline(spec)
    images, _ = pipeline.examples("test", limit=32)
    model, _ = compile_model(spec, pipeline.info)
    # one epoch: the best checkpoint is the final model
    model.load_weights(lbfgs_run.run_dir / "best.weights.h5")
    np.testing.assert_allclose(restored.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    untrained, _ = compile_model(spec, pipeline.info)
    assert not np.allclose(untrained.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-3)
