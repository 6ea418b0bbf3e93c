"""What geometric augmentation of structured examples costs in training throughput.

The localisation pipeline (pipelines/detection/localization_shapes.yaml: shapes scenes resized to
32×32, a CIFAR ResNet-8 localiser, batch 32) trains in two ways, each in a fresh process:

- ``augmented``: the library's pipeline as a spec runs it — the cached split gathered into
  batches, then random flip, translation, rotation and scale jitter moving the images and boxes
  together (`kerascv_suite.data.geometry`), then the task's targets, prefetched;
- ``cached``: the same number of batches taken from the pipeline once without augmentation and
  held in memory as tensors, fed to `model.fit` from `tf.data.Dataset.from_tensor_slices`.

Throughput is images per second over timed epochs after a warm-up epoch. The rounds interleave
the cases (A B, then B A, ...) because these machines drift ±30% between runs; the result is
the median of each case and the cost 1 − augmented / cached. Results go to
benchmarks/results/structured_pipeline.{json,md}, with the CPU's vector extensions.

    python -m benchmarks.structured_pipeline               # 3 rounds, about 4 minutes on 2 cores
    python -m benchmarks.structured_pipeline --rounds 1 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.runs import ENV, RESULTS, ROOT

SPEC = ROOT / "pipelines" / "detection" / "localization_shapes.yaml"
AUGMENT = ("[{name: random_flip, mode: horizontal}, {name: random_translation, fraction: 0.1}, "
           "{name: random_rotation, degrees: 15}, {name: random_scale, min_scale: 0.8, max_scale: 1.2}]")
CASES = ("augmented", "cached")


def cpu_flags() -> list[str]:
    """The CPU's vector extensions that matter for TensorFlow's kernels, from /proc/cpuinfo."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in set(flags) if f in {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile"})


def run_case(case: str, epochs: int) -> dict:
    """One case in this process: {"images_per_second": [per timed epoch], ...}."""
    import keras
    import tensorflow as tf

    import kerascv_suite as kcv
    from kerascv_suite.data.pipeline import DataPipeline

    spec = kcv.load_spec(SPEC, overrides=[f"data.augment={AUGMENT}" if case == "augmented" else "data.augment=[]"])
    keras.utils.set_random_seed(0)
    pipeline = DataPipeline(spec)
    data = pipeline.dataset("train")
    if case == "cached":
        batches = list(data)  # (images, targets, weights) of one epoch, materialised
        images = tf.concat([batch[0] for batch in batches], 0)
        targets = {key: tf.concat([batch[1][key] for batch in batches], 0) for key in batches[0][1]}
        weights = tf.concat([batch[2] for batch in batches], 0)
        data = tf.data.Dataset.from_tensor_slices((images, targets, weights)).batch(spec.data.batch_size).prefetch(2)
    steps = sum(1 for _ in data)
    model = kcv.build_model(spec, pipeline.info)

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    seconds: list[float] = []
    model.fit(data, epochs=1 + epochs, callbacks=[Timer()], verbose=0)
    images = steps * spec.data.batch_size
    return {"case": case, "steps": steps, "batch_size": spec.data.batch_size,
            "images_per_second": [images / s for s in seconds[1:]]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, help="run one case in this process and print its JSON line")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per case and round (after one warm-up epoch)")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.epochs)), flush=True)
        return
    rates: dict[str, list[float]] = {case: [] for case in CASES}
    for round_index in range(args.rounds):
        for case in CASES if round_index % 2 == 0 else reversed(CASES):
            done = subprocess.run([sys.executable, "-m", "benchmarks.structured_pipeline", "--case", case, "--epochs", str(args.epochs)],
                                  cwd=ROOT, capture_output=True, text=True, env=ENV)
            if done.returncode != 0:
                raise RuntimeError(f"case {case} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rates[case] += result["images_per_second"]
            print(case, [round(r, 1) for r in result["images_per_second"]], flush=True)
    medians = {case: statistics.median(values) for case, values in rates.items()}
    cost = 1.0 - medians["augmented"] / medians["cached"]
    date = time.strftime("%Y-%m-%d")
    import platform

    summary = {"date": date, "cpu_flags": cpu_flags(), "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
               "rounds": args.rounds, "timed_epochs_per_round": args.epochs, "images_per_second": rates,
               "median_images_per_second": medians, "augmentation_cost": cost, "augment": AUGMENT}
    (RESULTS / "structured_pipeline.json").write_text(json.dumps(summary, indent=2))
    lines = [f"# Geometric augmentation of structured examples: training throughput ({date})", "",
             f"{summary['machine']}; CPU flags: {', '.join(summary['cpu_flags']) or 'none of avx2/avx512/amx'}. "
             f"Localisation pipeline on shapes scenes at 32×32, batch 32; {args.rounds} interleaved rounds × "
             f"{args.epochs} timed epochs per case, each case a fresh process.", "",
             "| case | median images/s | all timed epochs |", "|---|---|---|"]
    for case in CASES:
        lines.append(f"| {case} | {medians[case]:.1f} | {', '.join(f'{r:.1f}' for r in rates[case])} |")
    lines += ["", f"Augmentation (`{AUGMENT}`) costs {100 * cost:.1f}% of the cached-tensor throughput "
              f"(1 − augmented / cached; negative: within the noise, augmented faster)."]
    (RESULTS / "structured_pipeline.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
