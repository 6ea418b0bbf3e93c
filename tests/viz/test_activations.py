"""Activation statistics at initialisation (`kerascv_suite.viz.activations`) against closed-form scaling.

A 6 × 100 version of the 10 × 500 pipelines keeps the test fast; the arithmetic below is for
width n = 100. Near 0 tanh is the identity, so a layer of N(0, σ²) weights multiplies the std by
σ·√n: 0.01·√100 = 0.1 for small_gaussian (collapse: 0.1⁵ = 1e-5 over five layers). For ReLU,
E[relu(z)²] = Var(z)/2, so the factor is σ·√(n/2): 0.07 for small_gaussian, 1 for He
(Var = 2/n) and 1/√2 for Glorot (Var = 2/(n + n)).
"""

import json

import numpy as np
import pytest

from kerascv_suite.spec import load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.viz.activations import activation_statistics, write_activation_report
from tests.conftest import PIPELINES

SMALL = ["model.hidden=[100, 100, 100, 100, 100, 100]"]


def _spec(activation: str, overrides=SMALL):
    return load_spec(PIPELINES / "training" / f"activations_{activation}.yaml", overrides=overrides)


@pytest.fixture(scope="module")
def tanh():
    return activation_statistics(_spec("tanh"), ["zeros", "small_gaussian", "gaussian(1.0)", "glorot_normal"], batch=200)


@pytest.fixture(scope="module")
def relu():
    return activation_statistics(_spec("relu"), ["small_gaussian", "glorot_normal", "he_normal"], batch=200)


def _ratios(std: list[float]) -> np.ndarray:
    return np.asarray(std[1:]) / np.asarray(std[:-1])


def test_small_gaussian_weights_collapse_tanh_activations_by_a_tenth_a_layer(tanh):
    assert tanh.layers == [f"hidden{i}_act" for i in range(1, 7)] and tanh.examples == 200
    std = tanh.std["small_gaussian"]
    np.testing.assert_allclose(_ratios(std), 0.1, rtol=0.25)
    assert std[-1] < 1e-3 * std[0]
    assert max(abs(m) for m in tanh.mean["small_gaussian"][1:]) < 0.1 * std[0]


def test_too_large_gaussian_weights_saturate_tanh_at_plus_minus_one(tanh):
    # pre-activations of std ~ σ·√n·0.9 = 9: nearly every unit sits on ±1, where tanh's gradient is ~0
    assert all(std > 0.9 for std in tanh.std["gaussian(1.0)"][1:])
    assert all(std < 0.7 for std in tanh.std["glorot_normal"])


def test_all_zero_weights_give_every_unit_the_same_zero_output(tanh):
    assert tanh.std["zeros"] == [0.0] * 6 and tanh.zeros["zeros"] == [1.0] * 6


def test_xavier_keeps_tanh_activations_spread(tanh):
    std = tanh.std["glorot_normal"]
    # tanh contracts a little each layer, so the std drifts down slowly, never geometrically
    assert 0.3 * std[0] < std[-1] < std[0]
    assert std[-1] > 1e4 * tanh.std["small_gaussian"][-1]


def test_he_keeps_relu_activations_where_small_and_glorot_weights_shrink_them(relu):
    he, glorot, small = relu.std["he_normal"], relu.std["glorot_normal"], relu.std["small_gaussian"]
    assert 0.5 * he[0] < he[-1] < 2 * he[0]
    assert glorot[-1] < 0.5 * glorot[0]  # (1/√2)⁵ ≈ 0.18 in expectation
    np.testing.assert_allclose(_ratios(small)[1:], 0.01 * np.sqrt(50), rtol=0.3)
    assert small[-1] < 1e-3 * small[0]
    # ReLU zeroes about half of the units, whatever the weights' scale
    assert all(0.35 < z < 0.65 for z in relu.zeros["he_normal"] + relu.zeros["small_gaussian"])


def test_report_writes_the_grid_and_the_tables(tanh, tmp_path):
    out = write_activation_report(tanh, tmp_path / "report")
    assert (out / "activations.png").stat().st_size > 10_000
    saved = json.loads((out / "activations.json").read_text())
    row = next(r for r in saved["statistics"] if r["initializer"] == "small_gaussian" and r["layer"] == "hidden6_act")
    assert row["std"] == pytest.approx(tanh.std["small_gaussian"][-1])
    assert len(saved["statistics"]) == 4 * 6
    markdown = (out / "activations.md").read_text()
    assert "| glorot_normal |" in markdown and "hidden6" in markdown
    assert "zeros" in tanh.table().splitlines()[2] and "small_gaussian" in tanh.table().splitlines()[3]


def test_report_never_writes_into_a_folder_with_files(tanh, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not an empty folder"):
        write_activation_report(tanh, tmp_path)


def test_default_report_folder_is_a_new_one_under_the_spec_name(tanh, tmp_path):
    first = write_activation_report(tanh, runs_dir=tmp_path)
    second = write_activation_report(tanh, runs_dir=tmp_path)
    assert first.parent == second.parent == tmp_path / "activations_tanh" / "activations" and first != second


def test_a_model_without_hidden_activation_layers_is_a_one_line_error():
    with pytest.raises(UserError) as error:
        activation_statistics(load_spec(PIPELINES / "classification" / "lenet5.yaml"))
    assert len(error.value.problems) == 1 and "lenet5" in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_initializer_is_a_one_line_error():
    with pytest.raises(UserError, match="initializer 'xavier' is not allowed for model 'mlp'"):
        activation_statistics(_spec("tanh"), ["xavier"])
