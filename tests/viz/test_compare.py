"""Overlaid curves of several runs (`kerascv_suite.viz.compare`) on run folders written by the test.

A run folder here is what `compare` reads: the spec.yaml a real run writes (the resolved spec,
every default filled in) and a history.csv in CSVLogger's format; nothing is trained.
"""

import csv

import pytest

from kerascv_suite.spec import dump_spec, load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.viz.compare import (
    compare_runs,
    format_summary,
    load_runs,
    optimizer_summary,
    summary,
)
from tests.conftest import PIPELINES

MLP = PIPELINES / "classification" / "mlp.yaml"


def fake_run(root, optimizer: str, val_accuracy: list[float], learning_rate: float | None = None, name: str = "20261123-101500"):
    """A run folder of the mlp pipeline with `optimizer` (a YAML mapping) and a history whose val_accuracy is given."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "spec.yaml").write_text(dump_spec(load_spec(MLP, overrides=[f"optimizer={optimizer}"])))
    columns = ["epoch", "accuracy", "loss"] + (["learning_rate"] if learning_rate else []) + ["val_accuracy", "val_loss"]
    with open(run_dir / "history.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for epoch, accuracy in enumerate(val_accuracy):
            row = {"epoch": epoch, "accuracy": accuracy + 0.02, "loss": 2.0 - accuracy, "learning_rate": learning_rate,
                   "val_accuracy": accuracy, "val_loss": 2.1 - accuracy}
            writer.writerow([row[c] for c in columns])
    return run_dir


@pytest.fixture
def three_runs(tmp_path):
    return [
        fake_run(tmp_path / "sgd", "{name: sgd, learning_rate: 0.01}", [0.5, 0.7, 0.8], learning_rate=0.01),
        fake_run(tmp_path / "momentum", "{name: sgd, learning_rate: 0.01, momentum: 0.9}", [0.6, 0.9, 0.85], learning_rate=0.01),
        fake_run(tmp_path / "adam", "{name: adam}", [0.8, 0.95, 0.96, 0.94]),
    ]


def test_labels_name_the_spec_and_what_the_optimizer_changed(three_runs):
    labels = [run.label for run in load_runs(three_runs)]
    assert labels == ["mlp_digits sgd lr=0.01 momentum=0", "mlp_digits sgd lr=0.01 momentum=0.9", "mlp_digits adam lr=0.001"]


def test_optimizer_summary_shows_non_default_arguments_and_schedules():
    assert optimizer_summary({"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0}) == \
        "sgd lr=0.1 momentum=0.9 nesterov=True"
    schedule = {"name": "cosine_decay", "initial_learning_rate": 0.05, "decay_steps": 100}
    assert optimizer_summary({"name": "adam", "learning_rate": schedule, "beta_1": 0.9}) == "adam lr=cosine_decay(0.05)"


def test_equal_labels_get_the_run_folder_name(tmp_path):
    runs = [fake_run(tmp_path, "{name: adam}", [0.5], name=stamp) for stamp in ("20261123-101500", "20261123-101600")]
    assert [run.label for run in load_runs(runs)] == ["mlp_digits adam lr=0.001 (20261123-101500)",
                                                        "mlp_digits adam lr=0.001 (20261123-101600)"]


def test_summary_has_the_final_and_best_validation_metrics(three_runs):
    rows = summary(load_runs(three_runs, labels=["sgd", "momentum", "adam"]))
    assert [r["epochs"] for r in rows] == [3, 3, 4]
    momentum = rows[1]["metrics"]
    assert momentum["val_accuracy"] == {"final": 0.85, "best": 0.9, "best_epoch": 2}
    assert momentum["val_loss"]["final"] == pytest.approx(2.1 - 0.85) and momentum["val_loss"]["best_epoch"] == 2
    assert rows[2]["metrics"]["val_accuracy"] == {"final": 0.94, "best": 0.96, "best_epoch": 3}
    table = format_summary(load_runs(three_runs, labels=["sgd", "momentum", "adam"])).splitlines()
    assert table[0].split()[:2] == ["run", "epochs"] and "val_accuracy best (epoch)" in table[0]
    assert table[0].split()[2:4] == ["val_loss", "final"]  # loss first, whatever CSVLogger's column order
    assert table[2].split() == ["momentum", "3", "1.2500", "1.2000", "(2)", "0.8500", "0.9000", "(2)"]


def test_compare_writes_the_png_and_never_overwrites_it_unasked(three_runs, tmp_path):
    out = compare_runs(three_runs, tmp_path / "compare.png")
    assert out.stat().st_size > 10_000
    with pytest.raises(UserError, match="already exists"):
        compare_runs(three_runs, out)
    assert compare_runs(three_runs[:1], out, overwrite=True) == out


@pytest.mark.parametrize("problem, match", [("no history", "no history.csv"), ("labels", "1 label"), ("empty", "no epoch")])
def test_unusable_runs_are_one_line_errors(three_runs, tmp_path, problem, match):
    labels = None
    if problem == "no history":
        three_runs.append(tmp_path / "elsewhere")
    elif problem == "labels":
        labels = ["only one"]
    else:
        (three_runs[0] / "history.csv").write_text("epoch,loss\n")
    with pytest.raises(UserError, match=match) as error:
        load_runs(three_runs, labels)
    assert len(error.value.problems) == 1 and "\n" not in str(error.value)
