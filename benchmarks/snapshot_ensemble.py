"""Snapshot ensembles (Huang et al., 2017) against one model trained for the same steps, recorded on the digits.

For each of five training seeds (the same data split), two fresh `kcv run`s of
pipelines/training/mlp_snapshot_ensemble.yaml (100 ReLU units, SGD with momentum 0.9, 30 epochs of
39 steps):

- as written: `cosine_restarts` from 0.1, 6 cycles of 195 steps, and the `snapshot_ensemble`
  callback → each snapshot's test accuracy and the ensembles of the last k (its snapshot_ensemble.json);
- a single model: a plain `cosine_decay` from 0.1 over the same 1170 steps, no callback → its
  test accuracy and loss (metrics.json).

Written to benchmarks/results/snapshot_ensemble_digits.{json,md}, and snapshot_ensemble_digits.png: the
cyclic learning rate over the run's steps with the snapshots marked (the rate computed from the
pipeline's own `cosine_restarts` schedule, not recorded by the runs), and each snapshot's test
accuracy against the ensembles' and the single model's.

    python -m benchmarks.snapshot_ensemble
"""

from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.runs import RESULTS, ROOT, kcv_run  # noqa: E402
from benchmarks.runs import machine as describe_machine  # noqa: E402

PIPELINE = "training/mlp_snapshot_ensemble"
SEEDS = (0, 1, 2, 3, 4)
STEPS = 1170   # 30 epochs × 39 batches of 32 of the 1,258 training digits
SINGLE = ("train.callbacks=[]", f"optimizer.learning_rate={{name: cosine_decay, initial_learning_rate: 0.1, decay_steps: {STEPS}}}")


def mean_std(values) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def learning_rates(overrides: tuple = ()) -> np.ndarray:
    """The rate of each optimizer step 1..STEPS of the pipeline (with `overrides`), from its registered schedule.

    Keras evaluates the schedule at the optimizer's iteration count before the update, so step t
    (from 1) uses schedule(t − 1): the rate at a snapshot's step is its cycle's last, smallest one.
    """
    from kerascv_suite.spec import build_component, load_spec

    spec = load_spec(ROOT / "pipelines" / f"{PIPELINE}.yaml", overrides=list(overrides))
    schedule = build_component(spec.optimizer.learning_rate)
    return np.asarray(schedule(np.arange(STEPS)), dtype=float)


def plot(rows: dict, path: Path) -> None:
    """Top: the snapshot run's cyclic rate (and the single model's cosine) by step, the snapshots marked.
    Bottom: each snapshot's test accuracy at its step, and the ensembles' and the single model's as horizontal
    lines, their standard deviations as bars in the right margin; mean ± std over the seeds throughout."""
    runs = list(rows.values())
    steps = [s["step"] for s in runs[0]["snapshots"]]
    cycles = len(steps)
    cyclic, single = learning_rates(), learning_rates(SINGLE)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True, gridspec_kw={"height_ratios": (1, 1.4)})
    step_axis = np.arange(1, STEPS + 1)
    top.plot(step_axis, cyclic, color="tab:blue", label=f"snapshot run: cosine_restarts, {cycles} cycles of {steps[0]} steps")
    top.plot(step_axis, single, "--", color="black", lw=1, label="single model: cosine_decay over the same steps")
    top.scatter(steps, cyclic[np.asarray(steps) - 1], marker="v", s=60, color="tab:red", zorder=3,
                label="snapshot saved (end of a cycle)")
    top.set(ylabel="learning rate", title="learning rate per optimizer step")
    top.set_ylim(-0.005, 1.4 * cyclic.max())  # room for the legend above the peaks
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="upper center", ncol=2)

    snapshots = np.array([[run["snapshots"][c]["accuracy"] for c in range(cycles)] for run in runs])
    bottom.errorbar(steps, snapshots.mean(0), yerr=snapshots.std(0), marker="o", ms=5, capsize=3, color="tab:red",
                    label="snapshot k alone")
    references = [(f"ensemble of the last {k}", [next(e["accuracy"] for e in run["ensembles"] if e["last"] == k) for run in runs], colour, ":")
                  for k, colour in zip(range(2, cycles + 1), plt.cm.viridis(np.linspace(0, 0.85, cycles - 1)))]
    references.append(("single model, cosine_decay", [run["single_cosine"]["accuracy"] for run in runs], "black", "--"))
    margin = np.linspace(STEPS + 35, STEPS + 35 + 22 * (len(references) - 1), len(references))
    for x, (label, values, colour, style) in zip(margin, references):
        mean, std = np.mean(values), np.std(values)
        bottom.axhline(mean, color=colour, ls=style, lw=1.3, label=f"{label}: {mean:.4f} ± {std:.4f}")
        bottom.errorbar([x], [mean], yerr=[std], color=colour, capsize=3, marker="_", ms=8)
    bottom.axvline(STEPS + 18, color="grey", lw=0.8)
    low, high = bottom.get_ylim()
    bottom.set_ylim(low, high + 0.15 * (high - low))
    bottom.text(margin.mean(), high + 0.07 * (high - low), "± std of\nthe lines", ha="center", va="center", fontsize=7, color="dimgrey")
    bottom.set(xlabel="optimizer step (snapshot k at the end of cycle k)", ylabel="test accuracy",
               title=f"test accuracy, mean ± std over {len(runs)} seeds")
    bottom.set_xticks([0, *steps])
    bottom.set_xlim(0, margin[-1] + 20)
    bottom.grid(alpha=0.3)
    bottom.legend(fontsize=8, loc="lower right")
    figure.suptitle(f"Snapshot ensembles on the 8×8 digits (scikit-learn, 270 test images): MLP 100 ReLU, SGD momentum 0.9, "
                    f"{STEPS} steps (30 epochs),\nrate 0.1 restarted {cycles} times (cosine_restarts) against one cosine_decay; "
                    f"training seeds {', '.join(map(str, SEEDS))}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


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
    plot(rows, RESULTS / "snapshot_ensemble_digits.png")
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
             "(one data split); mean ± standard deviation over them. Picture: `snapshot_ensemble_digits.png` (the cyclic "
             "learning rate with the snapshots marked, and the snapshots' test accuracy against the ensembles' and the single model's).", "",
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
