"""The speed benchmark's arithmetic and bookkeeping (benchmarks/speed.py).

The timings themselves are `python -m benchmarks.speed`'s business; these tests only check what
it computes from them. PyTorch is the `bench` extra, not a test dependency: the benchmark itself
asserts, every run, that its PyTorch networks have the Keras ones' parameter and MAC counts.
"""

import numpy as np
import pytest

from benchmarks import speed
from benchmarks.speed_case import BATCH_SIZE, SPLITS, examples_for


def test_spread_gives_median_quartiles_and_range():
    assert speed.spread([3, 1, 2, 5]) == {"median": 2.5, "q1": 1.75, "q3": 3.5, "min": 1.0, "max": 5.0, "n": 4}
    assert speed.spread([7.0])["median"] == 7.0


def test_paired_ratio_is_the_ratio_of_medians_with_its_range_round_by_round():
    result = speed.paired_ratio([[2, 2], [3, 3]], [[1, 1], [2, 2]])
    assert result["ratio"] == pytest.approx(2.5 / 1.5)
    assert (result["min"], result["max"]) == (1.5, 2.0)


def test_training_gflops_counts_two_flop_per_mac_and_three_passes():
    assert speed.training_gflops(40_551_040, 400.0) == pytest.approx(40_551_040 * 2 * 3 * 400 / 1e9)


def test_throughputs_leave_out_the_warmup_epochs():
    result = {"epoch_seconds": [9.0, 2.0, 4.0], "warmup_epochs": 1}
    assert speed.throughputs(result, steps=10) == [10 * BATCH_SIZE / 2.0, 10 * BATCH_SIZE / 4.0]


@pytest.mark.parametrize("steps", [1, 2, 7, 10, 20])
def test_the_library_split_of_the_benchmark_data_holds_exactly_the_steps(steps):
    from kerascv_suite.data.pipeline import split_indices

    count = examples_for(steps)
    train = len(split_indices(np.arange(count) % 10, SPLITS, seed=0)["train"])
    assert train // BATCH_SIZE == steps
    assert len(split_indices(np.arange(count - 10) % 10, SPLITS, seed=0)["train"]) < steps * BATCH_SIZE  # the fewest


def test_summarise_turns_case_results_into_ratios():
    def trained(seconds):
        return {"epoch_seconds": [100.0, *seconds], "warmup_epochs": 1}

    runs = {
        "train-resnet20-library": [trained([2.0, 2.0]), trained([2.0, 2.0])],
        "train-resnet20-keras": [trained([1.0, 1.0]), trained([2.0, 2.0])],
        "pipeline-full": [trained([1.25])],
        "pipeline-cached": [trained([1.0])],
        "matmul-tf": [{"gflops": [100.0, 300.0]}],
    }
    models = {"resnet20": {"params": 1, "macs": 1_000_000}, "mobilenet_v2": {"params": 1, "macs": 1}}
    summary = speed.summarise(runs, models, steps=10)
    library_over_keras = summary["ratios"]["train-resnet20: library / keras"]
    assert library_over_keras == {"ratio": pytest.approx(640 / 960), "min": 0.5, "max": 1.0}
    assert summary["ratios"]["pipeline overhead: 1 - pipeline / cached"]["ratio"] == pytest.approx(0.2)
    assert summary["gflops"]["train-resnet20-library"]["median"] == pytest.approx(1e6 * 6 * 640 / 1e9)
    assert summary["ratios"]["train-resnet20-library: training GFLOP/s / matmul GFLOP/s"]["ratio"] == pytest.approx(3.84 / 200)
    report = {"date": "2026-11-30", "machine": speed.machine(), "wall_seconds": 1.0, "models": models, "summary": summary,
              "cases": runs, "settings": {**speed.QUICK, "quick": True}}
    assert "| train-resnet20: library / keras | 0.67 | 0.50 – 1.00 |" in speed.markdown(report)


def test_only_takes_groups_and_cases_and_refuses_others(capsys):
    _, cases, settings = speed.parse_args(["--only", "pipeline", "--only", "matmul-tf", "--quick", "--rounds", "2"])
    assert cases == ["pipeline-full", "pipeline-cached", "matmul-tf"]
    assert settings == {**speed.QUICK, "rounds": 2, "quick": True}
    with pytest.raises(SystemExit):
        speed.parse_args(["--only", "trainig"])
    assert "unknown case 'trainig'" in capsys.readouterr().err
