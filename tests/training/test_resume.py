"""A `kcv run` killed with SIGKILL after an epoch resumes from its backup when run again: a classifier, and a GAN
with its two optimizers."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kerascv_suite.viz.plots import read_history
from tests.conftest import PIPELINES

EPOCHS = 10


def kcv(*args):
    return [sys.executable, "-m", "kerascv_suite.cli", *args]


# The GAN: 3 generator steps per epoch, each with k = 2 discriminator steps on its own optimizer.
GAN_STEPS = 3
CASES = {
    "lenet5_digits": ("classification/lenet5.yaml", []),
    "dcgan_mnist": ("generative/dcgan.yaml", ["model.filters=4", "model.latent_dim=8", "model.discriminator_steps=2",
                                              f"train.steps_per_epoch={GAN_STEPS}", "task.epoch_samples=0"]),
}


@pytest.mark.parametrize("name", CASES)
def test_sigkilled_run_resumes_from_the_saved_epoch_and_finishes(name, tmp_path):
    spec, settings = CASES[name]
    command = kcv("run", str(PIPELINES / spec), "--set", f"train.epochs={EPOCHS}", *[a for s in settings for a in ("--set", s)],
                  "--runs-dir", str(tmp_path))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metadata = None
    deadline = time.time() + 240
    while time.time() < deadline and first.poll() is None:
        found = list(tmp_path.glob(f"{name}/*/backup/training_metadata.json"))
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
    assert len(list((tmp_path / name).iterdir())) == 1  # the same run folder, not a new one
    history = read_history(run_dir / "history.csv")
    assert history["epoch"] == list(range(EPOCHS))
    assert rows_before >= saved_epoch
    assert json.loads((run_dir / "metrics.json").read_text())["train"]["epochs"] == EPOCHS
    if name == "dcgan_mnist":  # both optimizers resumed their step counts: neither restarted from 0 at the resume
        import keras

        import kerascv_suite.models  # noqa: F401  (registers the GAN class for loading)

        model = keras.saving.load_model(run_dir / "model.keras")
        assert int(model.optimizer.iterations) == EPOCHS * GAN_STEPS
        assert int(model.discriminator_optimizer.iterations) == EPOCHS * GAN_STEPS * 2
