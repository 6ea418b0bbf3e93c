"""The notes' checks while training (chapter 7), recorded: the range test, update/weight ratios, λ and divergence.

Fresh `kcv` commands on optimizer_sgd.yaml's MLP (100 ReLU units, plain SGD) on the digits:

- `kcv lr-find` from 1e-4 to 100 over 100 steps → benchmarks/results/lr_find_mlp_sgd.png;
- `kcv run` of pipelines/training/mlp_relu_update_ratio.yaml at learning rates 0.0005, 0.05, 3
  and 10 → the median first-step ‖ΔW‖/‖W‖ per epoch, whether divergence_stop ended the run, test
  accuracy, and the 0.05 run's update_ratio.png as update_ratio_lr0.05.png;
- `kcv run --check-init` of the softmax classifier (L2 λ = 1e-4) and of the same with λ = 1:
  the initial loss with the penalty off and on.

Written to benchmarks/results/training_checks.{json,md}.

    python -m benchmarks.training_checks
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import tempfile
from pathlib import Path

from benchmarks.runs import RESULTS, ROOT, kcv, kcv_run
from benchmarks.runs import machine as describe_machine
from kerascv_suite.viz.plots import read_history

RATES = (0.0005, 0.05, 3.0, 10.0)


def main() -> None:
    figures: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        out = workdir / "lr-find"
        printed = kcv("lr-find", str(ROOT / "pipelines/training/optimizer_sgd.yaml"), "--min", "1e-4", "--max", "100",
                      "--steps", "100", "--out", str(out), workdir=workdir).stdout
        found = json.loads((out / "lr_find.json").read_text())
        shutil.copy(out / "lr_find.png", RESULTS / "lr_find_mlp_sgd.png")
        figures["lr_find"] = {key: found[key] for key in ("suggestion", "lowest", "steepest", "diverged_at", "summary")}
        print(printed.strip().splitlines()[-2], flush=True)
        figures["update_ratio"] = {}
        for rate in RATES:
            metrics, run_dir, _ = kcv_run("training/mlp_relu_update_ratio", workdir, (f"optimizer.learning_rate={rate}",))
            history = read_history(run_dir / "history.csv")
            figures["update_ratio"][f"{rate:g}"] = {
                "epochs_trained": len(history["epoch"]), "median_update_ratio_first_epoch": history["update_ratio"][0],
                "median_update_ratio_last_epoch": history["update_ratio"][-1], "test_accuracy": metrics["test"]["accuracy"]}
            if rate == 0.05:
                shutil.copy(run_dir / "update_ratio.png", RESULTS / "update_ratio_lr0.05.png")
            print(rate, figures["update_ratio"][f"{rate:g}"], flush=True)
        figures["check_init"] = {}
        for l2 in (1e-4, 1.0):
            printed = kcv("run", str(ROOT / "pipelines/classification/softmax.yaml"), "--check-init", "--set", f"model.l2={l2}",
                          workdir=workdir).stdout
            off = float(re.search(r"initial loss ([0-9.]+)", printed)[1])
            on = float(re.search(r"with the L1/L2 penalties on: ([0-9.]+)", printed)[1])
            figures["check_init"][f"{l2:g}"] = {"penalty_off": off, "penalty_on": on}
            print(l2, off, on, flush=True)
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "training_checks.json").write_text(json.dumps({"date": date, "machine": machine, **figures}, indent=2) + "\n")
    lr = figures["lr_find"]
    lines = [f"# Checks while training (chapter 7) ({date}, {machine})", "",
             "optimizer_sgd.yaml's MLP (one hidden layer of 100 ReLU units, plain SGD) on the digits.", "",
             f"**Range test** (`kcv lr-find`, 1e-4 → 100 over 100 steps, picture `lr_find_mlp_sgd.png`): {lr['summary']}. "
             "The pipeline itself trains at 0.05.", "",
             "**Update/weight ratio** (`mlp_relu_update_ratio.yaml`: median over the weight matrices of ‖ΔW‖/‖W‖ on each "
             "epoch's first step; picture for 0.05: `update_ratio_lr0.05.png`):", "",
             "| learning rate | ratio, epoch 1 | ratio, last epoch | epochs trained (divergence_stop) | test accuracy |",
             "|---|---|---|---|---|"]
    lines += [f"| {rate} | {row['median_update_ratio_first_epoch']:.2g} | {row['median_update_ratio_last_epoch']:.2g} | "
              f"{row['epochs_trained']} of 30 | {row['test_accuracy']:.4f} |" for rate, row in figures["update_ratio"].items()]
    lines += ["", "**Regularisation sanity check** (`kcv run pipelines/classification/softmax.yaml --check-init`): the "
              "initial loss without and with the L2 penalty:", "", "| λ | penalty off | penalty on |", "|---|---|---|"]
    lines += [f"| {l2} | {row['penalty_off']:.4f} | {row['penalty_on']:.4f} |" for l2, row in figures["check_init"].items()]
    (RESULTS / "training_checks.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
