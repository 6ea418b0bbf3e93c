"""Every spec under pipelines/ runs end to end in smoke mode: load, build, fit, evaluate, report."""

import json
import math

import pytest

from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES

SPECS = sorted(PIPELINES.rglob("*.yaml"))


def test_there_are_pipelines():
    assert len(SPECS) >= 6


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(PIPELINES)) for p in SPECS])
def test_pipeline_runs_in_smoke_mode(path, tmp_path):
    result = train(load_spec(path), runs_dir=tmp_path, smoke=True)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["test"]["loss"]) and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert (result.run_dir / "curves.png").stat().st_size > 0
