"""The convolution-cost benchmark (benchmarks/conv_costs.py) against closed forms, and its recorded results against it."""

import json

import pytest

from benchmarks import conv_costs
from benchmarks.runs import RESULTS

C, SIZE = 8, 10


@pytest.fixture(scope="module")
def small():
    return conv_costs.figures(channels=C, size=SIZE)


@pytest.mark.parametrize("index, count, kernel_size", [(0, 2, 5), (1, 3, 7)])
def test_n_stacked_3x3_convolutions_see_one_large_kernels_window_with_fewer_weights(small, index, count, kernel_size):
    row = small["stacks"][index]
    stacked, one = row["stacked"], row["one"]
    assert (stacked["params"], one["params"]) == (count * 9 * C**2, kernel_size**2 * C**2)  # 2·9·C² vs 25·C²
    assert stacked["receptive_field"] == one["receptive_field"] == kernel_size == 2 * count + 1
    assert (stacked["macs"], one["macs"]) == (SIZE * SIZE * stacked["params"], SIZE * SIZE * one["params"])  # no bias
    assert (stacked["nonlinearities"], one["nonlinearities"]) == (count, 1)
    assert row["macs_ratio"] == pytest.approx(count * 9 / kernel_size**2)  # 0.72 and 0.55


def test_inception_3a_costs_2_4_times_more_without_its_1x1_reductions(small):
    (row,) = [r for r in small["inception"] if r["module"] == "inception 3a"]
    pixels = 28 * 28
    naive_weights = 192 * 64 + 3 * 3 * 192 * 128 + 5 * 5 * 192 * 32
    reduced_weights = 192 * 64 + (192 * 96 + 3 * 3 * 96 * 128) + (192 * 16 + 5 * 5 * 16 * 32) + 192 * 32
    assert (row["naive"]["macs"], row["reduced"]["macs"]) == (pixels * naive_weights, pixels * reduced_weights)
    assert row["naive"]["params"] == naive_weights + 64 + 128 + 32  # + one bias per output channel
    assert row["reduced"]["params"] == reduced_weights + 64 + 96 + 128 + 16 + 32 + 32
    assert (row["naive"]["output_channels"], row["reduced"]["output_channels"]) == (64 + 128 + 32 + 192, 256)
    assert row["macs_ratio"] == pytest.approx(387_072 / 163_328)  # 2.37


def test_the_lecture_example_counts_its_854_m_naive_operations(small):
    (row,) = [r for r in small["inception"] if r["module"] == "lecture example"]
    assert row["naive"]["macs"] == 28 * 28 * 256 * (128 + 9 * 192 + 25 * 96) == 854_196_224
    assert row["reduced"]["macs"] == 28 * 28 * (3 * 256 * 64 + 256 * 128 + 9 * 64 * 192 + 25 * 64 * 96) == 271_351_808
    assert (row["naive"]["output_channels"], row["reduced"]["output_channels"]) == (672, 480)


def test_the_recorded_results_are_the_scripts_figures():
    recorded = json.loads((RESULTS / "conv_costs.json").read_text())
    assert recorded["figures"] == json.loads(json.dumps(conv_costs.figures()))
    assert (RESULTS / "conv_costs.md").read_text() == conv_costs.markdown(recorded)
