"""Quality run of the phone exports: MobileNets trained on the digits, exported to TFLite, run in LiteRT.

For each pipeline under pipelines/mobile/: a full `kcv run` (which exports int8_full as its spec
says), then a float32 TFLite export of the same run for comparison. Records test accuracy,
file sizes, top-1 agreement with the Keras model, max abs difference and LiteRT latency in
benchmarks/results/mobile_export.{json,md}.

    python -m benchmarks.mobile_export
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PIPELINES = ("mobilenet_v2_digits", "mobilenet_v3_small_digits")


def run(name: str, runs_dir: Path) -> dict:
    from kerascv_suite.export import export_run
    from kerascv_suite.spec import load_spec
    from kerascv_suite.spec.schema import TFLiteSpec
    from kerascv_suite.training.trainer import load_run, train

    started = time.time()
    result = train(load_spec(ROOT / "pipelines" / "mobile" / f"{name}.yaml"), runs_dir=runs_dir)
    seconds = time.time() - started
    spec, pipeline, model, task = load_run(result.run_dir)
    floating = export_run(model, pipeline, task, spec, result.run_dir, savedmodel=False,
                          tflite=TFLiteSpec(quantization="none"))["tflite"]
    integer = result.metrics["export"]["tflite"]
    return {
        "test_accuracy": result.metrics["test"]["accuracy"],
        "train_seconds": round(seconds, 1),
        "float32": {k: floating[k] for k in ("size_bytes", "agreement", "max_abs_difference", "median_latency_ms")},
        "int8_full": {k: integer[k] for k in ("size_bytes", "agreement", "max_abs_difference", "median_latency_ms")},
        "size_ratio": round(integer["size_bytes"] / floating["size_bytes"], 3),
        "test_examples": integer["test_examples"],
    }


def main() -> None:
    import tensorflow as tf

    results = {}
    with tempfile.TemporaryDirectory() as runs_dir:
        for name in PIPELINES:
            results[name] = run(name, Path(runs_dir))
            print(name, results[name], flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, tensorflow {tf.__version__}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mobile_export.json").write_text(json.dumps({"machine": machine, "date": time.strftime("%Y-%m-%d"),
                                                            "results": results}, indent=2))
    lines = [f"# MobileNets on the digits, exported for phones ({time.strftime('%Y-%m-%d')}, {machine})", "",
             "TFLite files run in LiteRT on the digits test split; agreement = top-1 agreement with the Keras model.", "",
             "| pipeline | test accuracy | float32 size | int8_full size | size ratio | int8_full agreement | float32 agreement | int8_full latency ms |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['test_accuracy']:.4f} | {r['float32']['size_bytes']:,} | {r['int8_full']['size_bytes']:,} | "
                     f"{r['size_ratio']} | {r['int8_full']['agreement']:.4f} | {r['float32']['agreement']:.4f} | "
                     f"{r['int8_full']['median_latency_ms']:.3f} |")
    (RESULTS / "mobile_export.md").write_text("\n".join(lines) + "\n")
    print((RESULTS / "mobile_export.md").read_text())


if __name__ == "__main__":
    main()
