"""One case of the speed benchmark, alone in its own process; its last stdout line is one JSON object.

`benchmarks.speed` runs every case in a fresh process, once per round, so no case inherits
another's threads, caches or traced graphs, and a case's timings are comparable across rounds.
`prepare` runs once first: it writes the seeded random images (`data.npz`, read through the
library's `npz` source), the models' parameter and multiply-accumulate counts (`models.json`,
from `kerascv_suite.models.arithmetic`) and, for the latency case, MobileNetV2's exports.
TensorFlow is imported only by the cases that use it, so the PyTorch cases run without it.

    python -m benchmarks.speed_case prepare --workdir /tmp/w --steps-per-epoch 10 --export
    python -m benchmarks.speed_case train-resnet20-library --workdir /tmp/w --steps-per-epoch 10 --epochs 4
    # {"case": "train-resnet20-library", "epoch_seconds": [5.2, 3.1, 3.0], "warmup_epochs": 1, ...}
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

BATCH_SIZE = 128
IMAGE_SHAPE = (32, 32, 3)
CLASSES = 10
# The trainer needs a validation split (with none, `kcv run` fails reading its history.csv: Keras's CSVLogger
# writes "NA" in the val_ columns); the epoch timer leaves validation out. The test split is evaluated once, untimed.
SPLITS = {"train": 0.85, "val": 0.05, "test": 0.1}
LEARNING_RATE, MOMENTUM = 0.01, 0.9
# name in the case names → the spec's model section (the same network PyTorch builds in benchmarks.speed_torch)
MODELS = {"resnet20": {"name": "cifar_resnet", "depth": 20}, "mobilenet_v2": {"name": "mobilenet_v2"}}
AUGMENT = [{"name": "random_crop", "padding": 4}, {"name": "random_flip"}]  # CIFAR's standard augmentation
PIPELINE_MODEL = "resnet20"  # the cheaper network, where the input pipeline's share of the step is largest
LATENCY_MODEL = "mobilenet_v2"
LATENCY_BATCHES = (1, 32)
TFLITE_MODES = {"litert_float": "none", "litert_int8": "int8_full"}
CALIBRATION_EXAMPLES = 64

# `bf16`: the library's path with `train.precision: mixed_bfloat16`, for ResNet-20 only (this CPU has AVX512-BF16).
TRAINING = [f"train-{model}-{path}" for model in MODELS for path in ("library", "keras", "torch")] + ["train-resnet20-bf16"]
CASES = [*TRAINING, "pipeline-full", "pipeline-cached", "latency", "matmul-tf", "matmul-torch"]
TORCH_CASES = [case for case in CASES if case.endswith("-torch")]


def examples_for(steps: int, batch_size: int = BATCH_SIZE, classes: int = CLASSES) -> int:
    """The fewest balanced examples whose seeded stratified training split holds `steps` full batches.

    The library's split (`split_indices`, SPLITS["train"] of each class) decides the count, so an
    epoch of the library's pipeline (which drops the last partial batch) is exactly `steps` steps.

    Example::

        examples_for(20)   # 3010: 2,560 training images, 20 batches of 128
    """
    from kerascv_suite.data.pipeline import split_indices

    count = steps * batch_size // classes * classes  # the training split is a part: start below it
    while len(split_indices(np.arange(count) % classes, SPLITS, seed=0)["train"]) < steps * batch_size:
        count += classes
    return count


def library_spec(workdir: Path, model: str, epochs: int, augment: list | None = None, precision: str = "float32"):
    """The benchmark's pipeline as a validated spec: the npz images, rescaled, batches of 128, SGD + momentum.

    Its `train.callbacks` names `epoch_timer`, registered as the callback `speed_epoch_timer` in
    this process only (the library's registries stay as they are elsewhere).
    """
    from kerascv_suite.registry import CALLBACKS
    from kerascv_suite.spec import validate_spec

    if "speed_epoch_timer" not in CALLBACKS:
        CALLBACKS.register("speed_epoch_timer")(epoch_timer)
    return validate_spec({
        "name": f"speed_{model}",
        "data": {"source": {"name": "npz", "path": str(workdir / "data.npz")},
                 "splits": SPLITS,
                 "batch_size": BATCH_SIZE, "preprocess": ["rescale"], "augment": augment or []},
        "model": dict(MODELS[model]),
        "optimizer": {"name": "sgd", "learning_rate": LEARNING_RATE, "momentum": MOMENTUM},
        "train": {"epochs": epochs, "callbacks": ["speed_epoch_timer"], "precision": precision},
        "export": {"keras": False},
    })


def epoch_timer(run_dir=None):
    """A Keras callback timing each epoch from the end of the one before, less its validation.

    Per-epoch callback work (checkpoints, logs) counts, evaluating the validation split does not:
    the other paths validate nothing. `seconds` also goes to RUN_DIR/epoch_seconds.json when the
    trainer gives it a run folder (the spec's `train.callbacks` names it `speed_epoch_timer`).

    Example::

        timer = epoch_timer()
        model.fit(x, y, epochs=3, callbacks=[timer]); timer.seconds    # [9.3, 6.1, 6.0]
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds, self.last, self.validation = [], time.perf_counter(), 0.0

        def on_test_begin(self, logs=None):
            self.validation_started = time.perf_counter()

        def on_test_end(self, logs=None):
            self.validation += time.perf_counter() - self.validation_started

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            self.seconds.append(now - self.last - self.validation)
            self.last, self.validation = now, 0.0
            if run_dir is not None:
                Path(run_dir, "epoch_seconds.json").write_text(json.dumps(self.seconds))

    return EpochTimer()


def build_network(model: str):
    """The library's Keras network for `model` (a key of MODELS), from its registered builder, at 32×32×3 and 10 classes."""
    from kerascv_suite.registry import MODELS as REGISTERED, load_components

    load_components()
    section = MODELS[model]
    return REGISTERED.get(section["name"])(IMAGE_SHAPE, CLASSES, **{k: v for k, v in section.items() if k != "name"})


def training_arrays(workdir: Path, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `steps` batches' worth of the npz images (uint8) and labels: what plain Keras and PyTorch train on."""
    with np.load(workdir / "data.npz") as data:
        return data["x"][: steps * BATCH_SIZE], data["y"][: steps * BATCH_SIZE]


# ------------------------------------------------------------------ cases


def prepare(workdir: Path, steps: int, export: bool) -> dict:
    """Write data.npz and models.json (and with `export`, MobileNetV2's .keras, SavedModel and TFLite files)."""
    from kerascv_suite.models import arithmetic

    count = examples_for(steps)
    rng = np.random.default_rng(0)
    np.savez(workdir / "data.npz", x=rng.integers(0, 256, (count, *IMAGE_SHAPE), dtype=np.uint8),
             y=rng.permutation(np.arange(count) % CLASSES))
    models = {}
    for name in MODELS:
        network = build_network(name)
        models[name] = {"params": network.count_params(), "macs": arithmetic.summary(network)[-1].macs}
    (workdir / "models.json").write_text(json.dumps(models))
    if export:
        export_latency_model(workdir)
    return {"examples": count, "models": models}


def export_latency_model(workdir: Path) -> None:
    """MobileNetV2 as the library builds and exports it: .keras, a checked SavedModel, float and int8 TFLite files."""
    import keras

    from kerascv_suite.data.pipeline import DataPipeline
    from kerascv_suite.export.savedmodel import export_savedmodel
    from kerascv_suite.export.serving import ServingModule
    from kerascv_suite.export.tflite import convert
    from kerascv_suite.training.trainer import compile_model

    keras.utils.set_random_seed(0)
    spec = library_spec(workdir, LATENCY_MODEL, epochs=1)
    pipeline = DataPipeline(spec)
    model, task = compile_model(spec, pipeline.info)
    model.save(workdir / f"{LATENCY_MODEL}.keras")
    serving = ServingModule(model, pipeline, task)
    report = export_savedmodel(model, pipeline, task, spec, directory=workdir / "savedmodels", serving=serving)
    (workdir / "savedmodel_path").write_text(report["path"])
    calibration, _ = pipeline.raw_examples("train", CALIBRATION_EXAMPLES)
    for variant, mode in TFLITE_MODES.items():
        (workdir / f"{variant}.tflite").write_bytes(convert(serving, mode, calibration if mode.startswith("int8") else None))


def train_library(workdir: Path, model: str, epochs: int, steps: int, precision: str = "float32") -> dict:
    """The library's own path, `trainer.train` on the spec (what `kcv run` does), with its default callbacks."""
    import tempfile

    from kerascv_suite.training.trainer import train

    with tempfile.TemporaryDirectory() as runs_dir:
        result = train(library_spec(workdir, model, epochs, precision=precision), runs_dir=runs_dir, new=True)
        seconds = json.loads((result.run_dir / "epoch_seconds.json").read_text())
    train_size = result.metrics["data"]["split_sizes"]["train"]
    assert train_size // BATCH_SIZE == steps, f"the training split holds {train_size} images, not {steps} batches"
    return {"epoch_seconds": seconds, "jit_compile": result.metrics["train"]["jit_compile"], "traces": result.metrics["train"]["traces"]}


def train_keras(workdir: Path, model: str, epochs: int, steps: int) -> dict:
    """The library's network, compiled plainly and fed NumPy arrays: `model.fit(x, y, batch_size=128)`."""
    import keras

    images, labels = training_arrays(workdir, steps)
    keras.utils.set_random_seed(0)
    network = build_network(model)
    network.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    timer = epoch_timer()
    network.fit(images.astype(np.float32) / 255.0, labels, batch_size=BATCH_SIZE, epochs=epochs, callbacks=[timer], verbose=0)
    return {"epoch_seconds": timer.seconds, "jit_compile": bool(network.jit_compile)}


def train_torch(workdir: Path, model: str, epochs: int, steps: int) -> dict:
    """The same network in PyTorch (benchmarks.speed_torch), eager, channels_last; parameters and MACs checked equal."""
    import torch

    from benchmarks import speed_torch

    keras_counts = json.loads((workdir / "models.json").read_text())[model]
    torch.manual_seed(0)
    network = speed_torch.MODELS[model]()
    counts = {"params": speed_torch.keras_style_count(network), "macs": speed_torch.multiply_accumulates(network, IMAGE_SHAPE)}
    print(f"{model}: Keras {keras_counts['params']:,} parameters, {keras_counts['macs']:,} MACs; "
          f"PyTorch {counts['params']:,} parameters (with BatchNorm statistics), {counts['macs']:,} MACs")
    assert counts == keras_counts, f"the PyTorch {model} differs from the Keras one: {counts} != {keras_counts}"
    images, labels = training_arrays(workdir, steps)
    seconds = speed_torch.train_epochs(network, images, labels, BATCH_SIZE, epochs, LEARNING_RATE, MOMENTUM)
    return {"epoch_seconds": seconds, "threads": torch.get_num_threads(), "params": counts["params"]}


def train_pipeline(workdir: Path, cached: bool, epochs: int, steps: int) -> dict:
    """ResNet-20 fed by the library's full pipeline (flip + crop), or by the same batches materialised in memory first."""
    import tensorflow as tf

    from kerascv_suite.data.pipeline import DataPipeline
    from kerascv_suite.training.trainer import compile_model

    spec = library_spec(workdir, PIPELINE_MODEL, epochs, augment=AUGMENT)
    pipeline = DataPipeline(spec)
    model, _ = compile_model(spec, pipeline.info)
    batches = pipeline.dataset("train")
    if cached:
        images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in batches])
        batches = tf.data.Dataset.from_tensor_slices((np.stack(images), np.stack(labels)))
    assert batches.cardinality() == steps, f"an epoch has {int(batches.cardinality())} batches, not {steps}"
    timer = epoch_timer()
    model.fit(batches, epochs=epochs, callbacks=[timer], shuffle=False, verbose=0)
    return {"epoch_seconds": timer.seconds}


def latency(workdir: Path, warmup: int, repeats: int) -> dict:
    """Milliseconds per call of MobileNetV2 at batch 1 and 32, the paths interleaved call by call.

    Keras gets the rescaled float images; the SavedModel signature and the TFLite files take the
    uint8 pixels and rescale inside their graphs (and return probabilities). A TFLite file takes
    one image, so its batch 32 is 32 `invoke()` calls.
    """
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from kerascv_suite.registry import load_components

    load_components()  # registers the library's layers the saved model uses
    with np.load(workdir / "data.npz") as data:
        pixels = data["x"][: max(LATENCY_BATCHES)]
    floats = pixels.astype(np.float32) / 255.0
    model = keras.saving.load_model(workdir / f"{LATENCY_MODEL}.keras", compile=False)
    signature = tf.saved_model.load((workdir / "savedmodel_path").read_text()).signatures["serving_default"]

    def litert(path: Path):
        interpreter = Interpreter(model_content=path.read_bytes(), num_threads=os.cpu_count())
        interpreter.allocate_tensors()
        source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

        def run(batch: int):
            for image in pixels[:batch]:
                interpreter.set_tensor(source, image[None])
                interpreter.invoke()
                interpreter.get_tensor(target)

        return run

    paths = {
        "keras_predict": lambda batch: model.predict(floats[:batch], batch_size=batch, verbose=0),
        "keras_call": lambda batch: model(tf.constant(floats[:batch]), training=False).numpy(),
        "savedmodel": lambda batch: signature(images=tf.constant(pixels[:batch]))["probabilities"].numpy(),
        **{variant: litert(workdir / f"{variant}.tflite") for variant in TFLITE_MODES},
    }
    ms = {path: {str(batch): [] for batch in LATENCY_BATCHES} for path in paths}
    for call in range(warmup + repeats):
        for path, run in paths.items():
            for batch in LATENCY_BATCHES:
                started = time.perf_counter()
                run(batch)
                if call >= warmup:
                    ms[path][str(batch)].append((time.perf_counter() - started) * 1000.0)
    return {"ms": ms, "litert_threads": os.cpu_count()}


def matmul(framework: str, size: int, warmup: int, repeats: int) -> dict:
    """GFLOP/s of a float32 size×size matrix product (2·size³ FLOP) in TensorFlow or PyTorch: the machine's ceiling."""
    if framework == "tf":
        import tensorflow as tf

        a, b = tf.random.normal([size, size], seed=0), tf.random.normal([size, size], seed=1)
        product = tf.matmul  # eager CPU ops run synchronously: the call returns when the product is done
    else:
        import torch

        torch.manual_seed(0)
        a, b = torch.randn(size, size), torch.randn(size, size)
        product = torch.mm
    gflops = []
    for call in range(warmup + repeats):
        started = time.perf_counter()
        product(a, b)
        if call >= warmup:
            gflops.append(2 * size**3 / (time.perf_counter() - started) / 1e9)
    return {"gflops": gflops, "size": size}


def run_case(case: str, args: argparse.Namespace) -> dict:
    """Dispatch one case name (see CASES) to its function."""
    workdir = Path(args.workdir)
    epochs = args.warmup_epochs + args.epochs
    if case == "prepare":
        return prepare(workdir, args.steps_per_epoch, args.export)
    if case.startswith("train-"):
        _, model, path = case.split("-")
        runner = {"library": train_library, "keras": train_keras, "torch": train_torch,
                  "bf16": lambda *a: train_library(*a, precision="mixed_bfloat16")}[path]
        return {**runner(workdir, model, epochs, args.steps_per_epoch), "warmup_epochs": args.warmup_epochs}
    if case.startswith("pipeline-"):
        return {**train_pipeline(workdir, case == "pipeline-cached", epochs, args.steps_per_epoch), "warmup_epochs": args.warmup_epochs}
    if case == "latency":
        return latency(workdir, args.warmup_calls, args.repeats)
    return matmul(case.removeprefix("matmul-"), args.matmul_size, args.warmup_calls, args.repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=["prepare", *CASES])
    parser.add_argument("--workdir", required=True, help="the folder `prepare` wrote (data.npz, models.json, exports)")
    parser.add_argument("--steps-per-epoch", type=int, default=10, help="batches of 128 in an epoch (default 10)")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs (default 4)")
    parser.add_argument("--warmup-epochs", type=int, default=1, help="untimed epochs first (tracing, caches; default 1)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per latency path, or matrix products (default 20)")
    parser.add_argument("--warmup-calls", type=int, default=3, help="untimed calls first (default 3)")
    parser.add_argument("--matmul-size", type=int, default=2048, help="side of the square matrices (default 2048)")
    parser.add_argument("--export", action="store_true", help="prepare: also export MobileNetV2 for the latency case")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = {"case": args.case, **run_case(args.case, args)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
