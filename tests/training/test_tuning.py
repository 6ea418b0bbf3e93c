"""Hyperparameter search on keras-tuner: outputs, ranking, sampling, strategies, resuming, spec errors."""

import csv
import json
import math
import re

import numpy as np
import pytest

from kerascv_suite.spec import dump_spec, load_spec
from kerascv_suite.spec.errors import SpecError, UserError
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
