"""The learning-rate range test: geometric rates, each step's own loss, divergence, the suggestion, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerascv_suite.cli import main
from kerascv_suite.spec import load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.training.lr_finder import RangeTest, _RisingRate, lr_range_test
from tests.conftest import PIPELINES

SGD = PIPELINES / "training" / "optimizer_sgd.yaml"


def test_each_steps_loss_is_recovered_from_keras_running_mean_and_smoothed_with_bias_correction():
    losses = [2.0, 3.0, 1.0, 4.0, 0.5]
    result = RangeTest("t")
    callback = _RisingRate(result, np.geomspace(1e-3, 1.0, len(losses)), smoothing=0.5, divergence=100.0)
    for step in range(len(losses)):
        callback.on_train_batch_end(step, {"loss": np.mean(losses[: step + 1])})   # what Keras logs
    np.testing.assert_allclose(result.losses, losses)
    average, expected = 0.0, []
    for step, loss in enumerate(losses):
        average = 0.5 * average + 0.5 * loss
        expected.append(average / (1 - 0.5 ** (step + 1)))
    np.testing.assert_allclose(result.smoothed, expected)
    assert result.smoothed[0] == losses[0]   # bias correction: the first value is not pulled towards 0


def test_the_rate_rises_geometrically_and_the_loss_falls_then_diverges():
    result = lr_range_test(load_spec(SGD), min_lr=1e-3, max_lr=1e3, steps=60)
    rates = np.asarray(result.rates)
    np.testing.assert_allclose(rates[1:] / rates[:-1], (1e6) ** (1 / 59), rtol=1e-6)
    assert rates[0] == pytest.approx(1e-3)
    assert result.diverged_at is not None and len(rates) < 60   # 1e3 is far too high for this MLP
    assert min(result.smoothed) < 0.9 * result.smoothed[5]       # in between, it learnt
    assert result.suggestion == pytest.approx(result.lowest / 10)
    assert 1e-3 < result.lowest < result.diverged_at and result.steepest <= result.lowest


def test_bad_bounds_and_an_optimizer_without_a_rate_are_one_line_errors():
    with pytest.raises(UserError, match="need 0 < --min < --max"):
        lr_range_test(load_spec(SGD), min_lr=1.0, max_lr=0.1)
    with pytest.raises(UserError, match="lbfgs has no learning rate"):
        lr_range_test(load_spec(PIPELINES / "training" / "optimizer_lbfgs.yaml"))


def test_kcv_lr_find_writes_the_picture_and_the_figures(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["lr-find", str(SGD), "--min", "1e-3", "--max", "100", "--steps", "40", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "lr_find.json").read_text())
    assert f"suggested learning rate {saved['suggestion']:.2g}" in printed and f"wrote {out}/" in printed
    assert (out / "lr_find.png").stat().st_size > 10_000 and len(saved["rates"]) == len(saved["losses"])
    assert main(["lr-find", str(SGD), "--out", str(out)]) == 2   # never into a folder with files
