"""The image-classification chapter's accuracy bars on the digits test split (full training runs).

Each run takes seconds on 2 cores; `benchmarks/classification_quality.py` records the same
figures (with timings, through the `kcv` command) in benchmarks/results/.
"""

import pytest

from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES

BARS = {"lenet5": 0.97, "knn_l2": 0.97, "knn_l1": 0.97, "softmax": 0.94, "svm": 0.93, "mlp": 0.96}


@pytest.mark.parametrize("name", BARS)
def test_test_accuracy_reaches_the_bar(name, tmp_path):
    result = train(load_spec(PIPELINES / "classification" / f"{name}.yaml"), runs_dir=tmp_path)
    assert result.metrics["test"]["accuracy"] >= BARS[name]
