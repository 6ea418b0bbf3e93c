"""Shared helpers for the data tests: tiny specs and pipelines built from in-memory arrays."""

from __future__ import annotations

import numpy as np
import pytest

from kerascv_suite.data import DataPipeline
from kerascv_suite.spec import validate_spec


def make_spec(data: dict):
    """A validated spec around a `data` section (the model is irrelevant to the pipeline)."""
    return validate_spec({"name": "t", "model": {"name": "linear"}, "data": data})


@pytest.fixture
def npz_pipeline(tmp_path):
    """Build a DataPipeline over `images`/`labels` written to an npz file in tmp_path."""

    def build(images, labels, smoke=False, **data):
        path = tmp_path / f"data{len(list(tmp_path.glob('*.npz')))}.npz"
        np.savez(path, x=images, y=labels)
        data = {"source": {"name": "npz", "path": str(path)}, **data}
        return DataPipeline(make_spec(data), smoke=smoke)

    return build


def to_numpy(dataset):
    """All (images, labels) of a batched dataset, concatenated."""
    images, labels = [], []
    for x, y in dataset:
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)
