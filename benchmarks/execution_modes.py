"""Eager vs `tf.function` vs XLA: LeNet-5's training step time under each execution mode.

Runs pipelines/software/execution_modes.yaml in process (through `kcv run`'s own entry point,
with more timed steps than the pipeline's default) and copies the callback's results to
benchmarks/results/execution_modes.{json,md,png}. A measurement of this machine, not a claim:
on a CPU, XLA may be slower than the graph; on a GPU it usually wins.

    python -m benchmarks.execution_modes [--steps 100] [--warmup 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SPEC = ROOT / "pipelines" / "software" / "execution_modes.yaml"
FILES = ("execution_modes.json", "execution_modes.md", "execution_modes.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="timed steps per mode (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per mode first (default 10)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples in the fixed batch (default 32)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerascv_suite.cli import main as kcv

    with tempfile.TemporaryDirectory() as runs_dir:
        overrides = [f"train.callbacks.0.steps={args.steps}", f"train.callbacks.0.warmup={args.warmup}",
                     f"train.callbacks.0.batch_size={args.batch_size}"]
        status = kcv(["run", str(SPEC), "--runs-dir", runs_dir, *[a for o in overrides for a in ("--set", o)]])
        if status:
            raise SystemExit(status)
        run_dir = next(Path(runs_dir).glob("*/*/execution_modes.json")).parent
        RESULTS.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(run_dir / name, RESULTS / name)
    report = json.loads((RESULTS / "execution_modes.json").read_text())
    for mode, r in report["modes"].items():
        print(f"{mode:6s} median {r.get('median_ms', float('nan')):8.2f} ms  p90 {r.get('p90_ms', float('nan')):8.2f} ms  "
              f"speedup vs eager {r.get('speedup_vs_eager') or float('nan'):.2f}x")
    print(f"wrote {', '.join(str((RESULTS / n).relative_to(ROOT)) for n in FILES)}")


if __name__ == "__main__":
    main()
