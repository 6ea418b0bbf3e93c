"""A `kcv run` killed with SIGKILL after an epoch resumes from its backup when run again."""

import json
import os
import signal
import subprocess
import sys
import time

from kerascv_suite.viz.plots import read_history
from tests.conftest import PIPELINES

EPOCHS = 10


def kcv(*args):
    return [sys.executable, "-m", "kerascv_suite.cli", *args]


def test_sigkilled_run_resumes_from_the_saved_epoch_and_finishes(tmp_path):
    command = kcv("run", str(PIPELINES / "classification" / "lenet5.yaml"), "--set", f"train.epochs={EPOCHS}",
                  "--runs-dir", str(tmp_path))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metadata = None
    deadline = time.time() + 240
    while time.time() < deadline and first.poll() is None:
        found = list(tmp_path.glob("lenet5_digits/*/backup/training_metadata.json"))
        if found:
            metadata = found[0]
            break
        time.sleep(0.02)
    assert metadata is not None, "the first run never saved a backup"
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    run_dir = metadata.parent.parent
    saved_epoch = json.loads(metadata.read_text())["epoch"]
    rows_before = len(read_history(run_dir / "history.csv")["epoch"])
    assert 1 <= saved_epoch < EPOCHS and not (run_dir / "metrics.json").exists()

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming {run_dir}" in second.stdout
    assert f"Epoch {saved_epoch + 1}/{EPOCHS}" in second.stdout and "Epoch 1/" not in second.stdout
    assert len(list((tmp_path / "lenet5_digits").iterdir())) == 1  # the same run folder, not a new one
    history = read_history(run_dir / "history.csv")
    assert history["epoch"] == list(range(EPOCHS))
    assert rows_before >= saved_epoch
    assert json.loads((run_dir / "metrics.json").read_text())["train"]["epochs"] == EPOCHS
