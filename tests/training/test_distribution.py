"""Multi-worker training for real: two `kcv run` workers on loopback, synchronised by TF_CONFIG."""

import json
import os
import socket
import subprocess
import sys

import pytest

from kerascv_suite.spec import load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_workers_train_in_lockstep_and_both_finish(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "kerascv_suite.cli", "run", str(PIPELINES / "classification" / "mlp.yaml"),
               "--set", "train.distribution=multi_worker", "--set", "train.epochs=2", "--run-dir", str(run_dir)]
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for w in workers:
                w.kill()
            pytest.fail("multi-worker run did not finish in 300 s")
    assert [w.returncode for w in workers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    chief = json.loads((run_dir / "metrics.json").read_text())
    other = json.loads((run_dir / "workers" / "1" / "metrics.json").read_text())
    assert chief["train"]["distribution"] == "CollectiveAllReduceStrategy"  # MultiWorkerMirroredStrategy's class
    assert chief["train"]["replicas"] == other["train"]["replicas"] == 2
    # synchronous all-reduce training: both workers end with the same model, so the same test metrics
    assert chief["test"] == pytest.approx(other["test"], rel=1e-6)
    assert chief["train"]["epochs"] == other["train"]["epochs"] == 2


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    spec = load_spec(PIPELINES / "classification" / "mlp.yaml", overrides=["train.distribution=multi_worker"])
    with pytest.raises(UserError, match="TF_CONFIG"):
        train(spec, run_dir="unused", smoke=True)
