"""Eager vs `tf.function` vs XLA: the training step time of one model under each execution mode.

The deep-learning-software chapter contrasts dynamic graphs (every op runs as Python calls
it: easy to debug, but each step pays Python and per-op dispatch overhead) with static ones
(`tf.function` traces the step once into a graph, then runs the graph without Python in the
loop), and XLA (`jit_compile=True`), which compiles that graph, fusing chains of element-wise
ops into single kernels and planning memory ahead. On a small model on a CPU, XLA's fusion
has little to win and its compiled code may even be slower than TensorFlow's hand-tuned
(oneDNN) kernels; on a GPU, where launching many tiny kernels dominates, it usually wins.

The `execution_modes` callback measures that on the run's own model: at the start of `fit`
it builds, for each mode, a fresh copy of the model (same architecture, loss, metrics and
optimizer configuration; the trained model's weights and optimizer are never touched),
compiles it as

- eager: ``compile(run_eagerly=True)``,
- graph: ``compile(jit_compile=False)`` (a `tf.function`),
- xla:   ``compile(jit_compile=True)``,

runs `warmup` untimed `train_on_batch` steps (the first one traces, and for XLA compiles)
and then `steps` timed ones, all on one fixed, seeded batch of random images and labels. It
writes into the run folder:

- ``execution_modes.json``: per mode the median, p90, mean and min step time in ms, the
  first (tracing/compiling) step's time, the speedup relative to eager, whether XLA compiled
  the step; plus the machine (CPU model and cores, TensorFlow and Keras versions, GPUs seen);
- ``execution_modes.md``: the same as a Markdown table;
- ``execution_modes.png``: a bar chart of the median step time per mode, ratios labelled.

It is a measurement, not an assertion: step times depend on the machine, its load and the
model, so nothing here checks that one mode is faster than another.

Example (YAML)::

    train: {callbacks: [{name: execution_modes, steps: 50, warmup: 5}]}
"""

from __future__ import annotations

import gc
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
from pydantic import PositiveInt

from kerascv_suite.registry import CALLBACKS

MODES: dict[str, dict] = {
    "eager": {"run_eagerly": True, "jit_compile": False},
    "graph": {"run_eagerly": False, "jit_compile": False},
    "xla": {"run_eagerly": False, "jit_compile": True},
}
SETTINGS = {"eager": "compile(run_eagerly=True)", "graph": "compile(jit_compile=False)", "xla": "compile(jit_compile=True)"}
FILES = ("execution_modes.json", "execution_modes.md", "execution_modes.png")


def machine_description() -> dict:
    """CPU model and cores, the TensorFlow and Keras versions, and the GPUs TensorFlow sees."""
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        except Exception:  # noqa: BLE001 - details are best effort
            names.append(gpu.name)
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpu_visible": bool(gpus),
        "gpus": names,
    }


def _compile_copy(model: keras.Model, run_eagerly: bool, jit_compile: bool) -> keras.Model:
    """A fresh copy of `model` (new weights), compiled like it but in the given execution mode."""
    copy = keras.models.clone_model(model)
    config = model.get_compile_config()
    try:
        if not config:
            raise ValueError("the model has no compile config")
        copy.compile_from_config({**config, "run_eagerly": run_eagerly, "jit_compile": jit_compile, "steps_per_execution": 1})
        if not copy.compiled:
            raise ValueError("compile_from_config did not compile the copy")
    except Exception:  # noqa: BLE001 - a custom compile: rebuild the optimizer from its config, keep the loss
        optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
        copy.compile(optimizer=optimizer, loss=model.loss, run_eagerly=run_eagerly, jit_compile=jit_compile)
    return copy


def fixed_batch(model: keras.Model, batch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded uniform images of the model's input shape and integer labels below its output size."""
    rng = np.random.default_rng(seed)
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else tuple(model.input_shape[1:])
    images = rng.random((batch_size, *shape), dtype=np.float32)
    if getattr(model, "outputs", None):
        num_classes = int(model.outputs[0].shape[-1])
    else:  # a subclassed model: ask it (inference only, its weights do not change)
        num_classes = int(model(images[:1], training=False).shape[-1])
    labels = rng.integers(0, num_classes, size=batch_size).astype(np.int32)
    return images, labels


def time_mode(model: keras.Model, mode: str, images, labels, steps: int, warmup: int) -> dict:
    """Warm up, then time `steps` `train_on_batch` calls of a fresh copy of `model` in `mode`."""
    copy = _compile_copy(model, **MODES[mode])
    started = time.perf_counter()
    copy.train_on_batch(images, labels)  # the first call traces (graph) and compiles (xla)
    first = time.perf_counter() - started
    for _ in range(warmup - 1):
        copy.train_on_batch(images, labels)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        copy.train_on_batch(images, labels)  # returns Python floats: the step has finished
        times.append(time.perf_counter() - started)
    ms = np.asarray(times) * 1000.0
    result = {
        "setting": SETTINGS[mode],
        "median_ms": round(float(np.median(ms)), 4),
        "p90_ms": round(float(np.percentile(ms, 90)), 4),
        "mean_ms": round(float(ms.mean()), 4),
        "min_ms": round(float(ms.min()), 4),
        "first_step_ms": round(first * 1000.0, 2),
        "steps": steps,
        "warmup": warmup,
        "xla_compiled": bool(copy.jit_compile) and not copy.run_eagerly,
    }
    del copy
    gc.collect()
    return result


def markdown_table(report: dict) -> str:
    machine = report["machine"]
    device = ", ".join(machine["gpus"]) if machine["gpu_visible"] else f"CPU only ({machine['cpu']}, {machine['cpu_cores_usable']} cores)"
    lines = [
        f"# Training step time by execution mode: {report['model']}",
        "",
        f"One fixed batch of {report['batch_size']} random {'×'.join(map(str, report['input_shape']))} images, "
        f"{report['steps']} timed `train_on_batch` steps after {report['warmup']} untimed; {device}; "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}.",
        "",
        "| mode | setting | median ms | p90 ms | first step ms | speedup vs eager | XLA compiled |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in report["modes"].items():
        if "error" in r:
            lines.append(f"| {mode} | `{SETTINGS[mode]}` | failed: {r['error']} | | | | |")
            continue
        speedup = f"{r['speedup_vs_eager']:.2f}×" if r.get("speedup_vs_eager") is not None else "–"
        lines.append(f"| {mode} | `{r['setting']}` | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | {r['first_step_ms']:.0f} | "
                     f"{speedup} | {'yes' if r['xla_compiled'] else 'no'} |")
    lines += ["", "A measurement, not an assertion: times depend on the machine, its load and the model."]
    return "\n".join(lines) + "\n"


def plot_modes(report: dict, path: str | Path) -> None:
    """Bars of the median step time per mode, each labelled with its speedup over eager."""
    from kerascv_suite.viz.plots import plt  # the Agg backend is selected there

    modes = [m for m, r in report["modes"].items() if "error" not in r]
    medians = [report["modes"][m]["median_ms"] for m in modes]
    p90s = [report["modes"][m]["p90_ms"] for m in modes]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    bars = ax.bar(modes, medians, color=["#c44e52", "#4c72b0", "#55a868"][: len(modes)])
    ax.errorbar(modes, medians, yerr=[np.zeros(len(modes)), np.subtract(p90s, medians)], fmt="none", ecolor="black", capsize=4)
    for bar, mode, median, p90 in zip(bars, modes, medians, p90s):
        speedup = report["modes"][mode].get("speedup_vs_eager")
        label = f"{median:.2f} ms" + (f"\n{speedup:.2f}× vs eager" if speedup is not None else "")
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, max(median, p90)), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("median training step (ms); whisker: p90")
    ax.set_ylim(0, max(max(p90s, default=1.0), max(medians, default=1.0)) * 1.3)
    ax.set_title(f"{report['model']}, batch {report['batch_size']}, {'GPU' if report['machine']['gpu_visible'] else 'CPU'}")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def measure(model: keras.Model, run_dir: str | Path, steps: int = 20, warmup: int = 3, batch_size: int = 32,
            batch_seed: int = 0, modes=tuple(MODES), verbose: bool = True) -> dict:
    """Time `model`'s training step in each mode and write the three result files into `run_dir`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    images, labels = fixed_batch(model, batch_size, batch_seed)
    results = {}
    for mode in modes:
        try:
            results[mode] = time_mode(model, mode, images, labels, steps, warmup)
        except Exception as error:  # noqa: BLE001 - a mode a model cannot run in is reported, not fatal
            results[mode] = {"setting": SETTINGS[mode], "error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
    eager = results.get("eager", {}).get("median_ms")
    for r in results.values():
        if "error" not in r:
            r["speedup_vs_eager"] = round(eager / r["median_ms"], 4) if eager else None
    report = {
        "model": model.name,
        "params": int(model.count_params()),
        "input_shape": list(images.shape[1:]),
        "batch_size": batch_size,
        "batch_seed": batch_seed,
        "steps": steps,
        "warmup": warmup,
        "speedup": "eager median ms / mode median ms (above 1: faster than eager)",
        "modes": results,
        "machine": machine_description(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "note": "a measurement, not an assertion: step times depend on the machine, its load and the model",
    }
    (run_dir / "execution_modes.json").write_text(json.dumps(report, indent=2))
    table = markdown_table(report)
    (run_dir / "execution_modes.md").write_text(table)
    plot_modes(report, run_dir / "execution_modes.png")
    if verbose:
        print(table, flush=True)
    return report


class ExecutionModes(keras.callbacks.Callback):
    """At the start of `fit`, time the model's training step eagerly, as a `tf.function` and with XLA."""

    def __init__(self, run_dir, steps: int = 20, warmup: int = 3, batch_size: int = 32, batch_seed: int = 0):
        super().__init__()
        self.run_dir = Path(run_dir) if run_dir is not None else Path(".")
        self.steps, self.warmup, self.batch_size, self.batch_seed = steps, warmup, batch_size, batch_seed
        self.report: dict | None = None

    def on_train_begin(self, logs=None):
        self.report = measure(self.model, self.run_dir, self.steps, self.warmup, self.batch_size, self.batch_seed)


@CALLBACKS.register("execution_modes")
def execution_modes(run_dir=None, steps: PositiveInt = 20, warmup: PositiveInt = 3, batch_size: PositiveInt = 32,
                    batch_seed: int = 0):
    """Time one training step eagerly, as a tf.function and with XLA; write execution_modes.{json,md,png}.

    Args:
        run_dir: the run folder the files go into (filled in by the trainer, not a spec key).
        steps: timed `train_on_batch` calls per mode (the median and p90 are reported).
        warmup: untimed calls per mode first (the first traces the graph, and compiles it for XLA).
        batch_size: examples in the fixed batch of random images and labels.
        batch_seed: seed of that batch.
    """
    return ExecutionModes(run_dir, steps=steps, warmup=warmup, batch_size=batch_size, batch_seed=batch_seed)
