"""The vectorisation benchmark (benchmarks/distance_loops.py): its three distance matrices and its bookkeeping.

The timings are `python -m benchmarks.distance_loops`'s business; nothing here asserts a speed.
"""

import json

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from benchmarks import distance_loops


def test_two_loops_one_loop_and_no_loops_agree_with_cdist():
    rng = np.random.default_rng(0)
    test, train = rng.normal(size=(7, 5)), rng.normal(size=(11, 5))
    reference = cdist(test, train)
    for name, method in distance_loops.METHODS.items():
        np.testing.assert_allclose(method(test, train), reference, atol=1e-9, err_msg=name)
    assert set(distance_loops.check_against_cdist(test, train)) == {"two_loops", "one_loop", "no_loops"}


def test_summarise_gives_each_method_its_ratio_to_no_loops_round_by_round():
    summary = distance_loops.summarise({"two_loops": [4.0, 6.0, 9.0], "one_loop": [1.0, 1.0, 1.0], "no_loops": [0.5, 0.5, 1.0]})
    assert summary["two_loops"]["ratio"] == pytest.approx(6.0 / 0.5)      # median over median
    assert (summary["two_loops"]["min"], summary["two_loops"]["max"]) == (8.0, 12.0)   # 4/0.5, 6/0.5, 9/1
    assert summary["no_loops"]["ratio"] == 1.0 and summary["one_loop"]["seconds"]["median"] == 1.0


def test_a_tiny_run_writes_the_json_and_the_table(tmp_path):
    report = distance_loops.main(["--test", "4", "--train", "6", "--rounds", "2", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "distance_loops.json").read_text())
    assert saved["methods"].keys() == {"two_loops", "one_loop", "no_loops"} and saved["test"] == 4 and saved["train"] == 6
    assert all(row["seconds"]["n"] == 2 for row in saved["methods"].values()) and saved == json.loads(json.dumps(report))
    assert isinstance(saved["cpu_flags"], list) and max(saved["max_error"].values()) <= 1e-6
    table = (tmp_path / "distance_loops.md").read_text()
    assert (tmp_path / "distance_loops.png").stat().st_size > 5_000
    assert "| two loops |" in table and "| no loops |" in table and "4 test × 6 training" in table
