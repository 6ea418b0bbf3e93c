"""Shared test setup: quiet TensorFlow logs, the repository's paths, and Keras state released between tests.

Every model a test builds registers its layers in Keras's global state (the functional API's
bookkeeping and the name counters), which grows across the hundreds of model-building tests a
pytest worker runs; `keras.backend.clear_session` after each test releases it, and a garbage
collection after each module frees what the module's fixtures held. Every train step a test
traces would also stay alive for good through TensorFlow's gradient registry
(`kerascv_suite.core.compat.forgetting_custom_gradients` says why): each test runs inside that
context, so its traced graphs go with its models. Tests that need a model
across tests keep it in a module-scoped fixture, which clearing the session does not touch.

With ``KCV_TEST_MEMORY_LOG=path``, each worker appends its peak resident memory (MB) to `path`
when it finishes, which is how the README's per-worker figure is measured.
"""

import gc
import os
import resource
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
PIPELINES = REPO / "pipelines"


@pytest.fixture(autouse=True)
def _release_keras_state():
    if "tensorflow" in sys.modules:  # once a worker has imported TensorFlow (its first test does)
        from kerascv_suite.core import compat

        with compat.forgetting_custom_gradients():
            yield
    else:
        yield
    if "keras" in sys.modules:  # tests that never imported Keras have nothing to release
        sys.modules["keras"].backend.clear_session(free_memory=False)


@pytest.fixture(autouse=True, scope="module")
def _collect_after_module():
    yield
    gc.collect()


def pytest_sessionfinish(session):
    path = os.environ.get("KCV_TEST_MEMORY_LOG")
    if path:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with open(path, "a") as handle:
            handle.write(f"{worker} {peak_mb:.0f}\n")
