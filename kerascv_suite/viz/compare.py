"""Overlay the training curves of several runs in one picture: SGD against momentum against Adam.

Each run folder's history.csv (what `CSVLogger` wrote) becomes one colour; training curves are
solid and validation curves dashed, one panel per metric the runs share (loss, accuracy, ...),
plus the learning rate on a log scale when the histories logged it. A run is labelled by its
spec's name and optimizer ("mlp_digits sgd lr=0.01 momentum=0.9"); labels that would still
be equal get the run folder's name.

Example::

    runs = load_runs(["runs/mlp_sgd/20261123-101500", "runs/mlp_adam/20261123-103000"])
    plot_comparison(runs, "compare.png")
    print(format_summary(runs))            # final and best validation metrics per run
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import yaml

from kerascv_suite.spec.errors import UserError
from kerascv_suite.viz.plots import read_history

LEARNING_RATE = "learning_rate"


@dataclass
class ComparedRun:
    """One run's curves and what it is called in the picture and the table."""

    run_dir: Path
    label: str
    history: dict[str, list[float]]


def _read_spec(run_dir: Path) -> dict:
    """The run's saved spec as plain data ({} when the folder has none or it is unreadable)."""
    try:
        data = yaml.safe_load((run_dir / "spec.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _learning_rate(value) -> str:
    if isinstance(value, dict):  # a schedule: its name and where it starts
        start = value.get("initial_learning_rate")
        return f"{value.get('name', 'schedule')}({_number(start)})" if start is not None else str(value.get("name", "schedule"))
    return _number(value)


def _optimizer_defaults(name: str) -> dict:
    """The registered optimizer's default arguments, so a label shows only what a spec changed."""
    from kerascv_suite.registry import OPTIMIZERS, load_components

    load_components()
    if name not in OPTIMIZERS:
        return {}
    parameters = inspect.signature(OPTIMIZERS.get(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def optimizer_summary(optimizer: dict, shown: tuple = ()) -> str:
    """"sgd lr=0.01 momentum=0.9": the name, the learning rate, and each argument that is not its default or is in `shown`."""
    name = str(optimizer.get("name", "?"))
    parts = [name]
    if "learning_rate" in optimizer:
        parts.append(f"lr={_learning_rate(optimizer['learning_rate'])}")
    defaults = _optimizer_defaults(name)
    for key, value in optimizer.items():
        if key in ("name", "learning_rate"):
            continue
        if key in shown or (key in defaults and value != defaults[key]):
            parts.append(f"{key}={_number(value)}")
    return " ".join(parts)


def _labels(specs: list[dict], run_dirs: list[Path]) -> list[str]:
    optimizers = [s.get("optimizer") if isinstance(s.get("optimizer"), dict) else {} for s in specs]
    # an argument that differs between runs of the same optimizer is what tells them apart
    differing = set()
    for a in optimizers:
        for b in optimizers:
            if a.get("name") == b.get("name"):
                differing |= {k for k in set(a) | set(b) if k not in ("name", "learning_rate") and a.get(k) != b.get(k)}
    labels = []
    for spec, optimizer, run_dir in zip(specs, optimizers, run_dirs):
        name = str(spec.get("name") or run_dir.parent.name or run_dir.name)
        labels.append(f"{name} {optimizer_summary(optimizer, tuple(differing))}" if optimizer else name)
    for label in set(labels):
        if labels.count(label) > 1:
            labels = [f"{text} ({run_dir.name})" if text == label else text for text, run_dir in zip(labels, run_dirs)]
    return labels


def load_runs(run_dirs: list[str | Path], labels: list[str] | None = None) -> list[ComparedRun]:
    """Read each run's history.csv and label it (default: spec name + optimizer summary).

    A folder without history.csv, a history with no epochs yet, or a wrong number of labels is
    a one-line `UserError`.
    """
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise UserError("compare: give at least one run folder")
    if labels is not None and len(labels) != len(run_dirs):
        raise UserError(f"--label: {len(labels)} label(s) for {len(run_dirs)} run(s); give one per run or none")
    histories = []
    for run_dir in run_dirs:
        path = run_dir / "history.csv"
        if not path.is_file():
            raise UserError(f"{run_dir}: no history.csv (not a run folder, or a run that has not finished an epoch)")
        try:
            history = read_history(path)
        except (KeyError, ValueError) as error:
            raise UserError(f"{path}: not a Keras CSVLogger history ({error})") from None
        if not history["epoch"]:
            raise UserError(f"{path}: no epoch logged yet")
        histories.append(history)
    labels = labels or _labels([_read_spec(d) for d in run_dirs], run_dirs)
    return [ComparedRun(d, label, history) for d, label, history in zip(run_dirs, labels, histories)]


def shared_metrics(runs: list[ComparedRun]) -> list[str]:
    """The training metrics every run logged: loss first, then the others in the first run's order."""
    first = [k for k in runs[0].history if k not in ("epoch", LEARNING_RATE) and not k.startswith("val_")]
    return sorted((k for k in first if all(k in run.history for run in runs)), key=lambda k: k != "loss")


def plot_comparison(runs: list[ComparedRun], path: str | Path, title: str = "") -> Path:
    """One panel per shared metric (train solid, validation dashed, one colour per run), then the learning rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    metrics = shared_metrics(runs)
    if not metrics:
        raise UserError("compare: the runs have no metric in common to plot")
    panels = metrics + ([LEARNING_RATE] if any(LEARNING_RATE in run.history for run in runs) else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.0), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], panels):
        for index, run in enumerate(runs):
            colour = colours[index % len(colours)]
            epochs = np.asarray(run.history["epoch"]) + 1
            if metric in run.history:
                ax.plot(epochs, run.history[metric], color=colour, marker="o", ms=2.5)
            if f"val_{metric}" in run.history:
                ax.plot(epochs, run.history[f"val_{metric}"], color=colour, linestyle="--", marker="o", ms=2.5)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if metric == LEARNING_RATE:
            ax.set_yscale("log")
            ax.set_title("learning rate (log scale)")
        else:
            ax.set_title(f"{metric} (train solid, val dashed)")
    handles = [Line2D([], [], color=colours[i % len(colours)], label=run.label) for i, run in enumerate(runs)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(runs), 3), fontsize=9, frameon=False)
    rows = (len(runs) + 2) // 3
    fig.suptitle(title or f"{len(runs)} run{'s' if len(runs) > 1 else ''} compared")
    fig.tight_layout(rect=(0, 0.06 * rows + 0.02, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _lower_is_better(metric: str) -> bool:
    return "loss" in metric or "error" in metric


def summary(runs: list[ComparedRun]) -> list[dict]:
    """Per run: epochs, and for each shared validation metric (training ones if none) its final and best value.

    "Best" is the lowest loss (or error) and the highest anything else; `best_epoch` counts from 1.

    Example::

        summary(runs)[0]   # {'label': ..., 'epochs': 40, 'metrics': {'val_loss': {'final': 0.09, 'best': 0.08, 'best_epoch': 31}, ...}}
    """
    metrics = shared_metrics(runs)
    validated = [f"val_{m}" for m in metrics if all(f"val_{m}" in run.history for run in runs)]
    rows = []
    for run in runs:
        row = {"label": run.label, "run_dir": str(run.run_dir), "epochs": len(run.history["epoch"]), "metrics": {}}
        for metric in validated or metrics:
            values = run.history[metric]
            best = (min if _lower_is_better(metric) else max)(range(len(values)), key=values.__getitem__)
            row["metrics"][metric] = {"final": values[-1], "best": values[best], "best_epoch": run.history["epoch"][best] + 1}
        rows.append(row)
    return rows


def format_summary(runs: list[ComparedRun]) -> str:
    """`summary` as a plain-text table: one line per run, final and best (with its epoch) per metric."""
    rows = summary(runs)
    table = [["run", "epochs"] + [f"{m} {kind}" for m in rows[0]["metrics"] for kind in ("final", "best (epoch)")]]
    for row in rows:
        cells = [row["label"], str(row["epochs"])]
        for value in row["metrics"].values():
            cells += [f"{value['final']:.4f}", f"{value['best']:.4f} ({value['best_epoch']})"]
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
        for line in table
    )


def compare_runs(run_dirs: list[str | Path], out_path: str | Path = "compare.png", labels: list[str] | None = None,
                 overwrite: bool = False) -> Path:
    """Overlay the runs' curves in one PNG (`kcv compare`); refuse to replace an existing file unless `overwrite`.

    Example::

        compare_runs(["runs/a/20261123-101500", "runs/b/20261123-103000"], "sgd_vs_adam.png")
    """
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise UserError(f"{out_path} already exists; pass --force to overwrite it or --out another path")
    return plot_comparison(load_runs(run_dirs, labels), out_path)


__all__ = ["ComparedRun", "load_runs", "optimizer_summary", "shared_metrics", "plot_comparison", "summary", "format_summary",
           "compare_runs"]
