"""A .keras file the library writes loads with plain Keras after `import kerascv_suite`, compiled.

`import kerascv_suite` imports none of the modules that register the library's classes; Keras
finds them through `kerascv_suite.core.keras_loading` (the lookup imports the defining module). The
checks that matter run in a fresh Python process, where nothing else has imported those modules.
"""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap

import keras
import numpy as np

import kerascv_suite
from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.core.keras_loading import serializable_index
from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES, REPO

# What `import kerascv_suite` itself loads: the core package, the hook in compat, and the lookup it installs.
LOOKUP_MODULES = ("kerascv_suite.core", "kerascv_suite.core.compat", "kerascv_suite.core.keras_loading")


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)


def _registered_classes() -> dict[str, type]:
    """Every `kerascv_suite>` class Keras knows once every module of the package is imported."""
    for module in pkgutil.walk_packages(kerascv_suite.__path__, "kerascv_suite."):
        importlib.import_module(module.name)
    return {name: obj for name, obj in keras.saving.get_custom_objects().items() if name.startswith("kerascv_suite>")}


def test_every_registered_class_is_found_by_the_source_index():
    registered = _registered_classes()
    index = serializable_index()
    assert len(registered) >= 25  # losses, metrics, schedules, layers, the GAN, VAE, k-NN, L-BFGS...
    missing = {name: obj.__module__ for name, obj in registered.items() if index.get(name) != obj.__module__}
    assert not missing, f"registered classes the lazy lookup would not import the right module for: {missing}"


def test_a_fresh_process_resolves_every_registered_name_on_lookup_only():
    expected = {name: (obj.__module__, obj.__qualname__) for name, obj in _registered_classes().items()}
    # kerascv_suite first, Keras second: the import hook path (the other order is the next test's)
    done = _fresh_python(f"""
        import json, sys
        import kerascv_suite, keras
        eager = sorted(m for m in sys.modules if m.startswith("kerascv_suite.") and m not in {LOOKUP_MODULES})
        found = {{}}
        for name in {sorted(expected)!r}:
            obj = keras.saving.get_registered_object(name)
            found[name] = None if obj is None else [obj.__module__, obj.__qualname__]
        print(json.dumps({{"eager": eager, "found": found}}))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["eager"] == []  # `import kerascv_suite` (and `import keras` after it) imported none of them
    assert result["found"] == {name: list(where) for name, where in expected.items()}


def test_a_trained_model_keras_loads_compiled_with_plain_keras_in_a_fresh_process(tmp_path):
    spec = load_spec(PIPELINES / "classification" / "softmax.yaml", overrides=[
        "train.epochs=1", "optimizer.learning_rate={name: step_decay, initial_learning_rate: 0.01, step_size: 100, warmup_steps: 5}"])
    result = train(spec, runs_dir=tmp_path / "runs", smoke=True)
    images, labels = DataPipeline(spec, smoke=True).examples("test")
    np.savez(tmp_path / "test.npz", images=images, labels=labels)
    done = _fresh_python(f"""
        import json
        import keras, kerascv_suite
        import numpy as np
        model = keras.saving.load_model({str(result.run_dir / "model.keras")!r})
        data = np.load({str(tmp_path / "test.npz")!r})
        scores = model.evaluate(data["images"], data["labels"], verbose=0, return_dict=True)
        print(json.dumps({{
            "compiled": model.compiled,
            "loss": keras.saving.get_registered_name(type(model.loss)),
            "metrics": [keras.saving.get_registered_name(type(m)) for m in model.metrics[1].metrics],
            "schedule": keras.saving.get_registered_name(type(model.optimizer._learning_rate)),
            "scores": {{k: float(v) for k, v in scores.items()}},
        }}))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["compiled"]
    assert loaded["loss"] == "kerascv_suite>CrossEntropy"
    assert "kerascv_suite>Accuracy" in loaded["metrics"]
    assert loaded["schedule"] == "kerascv_suite>LinearWarmup"
    for name, value in result.metrics["test"].items():
        assert abs(loaded["scores"][name] - value) < 1e-5, (name, loaded["scores"], result.metrics["test"])
