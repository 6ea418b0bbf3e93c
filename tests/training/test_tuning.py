"""Hyperparameter search on keras-tuner: outputs, ranking, sampling, strategies, resuming, spec errors, k-fold, border warnings."""

import csv
import json
import math
import re

import numpy as np
import pytest

from kerascv_suite.data.pipeline import DataPipeline, fold_indices
from kerascv_suite.spec import dump_spec, load_spec
from kerascv_suite.spec.errors import SpecError, UserError
from kerascv_suite.spec.schema import SearchSpec
from kerascv_suite.training import tuning
from kerascv_suite.training.tuning import overrides_of, search_space, tune
from tests.conftest import PIPELINES

TINY = """\
name: tiny
data: {{source: digits, batch_size: 64, preprocess: [rescale]}}
model: {{name: mlp, hidden: [16]}}
train: {{{train}}}
search:
{search}
"""

LOG_LR = "    optimizer.learning_rate: {type: float, min: 1.0e-3, max: 1.0e-1, sampling: log}"


def tiny_spec(tmp_path, search: str, train: str = "epochs: 1", name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(TINY.format(search=search, train=train))
    return load_spec(path)


def read_rows(out_dir):
    with open(out_dir / "trials.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_random_search_writes_a_ranked_table_a_plot_and_the_best_spec(tmp_path):
    spec = tiny_spec(tmp_path, f"  strategy: random\n  objective: val_loss\n  trials: 5\n  parameters:\n{LOG_LR}")
    result = tune(spec, runs_dir=tmp_path / "runs", smoke=True)

    assert result.out_dir.parent == tmp_path / "runs" / "tiny" and result.out_dir.name.startswith("tune-")
    for name in ("trials.md", "trials.csv", "objective.png", "best_spec.yaml"):
        assert (result.out_dir / name).stat().st_size > 0, name
    rows = read_rows(result.out_dir)
    assert len(rows) == 2  # smoke mode: at most two trials
    assert list(rows[0]) == ["rank", "trial", "optimizer.learning_rate", "val_loss", "epochs", "seconds", "status"]
    losses = [float(r["val_loss"]) for r in rows]
    assert losses == sorted(losses) and [r["rank"] for r in rows] == ["1", "2"]  # a loss: lowest first
    assert {r["epochs"] for r in rows} == {"1"} and all(r["status"] == "completed" for r in rows)
    assert result.minimize and result.rows[0]["val_loss"] == pytest.approx(losses[0])
    md = (result.out_dir / "trials.md").read_text()
    assert "| rank | trial | optimizer.learning_rate | val_loss |" in md and "lower is better" in md

    best = load_spec(result.out_dir / "best_spec.yaml")
    assert best.search is None and "\nsearch:" not in (result.out_dir / "best_spec.yaml").read_text()
    best_lr = float(rows[0]["optimizer.learning_rate"])
    assert best.optimizer.learning_rate == pytest.approx(best_lr) == result.best_overrides["optimizer.learning_rate"]
    assert best.model == spec.model and best.data == spec.data  # only the searched value changed
    for row in rows:
        assert 1e-3 <= float(row["optimizer.learning_rate"]) <= 1e-1
    # without folds: one training per trial, recorded as it always was
    for path in (result.out_dir / "keras_tuner").glob("trial_*/kcv_trial.json"):
        assert set(json.loads(path.read_text())) == {"overrides", "epochs", "seconds", "history"}
    assert json.loads((result.out_dir / "search.json").read_text())["border_warnings"] == result.border_warnings
    assert "folds" not in dump_spec(spec) and "±" not in md


def test_sampled_values_respect_ranges_steps_and_log_sampling(tmp_path):
    spec = tiny_spec(tmp_path, "\n".join([
        "  parameters:",
        "    optimizer.learning_rate: {type: float, min: 1.0e-4, max: 1.0, sampling: log}",
        "    model.dropout: {type: float, min: 0.0, max: 0.5, step: 0.1}",
        "    data.batch_size: {type: int, min: 32, max: 128, step: 32}",
        "    model.hidden: {type: choice, values: [[8], [16, 8]]}",
    ]))
    space = search_space(spec.search)
    samples = [overrides_of(spec.search, {hp.name: hp.random_sample(seed) for hp in space.space}) for seed in range(400)]
    lrs = np.array([s["optimizer.learning_rate"] for s in samples])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1.0
    # log-uniform: each decade is equally likely (uniform sampling would put ~90% in the top decade)
    decades = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1, 0])[0] / len(lrs)
    assert np.all(np.abs(decades - 0.25) < 0.08), decades
    assert {s["model.dropout"] for s in samples} == {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}  # on the step grid, tidied
    assert {s["data.batch_size"] for s in samples} == {32, 64, 96, 128}
    assert all(type(s["data.batch_size"]) is int for s in samples)
    assert {json.dumps(s["model.hidden"]) for s in samples} == {"[8]", "[16, 8]"}  # lists come back as lists


def test_grid_search_runs_every_combination_exactly_once(tmp_path):
    spec = tiny_spec(tmp_path, "\n".join([
        "  strategy: grid",
        "  trials: 10",
        "  parameters:",
        "    model.hidden: {type: choice, values: [[8], [16]]}",
        "    optimizer.learning_rate: {type: choice, values: [0.01]}",
    ]), train="epochs: 1, steps_per_epoch: 2")
    result = tune(spec, runs_dir=tmp_path / "runs")  # not smoke: the grid itself must stop after 2 of 10
    combos = sorted((json.dumps(r["model.hidden"]), r["optimizer.learning_rate"]) for r in result.rows)
    assert combos == [("[16]", 0.01), ("[8]", 0.01)]
    assert result.objective == "val_loss" and result.minimize


@pytest.mark.parametrize("strategy", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_run_in_smoke_mode(tmp_path, strategy):
    spec = tiny_spec(tmp_path, "\n".join([
        f"  strategy: {strategy}",
        "  objective: val_accuracy",
        "  parameters:",
        "    optimizer.learning_rate: {type: float, min: 1.0e-3, max: 1.0e-1, sampling: log, step: 10}",
        "    model.dropout: {type: choice, values: [0.0, 0.2]}",
    ]), train="epochs: 30")
    result = tune(spec, runs_dir=tmp_path / "runs", smoke=True)
    assert len(result.rows) == 2 and all(r["status"] == "completed" for r in result.rows)
    assert not result.minimize and result.rows[0]["val_accuracy"] >= result.rows[1]["val_accuracy"]
    assert {r["optimizer.learning_rate"] for r in result.rows} <= {0.001, 0.01, 0.1}
    assert {r["epochs"] for r in result.rows} == ({2} if strategy == "hyperband" else {1})


def test_hyperband_later_rounds_continue_from_the_previous_rounds_weights(tmp_path):
    # max_epochs 2, factor 2: a bracket of two 1-epoch models whose best trains on to epoch 2;
    # the next bracket would need two new values, and two are all there are, so the search ends.
    spec = tiny_spec(tmp_path, "\n".join([
        "  strategy: hyperband",
        "  max_epochs: 2",
        "  factor: 2",
        "  parameters:",
        "    optimizer.learning_rate: {type: choice, values: [0.01, 0.005]}",
    ]), train="steps_per_epoch: 4")
    result = tune(spec, runs_dir=tmp_path / "runs")
    assert sorted(r["epochs"] for r in result.rows) == [1, 1, 2]
    project = result.out_dir / "keras_tuner"
    records = {p.parent.name: json.loads(p.read_text()) for p in project.glob("trial_*/kcv_trial.json")}
    continued = [
        json.loads((project / name / "trial.json").read_text())["hyperparameters"]["values"]
        for name in records if "tuner/trial_id" in json.loads((project / name / "trial.json").read_text())["hyperparameters"]["values"]
    ]
    assert len(continued) == 1 and continued[0]["tuner/initial_epoch"] == 1
    assert (project / f"trial_{continued[0]['tuner/trial_id']}" / "model.weights.h5").is_file()
    first = records[f"trial_{continued[0]['tuner/trial_id']}"]
    again = next(r for r in records.values() if r["epochs"] == 2 and r["overrides"] == first["overrides"] and len(r["history"]["loss"]) == 1)
    assert again["history"]["loss"][0] < first["history"]["loss"][0]  # it went on from the trained weights


def test_a_killed_search_resumes_and_a_finished_one_is_never_overwritten(tmp_path, monkeypatch):
    spec = tiny_spec(tmp_path, f"  trials: 2\n  parameters:\n{LOG_LR}")
    compiled = []
    real = tuning.compile_model

    def killed_at_the_second_trial(*args, **kwargs):
        compiled.append(1)
        if len(compiled) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning, "compile_model", killed_at_the_second_trial)
    with pytest.raises(KeyboardInterrupt):
        tune(spec, runs_dir=tmp_path / "runs", smoke=True)
    (started,) = (tmp_path / "runs" / "tiny").iterdir()
    assert not (started / "best_spec.yaml").exists()

    result = tune(spec, runs_dir=tmp_path / "runs", smoke=True)
    assert result.out_dir == started and len(compiled) == 3  # only the interrupted trial ran again
    assert sorted(r["trial"] for r in result.rows) == ["0", "1"]

    again = tune(spec, runs_dir=tmp_path / "runs", smoke=True)
    assert again.out_dir != started and len(list((tmp_path / "runs" / "tiny").iterdir())) == 2
    with pytest.raises(UserError, match="finished; results are never overwritten"):
        tune(spec, out_dir=started, smoke=True)


@pytest.mark.parametrize("parameters, strategy, expected", [
    ("    model.hiden: {type: choice, values: [[8]]}", "random",
     r"search\.parameters\.model\.hiden: .*no key 'hiden' in model \(did you mean 'hidden'\?\); allowed: .*hidden"),
    ("    optimizer.learning_rate: {type: float, min: 1.0e-3, max: 1.0e-1}", "grid",
     r"search\.strategy: .*grid search needs discrete parameters, and optimizer\.learning_rate is a float range without a step"),
    ("    model.dropout: {type: float, min: 0.5, max: 0.1}", "random",
     r"search\.parameters\.model\.dropout: .*min \(0\.5\) must be below max \(0\.1\)"),
    ("    optimizer.learning_rate: {type: float, min: 0.0, max: 1.0e-1, sampling: log}", "random",
     r"search\.parameters\.optimizer\.learning_rate: .*log sampling needs min above 0"),
    ("    model.hidden: {type: choice, values: []}", "random",
     r"search\.parameters\.model\.hidden: .*a choice needs at least one value"),
])
def test_bad_search_sections_are_one_clear_line(tmp_path, parameters, strategy, expected):
    with pytest.raises(SpecError) as error:
        tiny_spec(tmp_path, f"  strategy: {strategy}\n  parameters:\n{parameters}")
    assert len(error.value.problems) == 1 and "\n" not in error.value.problems[0]
    assert error.value.problems[0].startswith(f"{tmp_path / 'spec.yaml'}:")  # file:line first
    assert re.search(expected, error.value.problems[0]), error.value.problems[0]


def test_problems_found_while_tuning_are_one_clear_line(tmp_path):
    with pytest.raises(UserError, match=r"^\S+: no search section to tune"):
        tune(load_spec(PIPELINES / "classification" / "mlp.yaml"), runs_dir=tmp_path, smoke=True)
    spec = tiny_spec(tmp_path, f"  objective: val_acc\n  parameters:\n{LOG_LR}")
    with pytest.raises(SpecError) as error:
        tune(spec, runs_dir=tmp_path / "runs", smoke=True)
    assert error.value.problems == [
        "search.objective: 'val_acc' is not logged by training (did you mean 'val_accuracy'?); "
        "logged: accuracy, loss, val_accuracy, val_loss"
    ]
    spec = tiny_spec(tmp_path, "  parameters:\n    model.hidden: {type: choice, values: [[0]]}", name="zero.yaml")
    with pytest.raises(SpecError, match=r"search trial 0: model\.hidden=\[0\]"):
        tune(spec, runs_dir=tmp_path / "runs", smoke=True)


def test_specs_without_search_dump_as_before():
    spec = load_spec(PIPELINES / "classification" / "mlp.yaml")
    assert spec.search is None and "search" not in dump_spec(spec)


def test_the_tune_mlp_pipeline_runs_in_smoke_mode(tmp_path):
    spec = load_spec(PIPELINES / "training" / "tune_mlp.yaml")
    assert spec.search.strategy == "random" and spec.search.objective == "val_accuracy" and spec.search.trials == 10
    assert spec.search.parameters["optimizer.learning_rate"].sampling == "log"
    result = tune(spec, runs_dir=tmp_path, smoke=True)
    assert len(result.rows) == 2 and all(math.isfinite(r["val_accuracy"]) for r in result.rows)
    best = load_spec(result.out_dir / "best_spec.yaml")
    assert best.model.hidden == result.best_overrides["model.hidden"]
    assert best.model.dropout == result.best_overrides["model.dropout"]


# ---- k-fold cross-validation ------------------------------------------------------------------

def test_k_fold_trials_train_on_every_fold_and_score_the_mean_of_the_folds(tmp_path, monkeypatch, capsys):
    built, read = [], []

    class Spy(tuning.DataPipeline):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append((kwargs.get("fold"), self.indices["train"], self.indices["val"]))

        def dataset(self, split, *args, **kwargs):
            read.append(split)
            return super().dataset(split, *args, **kwargs)

    monkeypatch.setattr(tuning, "DataPipeline", Spy)
    # two values, so whichever wins lies at a border of the range
    spec = tiny_spec(tmp_path, "\n".join([
        "  strategy: grid",
        "  objective: val_accuracy",
        "  folds: 3",
        "  parameters:",
        "    optimizer.learning_rate: {type: float, min: 0.005, max: 0.01, step: 0.005}",
    ]), train="epochs: 2, steps_per_epoch: 2")
    result = tune(spec, runs_dir=tmp_path / "runs")

    # the folds: built once for the search, so every trial validates on the same three, scikit-learn's
    whole = DataPipeline(spec)
    expected = fold_indices(whole.indices["train"], whole.source.labels, 3, spec.data.seed)
    assert [fold for fold, _, _ in built] == [(0, 3), (1, 3), (2, 3)]
    for (_, train, val), (rest, held_out) in zip(built, expected):
        np.testing.assert_array_equal(train, rest)
        np.testing.assert_array_equal(val, held_out)
    assert "test" not in read and read.count("val") == 2 * 3  # two trials × three folds; the test split untouched

    rows = read_rows(result.out_dir)
    assert list(rows[0]) == ["rank", "trial", "optimizer.learning_rate", "val_accuracy", "val_accuracy_std",
                             "val_accuracy_folds", "epochs", "seconds", "status"]
    project = result.out_dir / "keras_tuner"
    for row in result.rows:
        record = json.loads((project / f"trial_{row['trial']}" / "kcv_trial.json").read_text())
        per_fold = [max(fit["history"]["val_accuracy"]) for fit in record["folds"]]  # each fold's best epoch
        assert len(per_fold) == 3 and len({tuple(fit["history"]["loss"]) for fit in record["folds"]}) == 3
        assert row["val_accuracy"] == pytest.approx(np.mean(per_fold), abs=1e-12)
        assert row["val_accuracy_std"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-12)
        assert row["val_accuracy_folds"] == pytest.approx(per_fold)
        assert record["epochs"] == 2 and all(len(fit["history"]["loss"]) == 2 for fit in record["folds"])
    means = [float(r["val_accuracy"]) for r in rows]
    assert means == sorted(means, reverse=True)
    md = (result.out_dir / "trials.md").read_text()
    assert "mean ± std over 3 folds of val_accuracy" in md
    assert f"| {result.rows[0]['val_accuracy']:.6g} ± {result.rows[0]['val_accuracy_std']:.2g} |" in md

    # the best of two values is at a border: printed, under the table, in search.json and the result
    best = result.best_overrides["optimizer.learning_rate"]
    side = "top" if best == 0.01 else "bottom"
    warning = f"best optimizer.learning_rate = {best:g} lies at the {side} of its range [0.005, 0.01]: widen the range"
    assert result.border_warnings == [warning]
    assert f"warning: {warning}\n" in capsys.readouterr().out
    assert md.endswith(f"- {warning}\n")
    assert json.loads((result.out_dir / "search.json").read_text())["border_warnings"] == [warning]
    assert "folds: 3" in (result.out_dir / "search_spec.yaml").read_text()
    assert "folds" not in (result.out_dir / "best_spec.yaml").read_text()


def test_a_search_killed_mid_folds_reruns_the_interrupted_trial_from_its_first_fold(tmp_path, monkeypatch):
    spec = tiny_spec(tmp_path, f"  trials: 2\n  folds: 2\n  parameters:\n{LOG_LR}")
    compiled = []
    real = tuning.compile_model

    def killed_in_the_second_fold_of_the_second_trial(*args, **kwargs):
        compiled.append(1)
        if len(compiled) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning, "compile_model", killed_in_the_second_fold_of_the_second_trial)
    with pytest.raises(KeyboardInterrupt):
        tune(spec, runs_dir=tmp_path / "runs", smoke=True)
    (started,) = (tmp_path / "runs" / "tiny").iterdir()
    assert len(list(started.glob("keras_tuner/trial_*/kcv_trial.json"))) == 1  # the half-done trial left no record

    result = tune(spec, runs_dir=tmp_path / "runs", smoke=True)
    assert result.out_dir == started and len(compiled) == 4 + 2  # the interrupted trial's two folds, again
    assert sorted(r["trial"] for r in result.rows) == ["0", "1"] and all(r["status"] == "completed" for r in result.rows)
    for row in result.rows:
        record = json.loads((started / "keras_tuner" / f"trial_{row['trial']}" / "kcv_trial.json").read_text())
        assert len(record["folds"]) == 2 and row["val_loss"] == pytest.approx(np.mean([f["best"] for f in record["folds"]]))


def test_hyperband_with_folds_continues_each_folds_own_weights(tmp_path):
    # as in the test above without folds: one 2-epoch continuation of the better of two 1-epoch trials
    spec = tiny_spec(tmp_path, "\n".join([
        "  strategy: hyperband",
        "  max_epochs: 2",
        "  factor: 2",
        "  folds: 2",
        "  parameters:",
        "    optimizer.learning_rate: {type: choice, values: [0.01, 0.005]}",
    ]), train="steps_per_epoch: 4")
    result = tune(spec, runs_dir=tmp_path / "runs")
    project = result.out_dir / "keras_tuner"
    values = {p.parent.name: json.loads(p.read_text())["hyperparameters"]["values"] for p in project.glob("trial_*/trial.json")}
    (continued,) = [name for name, v in values.items() if "tuner/trial_id" in v]
    first = f"trial_{values[continued]['tuner/trial_id']}"
    assert sorted(p.name for p in (project / first).glob("*.weights.h5")) == ["fold-0.model.weights.h5", "fold-1.model.weights.h5"]
    before = json.loads((project / first / "kcv_trial.json").read_text())["folds"]
    after = json.loads((project / continued / "kcv_trial.json").read_text())["folds"]
    for fold_before, fold_after in zip(before, after, strict=True):
        assert fold_before["epochs"] == 1 and fold_after["epochs"] == 2 and len(fold_after["history"]["loss"]) == 1
        assert fold_after["history"]["loss"][0] < fold_before["history"]["loss"][0]  # each fold went on from its own weights


def test_folds_must_be_a_whole_number_above_one(tmp_path):
    with pytest.raises(SpecError) as error:
        tiny_spec(tmp_path, f"  folds: 1\n  parameters:\n{LOG_LR}")
    assert len(error.value.problems) == 1
    assert error.value.problems[0].endswith("search.folds: 1 is not allowed: Input should be greater than or equal to 2")


def test_the_tune_mlp_kfold_pipeline_runs_in_smoke_mode(tmp_path):
    spec = load_spec(PIPELINES / "training" / "tune_mlp_kfold.yaml")
    assert spec.search.folds == 5 and spec.search.objective == "val_accuracy" and spec.data.train_examples_per_class == 30
    result = tune(spec, runs_dir=tmp_path, smoke=True)
    assert len(result.rows) == 2
    for row in result.rows:
        assert len(row["val_accuracy_folds"]) == 5 and row["val_accuracy"] == pytest.approx(np.mean(row["val_accuracy_folds"]))
        assert math.isfinite(row["val_accuracy_std"])
    best = load_spec(result.out_dir / "best_spec.yaml")
    assert best.search is None and best.optimizer.learning_rate == result.best_overrides["optimizer.learning_rate"]


# ---- the best value at the border of its range ---------------------------------------------------

BORDER_SEARCH = SearchSpec(parameters={
    "optimizer.learning_rate": {"type": "float", "min": 1e-4, "max": 0.1, "sampling": "log"},
    "model.dropout": {"type": "float", "min": 0.0, "max": 0.5},
    "model.hidden.0": {"type": "int", "min": 16, "max": 256, "step": 16},
    "train.epochs": {"type": "choice", "values": [10, 20, 40]},
    "data.batch_size": {"type": "choice", "values": [32, 64]},  # two choices: no inside, never flagged
    "model.hidden": {"type": "choice", "values": [[8], [16], [32]]},  # not numbers
})
INSIDE = {"optimizer.learning_rate": 0.003, "model.dropout": 0.25, "model.hidden.0": 128, "train.epochs": 20,
          "data.batch_size": 64, "model.hidden": [32]}


@pytest.mark.parametrize("best, expected", [
    ({}, []),
    ({"optimizer.learning_rate": 0.098}, ["best optimizer.learning_rate = 0.098 lies at the top of its range [0.0001, 0.1]: widen the range"]),
    ({"optimizer.learning_rate": 0.06}, ["best optimizer.learning_rate = 0.06 lies at the top of its range [0.0001, 0.1]: widen the range"]),
    ({"optimizer.learning_rate": 1.5e-4}, ["best optimizer.learning_rate = 0.00015 lies at the bottom of its range [0.0001, 0.1]: widen the range"]),
    ({"optimizer.learning_rate": 0.002}, []),  # the bottom 2% of the linear range, the middle of the log one
    ({"model.dropout": 0.48}, ["best model.dropout = 0.48 lies at the top of its range [0, 0.5]: widen the range"]),
    ({"model.dropout": 0.04}, ["best model.dropout = 0.04 lies at the bottom of its range [0, 0.5]: widen the range"]),
    ({"model.dropout": 0.06}, []),
    ({"model.dropout": 0.44}, []),
    ({"model.hidden.0": 16, "train.epochs": 40}, [
        "best model.hidden.0 = 16 lies at the bottom of its range [16, 256]: widen the range",
        "best train.epochs = 40 lies at the top of its choices [10, 20, 40]: widen the range",
    ]),
    ({"train.epochs": 10}, ["best train.epochs = 10 lies at the bottom of its choices [10, 20, 40]: widen the range"]),
    ({"data.batch_size": 32, "model.hidden": [8]}, []),
])
def test_border_warnings_flag_a_best_value_in_the_outer_tenth_of_its_range(best, expected):
    at_the_border = {**INSIDE, "optimizer.learning_rate": 0.1, "model.dropout": 0.5, "train.epochs": 40}
    rows = [  # ranked as `ranked_rows` ranks them: the finished trials best first, then the failed ones
        {"status": "completed", **INSIDE, **best},
        {"status": "completed", **at_the_border},  # only the best trial counts
        {"status": "failed", **at_the_border},
    ]
    assert tuning.border_warnings(rows, BORDER_SEARCH) == expected
    assert tuning.border_warnings(rows[2:], BORDER_SEARCH) == []  # no finished trial, no warning
