"""Adversarial training (chapter 8; Madry et al., 2018): LeNet-5 on the digits trained plainly and on PGD attacks, then attacked.

Two fresh `kcv run`s with the same epochs: pipelines/classification/lenet5.yaml (plain) and
pipelines/understanding/adversarial_training_lenet5.yaml (the same spec with `train.adversarial`:
each batch replaced by PGD-7 at ε = 0.1). Both saved models are then attacked on the whole test
split by `kerascv_suite.viz.adversarial.attack_report` — FGSM, and PGD with 10 steps of ε/4 from a
random start (a stronger attack than the one trained against) — at several ε:

- benchmarks/results/adversarial_training.png: accuracy against ε, both models, FGSM and PGD;
- benchmarks/results/adversarial_training.md (+ .json): the figures, and the runs' own metrics.json
  report (clean and PGD-7 test accuracy).

    python -m benchmarks.adversarial_training
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from benchmarks.runs import RESULTS, ROOT, trained_model
from benchmarks.runs import machine as describe_machine

PIPELINES = {"plain": "classification/lenet5", "adversarial": "understanding/adversarial_training_lenet5"}
EPSILONS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
STEPS, STEP_FRACTION, SEED = 10, 0.25, 0  # the evaluation's PGD: 10 steps of ε/4 from a random start
VALUE_RANGE = (0.0, 1.0)  # both pipelines rescale the uint8 pixels by 1/255
CLEAN_TOLERANCE = 0.02    # the clean accuracy adversarial training may cost for the finding to hold


def accuracy_table(rows: dict[str, list[dict]]) -> list[dict]:
    """One row per ε: each model's clean, FGSM and PGD accuracy, from `attack_report`'s rows per model."""
    by = {(model, row["attack"], row["epsilon"]): row for model, found in rows.items() for row in found}
    epsilons = sorted({epsilon for (_, _, epsilon) in by})
    return [{"epsilon": eps, **{f"{model} {attack}": by[(model, attack, eps)]["adversarial_accuracy"]
                                for model in rows for attack in ("FGSM", "PGD")}} for eps in epsilons]


def findings(table: list[dict], trained_epsilon: float) -> dict[str, bool]:
    """What Madry et al. report, read off the table: robustness bought at the trained ε, at little clean accuracy.

    (The table's ε = 0 row is the clean accuracy: an attack of budget 0 changes nothing.)
    """
    clean, at = table[0], next(row for row in table if row["epsilon"] == trained_epsilon)
    return {
        f"PGD accuracy at ε = {trained_epsilon:g} is higher after adversarial training": at["adversarial PGD"] > at["plain PGD"],
        f"FGSM accuracy at ε = {trained_epsilon:g} is higher after adversarial training": at["adversarial FGSM"] > at["plain FGSM"],
        "PGD is at least as strong as FGSM on both models": all(row[f"{m} PGD"] <= row[f"{m} FGSM"] + 1e-9
                                                                 for row in table for m in ("plain", "adversarial")),
        f"clean accuracy stays within {CLEAN_TOLERANCE:.0%} of the plain model's":
            clean["adversarial PGD"] >= clean["plain PGD"] - CLEAN_TOLERANCE,
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(table: list[dict], trained_epsilon: float, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    eps = [row["epsilon"] for row in table]
    for model, colour in (("plain", "tab:blue"), ("adversarial", "tab:red")):
        for attack, style in (("FGSM", "--"), ("PGD", "-")):
            ax.plot(eps, [row[f"{model} {attack}"] for row in table], style, color=colour, marker="o", markersize=3,
                    label=f"{'plain' if model == 'plain' else 'PGD-trained'} LeNet-5, {attack}")
    ax.axvline(trained_epsilon, color="grey", linewidth=0.8, linestyle=":")
    ax.text(trained_epsilon, 0.02, " trained ε", fontsize=7, color="grey")
    ax.set_xlabel("ε (L∞, inputs in [0, 1])")
    ax.set_ylabel("test accuracy under attack")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"LeNet-5 on the digits: plain vs adversarial training (PGD: {STEPS} steps of ε/{round(1 / STEP_FRACTION)})",
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(date: str, machine: str, runs: dict, table: list[dict], found: dict, images: int) -> str:
    plain, adversarial = runs["plain"], runs["adversarial"]
    settings = adversarial["metrics"]["adversarial"]
    lines = [f"# Adversarial training of LeNet-5 on the digits ({date}, {machine})", "",
             f"Two fresh `kcv run`s of {plain['epochs']} epochs each (the same spec but for `train.adversarial`): "
             f"pipelines/{PIPELINES['plain']}.yaml ({plain['seconds']:.0f} s) and pipelines/{PIPELINES['adversarial']}.yaml "
             f"({adversarial['seconds']:.0f} s), whose every training batch is replaced by its {settings['method'].upper()} "
             f"attack against the current weights ({settings['steps']} steps of {settings['step_size']:.4f} from a random "
             f"start in the L∞ ball of ε = {settings['epsilon']:g}). Both saved models are attacked on all {images} test "
             f"images by `kerascv_suite.viz.adversarial.attack_report`: FGSM, and PGD with {STEPS} steps of "
             f"ε/{round(1 / STEP_FRACTION)} from a random start (seed {SEED}), stronger than the attack trained against. "
             f"Inputs are in [0, 1]; ε = 0.1 is about 26 grey levels of 255.", "",
             f"The adversarial run's own metrics.json (its test split attacked once with the training attack): clean "
             f"accuracy {settings['clean_accuracy']:.1%}, adversarial accuracy {settings['adversarial_accuracy']:.1%}.", "",
             "Picture: `adversarial_training.png`.", "",
             "| ε | plain FGSM | plain PGD | adv.-trained FGSM | adv.-trained PGD |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {row['epsilon']:g} | {row['plain FGSM']:.1%} | {row['plain PGD']:.1%} | {row['adversarial FGSM']:.1%} | "
              f"{row['adversarial PGD']:.1%} |" for row in table]
    lines += ["", f"(ε = 0: clean test accuracy. Seconds: plain run {plain['seconds']:.0f}, adversarial run "
              f"{adversarial['seconds']:.0f}, each including imports, data, training, evaluation and reports.)", "",
              "Findings:", ""]
    lines += [f"- {'yes' if held else 'NO'}: {claim}" for claim, held in found.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    from kerascv_suite.spec import load_spec
    from kerascv_suite.viz import adversarial

    epochs = {name: load_spec(ROOT / "pipelines" / f"{path}.yaml").train.epochs for name, path in PIPELINES.items()}
    if len(set(epochs.values())) != 1:
        raise ValueError(f"the two pipelines must train for the same epochs, not {epochs}")
    runs, rows = {}, {}
    for name, path in PIPELINES.items():
        metrics, seconds, model, images, labels = trained_model(path)
        print(name, metrics["test"], round(seconds, 1), flush=True)
        rows[name] = adversarial.attack_report(model, images, labels, EPSILONS, STEPS, STEP_FRACTION, seed=SEED,
                                               value_range=VALUE_RANGE)
        runs[name] = {"metrics": {key: metrics[key] for key in ("test", "adversarial") if key in metrics},
                      "seconds": seconds, "epochs": metrics["train"]["epochs"]}
    table = accuracy_table(rows)
    trained_epsilon = runs["adversarial"]["metrics"]["adversarial"]["epsilon"]
    found = findings(table, trained_epsilon)
    for row in table:
        print(row, flush=True)
    curves(table, trained_epsilon, RESULTS / "adversarial_training.png")
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "adversarial_training.md").write_text(markdown(date, machine, runs, table, found, len(labels)))
    (RESULTS / "adversarial_training.json").write_text(json.dumps(
        {"date": date, "machine": machine, "pipelines": PIPELINES, "epsilons": list(EPSILONS),
         "pgd": {"steps": STEPS, "step_fraction": STEP_FRACTION, "seed": SEED}, "runs": runs, "table": table,
         "rows": rows, "findings": found}, indent=1))


if __name__ == "__main__":
    main()
