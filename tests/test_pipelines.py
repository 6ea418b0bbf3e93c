"""Every spec under pipelines/ runs end to end in smoke mode: load, build, fit, evaluate, report.

A transfer-learning spec names the runs of another pipeline as its source (runs/<name>); that
pipeline is smoke-trained first, once per session, and the spec pointed at its run.
"""

import functools
import json
import math
import tempfile
from pathlib import Path

import pytest

from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import train
from kerascv_suite.viz.reports import write_reports
from tests.conftest import PIPELINES

SPECS = sorted(PIPELINES.rglob("*.yaml"))


def test_there_are_pipelines():
    assert len(SPECS) >= 6


@functools.cache
def pretrained_runs(name: str) -> Path:
    """A runs/<name> folder holding a smoke run of the pipeline called `name`."""
    path = next(p for p in SPECS if load_spec(p).name == name)
    runs_dir = Path(tempfile.mkdtemp(prefix="pretrained-"))
    train(load_spec(path), runs_dir=runs_dir, smoke=True)
    return runs_dir / name


def load_runnable(path: Path):
    spec = load_spec(path)
    if getattr(spec.model, "source", None):  # transfer, knn on features: a pre-trained run to read
        spec = load_spec(path, overrides=[f"model.source={pretrained_runs(Path(spec.model.source).name)}"])
    return spec


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(PIPELINES)) for p in SPECS])
def test_pipeline_runs_in_smoke_mode(path, tmp_path):
    spec = load_runnable(path)
    result = train(spec, runs_dir=tmp_path, smoke=True)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["test"]["loss"])
    if spec.task.name == "classification":
        assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    elif spec.task.name == "generative":  # its pictures
        assert metrics["pictures"] and all((result.run_dir / name).stat().st_size > 0 for name in metrics["pictures"].values())
    else:  # localization, segmentation: the task's report over the whole test split
        assert metrics[spec.task.name]["examples"] == metrics["data"]["split_sizes"]["test"]
    assert (result.run_dir / "curves.png").stat().st_size > 0
    if spec.report:  # the pictures of its trained model that `kcv run` draws after training
        pictures = write_reports(result.run_dir)
        assert len(pictures) >= len(spec.report) and all(p.stat().st_size > 0 for p in pictures)
