"""Shared test setup: quiet TensorFlow logs and the repository's paths."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
PIPELINES = REPO / "pipelines"
