"""Training and inference speed: the library against plain Keras and PyTorch on the same networks.

Every case runs in a fresh process (`benchmarks.speed_case`), once per round, and the rounds
interleave the cases (A B C, then C B A, ...), so the machine's drift between runs (±30% here)
hits every case alike; results are medians with their spread. Four measurements:

1. Training throughput (images/s, timed epochs after a warm-up epoch) of ResNet-20 and MobileNetV2
   at 32×32×3, batch 128, SGD + momentum: the library's `trainer.train` on a spec (what `kcv run`
   does, default callbacks included), the same network compiled plainly and fed NumPy arrays
   (`model.fit(x, y, batch_size=128)`), and PyTorch eager in channels_last (`benchmarks.speed_torch`).
2. Input-pipeline overhead: ResNet-20 fed by the library's pipeline (npz source, rescale, random
   crop + flip, batch, prefetch) against the same batches materialised in memory first:
   1 − pipeline / cached throughput.
3. MobileNetV2 inference latency at batch 1 and 32: Keras `predict` and `model(x)`, the exported
   SavedModel's signature, and LiteRT float32 and int8 files (one image per call: batch 32 is 32 calls).
4. Achieved training GFLOP/s, the library's MAC count × 2 FLOP/MAC × 3 (forward + backward) ×
   images/s, as a share of the float32 matrix-multiply rate measured in the same run.

The data are seeded random uint8 images (there is no CIFAR here). Results go to
benchmarks/results/speed.{json,md}; `--quick`, a smoke run of every case whose figures mean
nothing as speed, writes speed_quick.{json,md} to a temporary folder instead.

    python -m benchmarks.speed                            # about 12 minutes on the 2-core machine
    python -m benchmarks.speed --quick                    # every case, tiny, in 2–3 minutes
    python -m benchmarks.speed --only training --rounds 5
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from benchmarks.runs import ENV, RESULTS, ROOT
from benchmarks.speed_case import BATCH_SIZE, CASES, LATENCY_BATCHES, MODELS, TORCH_CASES, TRAINING

FLOP_PER_MAC = 2
TRAINING_PASSES = 3  # forward + backward ≈ 3 forward passes (the backward computes two products per forward one)
GFLOP_SHARE = "training GFLOP/s / matmul GFLOP/s"
GROUPS = {"training": TRAINING, "pipeline": ["pipeline-full", "pipeline-cached"], "latency": ["latency"],
          "matmul": ["matmul-tf", "matmul-torch"]}
FULL = {"rounds": 3, "epochs": 4, "steps_per_epoch": 10, "repeats": 20, "matmul_size": 2048}
QUICK = {"rounds": 1, "epochs": 1, "steps_per_epoch": 1, "repeats": 3, "matmul_size": 512}
NAMES = {"resnet20": "ResNet-20", "mobilenet_v2": "MobileNetV2", "keras_predict": "Keras model.predict",
         "keras_call": "Keras model(x)", "savedmodel": "SavedModel signature", "litert_float": "LiteRT float32",
         "litert_int8": "LiteRT int8 (int8_full)"}


def spread(values: list[float]) -> dict:
    """Median, quartiles, minimum and maximum of repeated measurements.

    Example::

        spread([3, 1, 2, 5])   # {"median": 2.5, "q1": 1.75, "q3": 3.5, "min": 1, "max": 5, "n": 4}
    """
    q1, median, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
    return {"median": median, "q1": q1, "q3": q3, "min": float(min(values)), "max": float(max(values)), "n": len(values)}


def paired_ratio(a_rounds: list[list[float]], b_rounds: list[list[float]]) -> dict:
    """A's median over B's, over all rounds, and the range of that ratio round by round (A and B ran in the same rounds).

    Example::

        paired_ratio([[2, 2], [3, 3]], [[1, 1], [2, 2]])   # {"ratio": 1.666..., "min": 1.5, "max": 2.0}
    """
    per_round = [statistics.median(a) / statistics.median(b) for a, b in zip(a_rounds, b_rounds)]
    overall = statistics.median([v for r in a_rounds for v in r]) / statistics.median([v for r in b_rounds for v in r])
    return {"ratio": overall, "min": min(per_round), "max": max(per_round)}


def training_gflops(macs: int, images_per_second: float) -> float:
    """GFLOP/s a training run achieves: MACs per image × 2 FLOP/MAC × 3 (forward + backward) × images/s.

    Example::

        training_gflops(40_551_040, 400.0)   # ResNet-20 at 400 images/s: 97.3 GFLOP/s
    """
    return macs * FLOP_PER_MAC * TRAINING_PASSES * images_per_second / 1e9


def throughputs(result: dict, steps: int) -> list[float]:
    """Images/s of a training case's timed epochs (its warm-up epochs left out)."""
    return [steps * BATCH_SIZE / s for s in result["epoch_seconds"][result["warmup_epochs"]:]]


def machine() -> dict:
    """The CPU model, cores, load average and the versions that matter, without importing TensorFlow or PyTorch here."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2), "python": platform.python_version(),
            **{package: installed(package) for package in ("tensorflow", "keras", "torch", "ai-edge-litert")}}


def run_case(case: str, workdir: Path, settings: dict, extra: tuple = ()) -> dict:
    """`python -m benchmarks.speed_case CASE ...` in a fresh process: its JSON line, plus the process's wall-clock seconds."""
    command = [sys.executable, "-m", "benchmarks.speed_case", case, "--workdir", str(workdir),
               "--steps-per-epoch", str(settings["steps_per_epoch"]), "--epochs", str(settings["epochs"]),
               "--repeats", str(settings["repeats"]), "--matmul-size", str(settings["matmul_size"]), *extra]
    started = time.time()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_seconds": round(time.time() - started, 1)}


def summarise(runs: dict[str, list[dict]], models: dict, steps: int) -> dict:
    """Ratios and absolute numbers from every case's per-round results (`runs[case][round]`)."""
    summary: dict = {"ratios": {}, "training": {}, "latency": {}, "matmul": {}, "gflops": {}}
    speeds = {case: [throughputs(r, steps) for r in runs[case]] for case in runs if case.startswith(("train-", "pipeline-"))}
    for case, rounds in speeds.items():
        summary["training"][case] = spread([v for r in rounds for v in r])
    for model in MODELS:
        for a, b in (("library", "keras"), ("library", "torch"), ("keras", "torch"), ("bf16", "library"), ("bf16", "torch")):
            if f"train-{model}-{a}" in speeds and f"train-{model}-{b}" in speeds:
                summary["ratios"][f"train-{model}: {a} / {b}"] = paired_ratio(speeds[f"train-{model}-{a}"], speeds[f"train-{model}-{b}"])
    if "pipeline-full" in speeds and "pipeline-cached" in speeds:
        kept = paired_ratio(speeds["pipeline-full"], speeds["pipeline-cached"])
        summary["ratios"]["pipeline overhead: 1 - pipeline / cached"] = {"ratio": 1 - kept["ratio"], "min": 1 - kept["max"],
                                                                        "max": 1 - kept["min"]}
    if "latency" in runs:
        paths = runs["latency"][0]["ms"]
        for path in paths:
            summary["latency"][path] = {batch: spread([v for r in runs["latency"] for v in r["ms"][path][batch]])
                                        for batch in paths[path]}
        for batch in (str(b) for b in LATENCY_BATCHES):
            for path in paths:
                if path != "savedmodel":
                    summary["ratios"][f"latency batch {batch}: {path} / savedmodel"] = paired_ratio(
                        [r["ms"][path][batch] for r in runs["latency"]], [r["ms"]["savedmodel"][batch] for r in runs["latency"]])
    for framework in ("tf", "torch"):
        if f"matmul-{framework}" in runs:
            summary["matmul"][framework] = spread([v for r in runs[f"matmul-{framework}"] for v in r["gflops"]])
    for case in (case for case in TRAINING if case in speeds):
        _, model, path = case.split("-")
        achieved = [[training_gflops(models[model]["macs"], v) for v in r] for r in speeds[case]]
        summary["gflops"][case] = spread([v for r in achieved for v in r])
        ceiling = "matmul-torch" if path == "torch" else "matmul-tf"
        if ceiling in runs:
            summary["ratios"][f"{case}: {GFLOP_SHARE}"] = paired_ratio(achieved, [r["gflops"] for r in runs[ceiling]])
    return summary


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _share_of_matmul(summary: dict, case: str) -> str:
    ratio = summary["ratios"].get(f"{case}: {GFLOP_SHARE}")
    return _percent(ratio["ratio"]) if ratio else "(no matmul case)"


def _ratio_row(name: str, r: dict) -> str:
    show = _percent if name.startswith("pipeline") or name.endswith(GFLOP_SHARE) else (lambda v: f"{v:.2f}")
    return f"| {name} | {show(r['ratio'])} | {show(r['min'])} – {show(r['max'])} |"


def markdown(report: dict) -> str:
    """The report as Markdown: the machine and settings, the ratios, then the absolute numbers."""
    m, s, summary = report["machine"], report["settings"], report["summary"]
    lines = [
        f"# Training and inference speed ({report['date']}{', QUICK: not meaningful as speed' if s['quick'] else ''})", "",
        f"{m['cpu']}, {m['cores']} cores (load average {m['load_average']} at the start); Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, PyTorch {m['torch']}, LiteRT {m['ai-edge-litert']}. "
        f"{s['rounds']} round(s), every case in its own process, "
        f"interleaved (order reversed every other round). Training: 1 warm-up + {s['epochs']} timed epoch(s) of "
        f"{s['steps_per_epoch']} batches of {BATCH_SIZE} random 32×32×3 uint8 images per process, SGD + momentum. "
        f"Whole run {report['wall_seconds']:.0f} s.", "",
        "## Ratios", "",
        "The ratio of the medians over all rounds; the range is that ratio round by round (both cases ran in each round). "
        "Above 1 means the first is faster for training, slower for latency.", "",
        "| comparison | ratio | range over rounds |", "|---|---|---|",
        *[_ratio_row(name, r) for name, r in summary["ratios"].items()], "",
        "## Absolute numbers", "",
        "### Training throughput (images/s over the timed epochs of every round)", "",
        "| case | median | IQR | min – max | epochs |", "|---|---|---|---|---|",
        *[f"| {case} | {v['median']:.1f} | {v['q1']:.1f} – {v['q3']:.1f} | {v['min']:.1f} – {v['max']:.1f} | {v['n']} |"
          for case, v in summary["training"].items()], "",
        "`library`: `trainer.train` on the spec (the `kcv run` path with its default callbacks; the epoch timer leaves "
        "validation out). `keras`: the library's network, `compile(SGD, SparseCategoricalCrossentropy)` and "
        "`fit(x, y, batch_size=128)` on NumPy arrays. `bf16`: the library's path with `train.precision: mixed_bfloat16`. "
        "`torch`: the same network in PyTorch, float32 (parameters and MACs asserted "
        "equal). `pipeline-full`: `compile_model` + `fit` on the library's dataset with random crop + flip; "
        "`pipeline-cached`: the same batches materialised in memory first.", "",
    ]
    if summary["latency"]:
        lines += ["### MobileNetV2 inference latency (ms per call, median [IQR])", "",
                  "| path | " + " | ".join(f"batch {b}" for b in LATENCY_BATCHES) + " |", "|---|" + "---|" * len(LATENCY_BATCHES),
                  *[f"| {NAMES[path]} | " + " | ".join(f"{v['median']:.2f} [{v['q1']:.2f} – {v['q3']:.2f}]" for v in batches.values())
                    + " |" for path, batches in summary["latency"].items()], "",
                  "Keras takes the rescaled float images; the SavedModel and the TFLite files take uint8 pixels and rescale "
                  "in their graphs. A TFLite file takes one image: its batch 32 is 32 `invoke()` calls "
                  f"(LiteRT on {report['cases']['latency'][0]['litert_threads']} threads).", ""]
    if summary["gflops"]:
        lines += ["### Achieved training arithmetic (GFLOP/s over the timed epochs of every round)", "",
                  "| case | median | IQR | share of the same framework's matmul |", "|---|---|---|---|",
                  *[f"| {case} | {v['median']:.1f} | {v['q1']:.1f} – {v['q3']:.1f} | "
                    f"{_share_of_matmul(summary, case)} |"
                    for case, v in summary["gflops"].items()], "",
                  "MACs per image from `kerascv_suite.models.arithmetic`: "
                  + ", ".join(f"{NAMES[k]} {v['macs']:,}" for k, v in report["models"].items())
                  + f"; × {FLOP_PER_MAC} FLOP/MAC × {TRAINING_PASSES} (forward + backward) × images/s. The count is that of "
                  "direct convolution: a share above 100% means the framework's convolutions beat its own large matmul "
                  "(fewer multiplies than the direct count, as Winograd's algorithm does, or a better-tuned kernel).", ""]
    if summary["matmul"]:
        lines += [f"### Matrix-multiply ceiling (float32 {s['matmul_size']}² product, GFLOP/s)", "",
                  "| framework | median | min – max | calls |", "|---|---|---|---|",
                  *[f"| {'TensorFlow tf.matmul' if f == 'tf' else 'PyTorch torch.mm'} | {v['median']:.1f} | "
                    f"{v['min']:.1f} – {v['max']:.1f} | {v['n']} |" for f, v in summary["matmul"].items()], ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str], dict]:
    """The command line, the selected cases in their order, and the settings (quick or full, flags override)."""

    def positive(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
        return int(text)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every case, tiny: a smoke run (results to a temporary folder)")
    parser.add_argument("--rounds", type=positive, help=f"rounds of every case (default {FULL['rounds']}; quick {QUICK['rounds']})")
    parser.add_argument("--epochs", type=positive, help=f"timed epochs per training process, after 1 warm-up (default {FULL['epochs']})")
    parser.add_argument("--steps-per-epoch", type=positive, help=f"batches of {BATCH_SIZE} per epoch (default {FULL['steps_per_epoch']})")
    parser.add_argument("--repeats", type=positive, help=f"timed calls per latency path and matrix product (default {FULL['repeats']})")
    parser.add_argument("--only", action="append", metavar="CASE",
                        help=f"run only these cases (repeatable): a group ({', '.join(GROUPS)}) or a case ({', '.join(CASES)})")
    parser.add_argument("--out", type=Path, help="folder for speed.{json,md} (default benchmarks/results; quick: a temporary folder)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.only or [] if name not in GROUPS and name not in CASES]
    if unknown:
        parser.error(f"--only: unknown case '{unknown[0]}'; allowed: {', '.join(dict.fromkeys([*GROUPS, *CASES]))}")
    wanted = {case for name in args.only or CASES for case in GROUPS.get(name, [name])}
    cases = [case for case in CASES if case in wanted]
    if set(cases) & set(TORCH_CASES) and importlib.util.find_spec("torch") is None:
        parser.error("PyTorch is not installed; install the bench extra (pip install -e '.[bench]') or leave out the torch "
                     "cases with --only")
    settings = {key: getattr(args, key, None) or default for key, default in (QUICK if args.quick else FULL).items()}
    return args, cases, {**settings, "quick": args.quick}


def main(argv: list[str] | None = None) -> None:
    args, cases, settings = parse_args(argv)
    described = machine()  # before the cases load the cores
    if described["load_average"] > 0.5:
        print(f"warning: the load average is {described['load_average']} before the first case: something else is running, "
              "and sharing the cores skews every timing (PyTorch's OpenMP threads most)", flush=True)
    out = args.out or (Path(tempfile.gettempdir()) / "kerascv_suite_speed_quick" if args.quick else RESULTS)
    stem = "speed_quick" if args.quick else "speed"
    started = time.time()
    runs: dict[str, list[dict]] = {case: [] for case in cases}
    order = []
    with tempfile.TemporaryDirectory(prefix="kcv-speed-") as scratch:
        workdir = Path(scratch)
        prepared = run_case("prepare", workdir, settings, ("--export",) if "latency" in cases else ())
        print(f"prepared {prepared['examples']} images and the models' counts in {prepared['wall_seconds']} s", flush=True)
        for index in range(settings["rounds"]):
            for case in cases if index % 2 == 0 else cases[::-1]:
                runs[case].append(run_case(case, workdir, settings))
                order.append(case)
                print(f"round {index + 1}/{settings['rounds']}: {case} ({runs[case][-1]['wall_seconds']} s)", flush=True)
    report = {"date": time.strftime("%Y-%m-%d"), "machine": described, "settings": settings, "models": prepared["models"],
              "wall_seconds": round(time.time() - started, 1), "order": order}
    report["summary"] = summarise(runs, prepared["models"], settings["steps_per_epoch"])
    report["cases"] = runs
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (out / f"{stem}.md").write_text(markdown(report) + "\n")
    print(markdown(report))
    print(f"wrote {out / stem}.json and {out / stem}.md")


if __name__ == "__main__":
    main()
