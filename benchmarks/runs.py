"""What the quality benchmarks share: a fresh `kcv run` of a pipeline, and the machine's description.

Example::

    metrics, run_dir, seconds = kcv_run("generative/dcgan", workdir, overrides=("train.epochs=5",))
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def kcv(*args: str, workdir: Path) -> subprocess.CompletedProcess:
    """`kcv ARGS` in a fresh process in `workdir`; raises with its output if it fails."""
    done = subprocess.run([sys.executable, "-m", "kerascv_suite.cli", *args], cwd=workdir, capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise RuntimeError(f"kcv {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def kcv_run(name: str, workdir: Path, overrides: tuple = ()) -> tuple[dict, Path, float]:
    """A fresh `kcv run` of pipelines/<name>.yaml in `workdir` (a new run folder under runs/): its metrics.json,
    its run folder, and the wall-clock seconds of the whole command (imports, data, training, reports)."""
    before = set(workdir.glob("runs/*/*/metrics.json"))
    started = time.time()
    sets = [arg for override in overrides for arg in ("--set", override)]
    kcv("run", str(ROOT / "pipelines" / f"{name}.yaml"), "--runs-dir", "runs", "--new", *sets, workdir=workdir)
    seconds = time.time() - started
    (finished,) = set(workdir.glob("runs/*/*/metrics.json")) - before
    return json.loads(finished.read_text()), finished.parent, seconds


def trained_model(name: str) -> tuple[dict, float, object, object, object]:
    """A fresh `kcv run` of pipelines/<name>.yaml in a temporary folder, then its saved model and test split.

    Returns (metrics, seconds of the command, the loaded keras.Model, test images, test labels):
    what the chapter-8 benchmarks explain and visualise.
    """
    import tempfile

    from kerascv_suite.training.trainer import load_run

    with tempfile.TemporaryDirectory() as workdir:
        metrics, run_dir, seconds = kcv_run(name, Path(workdir))
        _, pipeline, model, _ = load_run(run_dir)
        images, labels = pipeline.examples("test")
    return metrics, seconds, model, images, labels


def machine() -> str:
    import tensorflow as tf

    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, tensorflow {tf.__version__}"
