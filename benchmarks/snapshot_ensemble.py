"""Snapshot ensembles (Huang et al., 2017) against one model trained for the same steps, recorded on the digits.

For each of five training seeds (the same data split), two fresh `kcv run`s of
pipelines/training/mlp_snapshot_ensemble.yaml (100 ReLU units, SGD with momentum 0.9, 30 epochs of
39 steps):

- as written: `cosine_restarts` from 0.1, 6 cycles of 195 steps, and the `snapshot_ensemble`
  callback → each snapshot's test accuracy and the ensembles of the last k (its snapshot_ensemble.json);
- a single model: a plain `cosine_decay` from 0.1 over the same 1170 steps, no callback → its
  test accuracy and loss (metrics.json).

Written to benchmarks/results/snapshot_ensemble_digits.{json,md}.

    python -m benchmarks.snapshot_ensemble
"""

from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.runs import RESULTS, kcv_run
from benchmarks.runs import machine as describe_machine

PIPELINE = "training/mlp_snapshot_ensemble"
SEEDS = (0, 1, 2, 3, 4)
STEPS = 1170   # 30 epochs × 39 batches of 32 of the 1,258 training digits
SINGLE = ("train.callbacks=[]", f"optimizer.learning_rate={{name: cosine_decay, initial_learning_rate: 0.1, decay_steps: {STEPS}}}")


def mean_std(values) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def main() -> None:
    rows = {}
    with tempfile.TemporaryDirectory() as workdir:
        for seed in SEEDS:
            seed_set = f"train.seed={seed}"
            _, run_dir, snapshot_seconds = kcv_run(PIPELINE, Path(workdir), overrides=(seed_set,))
            report = json.loads((run_dir / "snapshot_ensemble.json").read_text())
            assert report["snapshots"][-1]["step"] == STEPS, report["snapshots"][-1]
            single, _, single_seconds = kcv_run(PIPELINE, Path(workdir), overrides=(seed_set, *SINGLE))
            rows[seed] = {
                "snapshots": [{k: s[k] for k in ("cycle", "step", "accuracy", "cross_entropy")} for s in report["snapshots"]],
                "ensembles": report["ensembles"],
                "single_cosine": {"accuracy": single["test"]["accuracy"], "loss": single["test"]["loss"]},
                "kcv_run_seconds": {"snapshot_ensemble": round(snapshot_seconds, 1), "single_cosine": round(single_seconds, 1)},
            }
            print(seed, rows[seed]["ensembles"][-1], rows[seed]["single_cosine"], flush=True)
    cycles = len(rows[SEEDS[0]]["snapshots"])
    accuracy = {f"snapshot {c + 1}": [rows[s]["snapshots"][c]["accuracy"] for s in SEEDS] for c in range(cycles)}
    accuracy.update({f"ensemble of the last {k}": [next(e["accuracy"] for e in rows[s]["ensembles"] if e["last"] == k) for s in SEEDS]
                     for k in range(2, cycles + 1)})
    accuracy["single model, cosine_decay"] = [rows[s]["single_cosine"]["accuracy"] for s in SEEDS]
    cross_entropy = {"snapshot ensemble (all)": [rows[s]["ensembles"][-1]["cross_entropy"] for s in SEEDS],
                     f"snapshot {cycles} (the final model)": [rows[s]["snapshots"][-1]["cross_entropy"] for s in SEEDS],
                     "single model, cosine_decay": [rows[s]["single_cosine"]["loss"] for s in SEEDS]}
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "snapshot_ensemble_digits.json").write_text(json.dumps(
        {"date": date, "machine": machine, "pipeline": PIPELINE, "steps": STEPS, "seeds": list(SEEDS), "runs": rows,
         "mean_accuracy": {k: float(np.mean(v)) for k, v in accuracy.items()},
         "mean_cross_entropy": {k: float(np.mean(v)) for k, v in cross_entropy.items()}}, indent=2) + "\n")
    lines = [f"# Snapshot ensembles on the digits ({date}, {machine})", "",
             f"`pipelines/{PIPELINE}.yaml`: an MLP of 100 ReLU units, SGD with momentum 0.9, {STEPS} steps (30 epochs). "
             f"The snapshot run restarts a cosine from 0.1 {cycles} times (`cosine_restarts`, cycles of {STEPS // cycles} steps) "
             "and saves the model at each cycle's end (`snapshot_ensemble`); the single model follows one `cosine_decay` "
             f"from 0.1 over the same {STEPS} steps. Test split: 270 digits. Training seeds {', '.join(map(str, SEEDS))} "
             "(one data split); mean ± standard deviation over them.", "",
             "| model | test accuracy | " + " | ".join(f"seed {s}" for s in SEEDS) + " |",
             "|---|---|" + "---|" * len(SEEDS)]
    lines += [f"| {name} | {mean_std(values)} | " + " | ".join(f"{v:.4f}" for v in values) + " |" for name, values in accuracy.items()]
    lines += ["", "| model | test cross-entropy |", "|---|---|"]
    lines += [f"| {name} | {mean_std(values)} |" for name, values in cross_entropy.items()]
    seconds = [rows[s]["kcv_run_seconds"] for s in SEEDS]
    lines += ["", f"`kcv run` seconds, mean: snapshot run {np.mean([t['snapshot_ensemble'] for t in seconds]):.1f}, "
                  f"single model {np.mean([t['single_cosine'] for t in seconds]):.1f}.", ""]
    (RESULTS / "snapshot_ensemble_digits.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
