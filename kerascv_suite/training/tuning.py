"""Hyperparameter search (`kcv tune SPEC`): keras-tuner picks the values, the trainer's parts train them.

A spec's `search:` section names dotted spec paths (as ``--set`` writes them) and the values
each may take: a float or int range (``sampling: log`` for scales such as learning rates and
weight decay) or a list of choices. keras-tuner's oracles choose each trial's values — random,
grid, Bayesian optimisation (a Gaussian process over the values tried so far) or Hyperband
(many models trained briefly, the best 1/factor of them trained factor× longer) — and `SpecTuner`,
a `keras_tuner.Tuner`, turns them into a spec: the resolved spec with each value set at its
path, validated again (so an impossible combination is a spec error naming the trial), then
built and fitted like `kcv run` would. A trial scores the best epoch's value of the objective.

For small data, ``folds: k`` makes each trial a k-fold cross-validation (CS231n's way of
choosing hyperparameters when one validation split is too small to trust): the training split
is cut into k seeded, stratified folds (`fold_indices`, the same for every trial); the trial
trains k models from scratch, each validating on one fold and training on the other k − 1,
and scores the mean of the k folds' objectives, the standard deviation reported beside it.
The val split is set aside and the test split is never touched.

When the best trial's value of a numeric parameter lies in the outer 10% of its range (in
log space for ``sampling: log``), or at an end of a numeric choice, the optimum may lie
outside what was searched: the search prints a warning such as ``best
optimizer.learning_rate = 0.098 lies at the top of its range [0.0001, 0.1]: widen the
range`` and records it (`border_warnings`).

Everything goes into one folder, `runs/<name>/tune-<timestamp>/`:

- ``trials.md`` and ``trials.csv``: the trials ranked best first (values, objective, epochs,
  seconds; with folds the objective is the folds' mean, with its standard deviation and, in the
  CSV, each fold's value), then any border warnings;
- ``objective.png``: the objective against each searched value, the best trial starred (with
  folds, ± one standard deviation as error bars);
- ``search.json``: what identifies the search (to resume it) and, once it has finished, its
  ``border_warnings``;
- ``best_spec.yaml``: the spec with the best trial's values and no `search` section, ready for
  ``kcv run best_spec.yaml``; written last, so its presence marks a finished search;
- ``keras_tuner/``: keras-tuner's own project (oracle state, one folder per trial with our
  ``kcv_trial.json`` record of the trial's values, epochs, seconds and history — with folds,
  each fold's history and best value, and their mean and standard deviation).

A killed search resumes: running the same spec again (same resolved spec, same smoke setting)
reopens the newest unfinished search folder, keras-tuner reloads the finished trials from its
oracle state and reruns only the trial that was interrupted — with folds, that trial's every
fold again, from scratch (its record is written only once all its folds have trained, so a
half-done trial leaves nothing behind to mix in). A finished search is never written over; the
next search gets a new folder.

Example::

    spec = load_spec("pipelines/training/tune_mlp.yaml")
    result = tune(spec, runs_dir="runs")
    result.rows[0]                    # {'rank': 1, 'trial': '07', 'optimizer.learning_rate': 0.0031, ...}
    result.best_overrides             # {'optimizer.learning_rate': 0.0031, 'model.dropout': 0.1, ...}
    result.border_warnings            # best values at the edge of their range, e.g. [] here
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_tuner
import matplotlib

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.registry import did_you_mean
from kerascv_suite.spec import (
    build_component,
    dump_spec,
    resolved,
    spec_hash,
    validate_spec,
)
from kerascv_suite.spec.errors import SpecError, UserError
from kerascv_suite.core import compat, runs
from kerascv_suite.training.distribution import make_strategy
from kerascv_suite.training.trainer import compile_model

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SMOKE_TRIALS = 2  # smoke mode: at most this many trials of one epoch (Hyperband: max_epochs 2, one bracket)
BORDER = 0.1  # a best value in this outer fraction of its range is reported: the optimum may lie beyond it
FINISHED_MARKER = "best_spec.yaml"
TRIAL_RECORD = "kcv_trial.json"
WEIGHTS = "model.weights.h5"


@dataclass
class TuneResult:
    """What a search found: its folder, the trials ranked best first, the best trial's values, and its border warnings."""

    out_dir: Path
    rows: list[dict]
    best_overrides: dict
    objective: str
    minimize: bool
    border_warnings: list[str]


class _UserProblem(keras_tuner.errors.FatalError):
    """Carries a `UserError` through keras-tuner, which records other errors as failed trials."""

    def __init__(self, error: UserError):
        super().__init__(str(error))
        self.error = error


# ---- values: spec parameters ↔ keras-tuner hyperparameters ----------------------------------

def _label(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _choice_codes(values: list) -> list:
    """keras-tuner's Choice holds one type of int, float, str or bool: other values go as JSON text."""
    kinds = {type(v) for v in values}
    if kinds <= {int, float}:
        return [float(v) for v in values] if float in kinds else list(values)
    if kinds in ({str}, {bool}):
        return list(values)
    return [_label(v) for v in values]


def search_space(search) -> keras_tuner.HyperParameters:
    """The keras-tuner hyperparameters of a `search:` section, named by their spec paths."""
    hp = keras_tuner.HyperParameters()
    for path, param in search.parameters.items():
        if param.type == "float":
            top = float(param.max)
            if param.step is not None and param.sampling == "linear":
                # keras-tuner counts the values as int((max - min) // step + 1), and 0.5 // 0.1 is 4.0
                top += param.step * 1e-6
            hp.Float(path, float(param.min), top, step=param.step, sampling=param.sampling)
        elif param.type == "int":
            step = int(param.step) if param.step is not None else None
            hp.Int(path, int(param.min), int(param.max), step=step, sampling=param.sampling)
        else:
            hp.Choice(path, _choice_codes(param.values))
    return hp


def _spec_value(param, code):
    """The spec value of a keras-tuner value (a Choice's code back to its value, floats tidied)."""
    if param.type == "choice":
        return param.values[_choice_codes(param.values).index(code)]
    if param.type == "int":
        return int(code)
    return float(f"{code:.12g}")  # 0.1 + 2 × 0.1 is 0.30000000000000004 on a grid


def overrides_of(search, values: dict) -> dict:
    """Spec path → value for one trial's keras-tuner values (keras-tuner's own `tuner/...` keys dropped)."""
    return {path: _spec_value(param, values[path]) for path, param in search.parameters.items() if path in values}


def trial_spec(spec, overrides: dict, label: str = "search"):
    """The spec with `overrides` set at their dotted paths, `search` removed, validated again.

    A problem is a `SpecError` whose lines name `label` and the value, e.g.
    ``search trial 03: model.hidden=[0]: model.hidden[0]: 0 is not allowed: ...``.
    """
    data = resolved(spec)
    data.pop("search", None)
    origins = dict(spec.__dict__.get("_origins", {}))
    for path, value in overrides.items():
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = data
        try:
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]]  # the key must exist: a search sets values, it adds no keys
            node[parts[-1]] = value
        except (KeyError, IndexError, TypeError):
            raise SpecError(f"{label}: {path}: not a key of this trial's spec (an earlier parameter changed its section)") from None
        where = f"{label}: {path}={json.dumps(value)}"
        for key in [k for k in origins if k[: len(parts)] == tuple(parts)]:
            del origins[key]
        origins[tuple(parts)] = where
    return validate_spec(data, origins, allow_imports=True, path=spec.__dict__.get("_path"))


# ---- the tuner -------------------------------------------------------------------------------

class SpecTuner(keras_tuner.Tuner):
    """A keras-tuner `Tuner` whose trials are specs: the trial's values set at their paths, then fitted.

    `run_trial` validates the trial's spec, builds its data (`DataPipeline`, reused while the
    `data` section stays the same) and model (`compile_model`), seeds with `train.seed`, fits,
    and returns the best epoch's objective. No hypermodel: the spec is the model-building function.
    With ``search.folds`` it does so once per fold, on that fold's pipeline (each seeded alike,
    so folds differ only in their data), and returns the mean of the folds' best-epoch objectives.

    Hyperband's later rounds warm-start, as keras-tuner's own `Hyperband` tuner does: they load
    what the same values reached in the previous round (``model.weights.h5`` in that trial's
    folder) and train on from epoch ``tuner/initial_epoch`` to ``tuner/epochs``, not from
    scratch. Unlike keras-tuner's, the optimizer's state (moments, step count, so schedules too)
    continues as well: the optimizer is built before the weights are loaded (with folds, each
    fold's model continues its own weights).
    """

    def __init__(self, spec, smoke: bool = False, **kwargs):
        self.spec = spec
        self.smoke = smoke
        self._pipeline_key, self._pipelines = None, {}
        super().__init__(**kwargs)

    def _data(self, spec, fold: tuple[int, int] | None) -> DataPipeline:
        """The pipeline of `spec`'s data (of one fold of it, with folds); kept while the `data` section stays the same."""
        key = _label(resolved(spec)["data"])
        if key != self._pipeline_key:
            self._pipeline_key, self._pipelines = key, {}
        if fold not in self._pipelines:
            self._pipelines[fold] = DataPipeline(spec, smoke=self.smoke, fold=fold)
        return self._pipelines[fold]

    def run_trial(self, trial, *args, **kwargs):
        # Each trial's traced train step would otherwise outlive it in TensorFlow's gradient
        # registry: a long search would hold every trial's graphs (see core/compat.py).
        with compat.forgetting_custom_gradients():
            return self._trial(trial)

    def _trial(self, trial):
        """One trial: train the trial's spec (once per fold, with folds) and return its objective."""
        search = self.spec.search
        values = trial.hyperparameters.values
        overrides = overrides_of(search, values)
        folds = [(index, search.folds) for index in range(search.folds)] if search.folds else [None]
        try:
            spec = trial_spec(self.spec, overrides, f"search trial {trial.trial_id}")
            pipelines = [self._data(spec, fold) for fold in folds]  # every fold's data problem before any training
        except UserError as error:
            raise _UserProblem(error) from None
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        name = search.objective
        fits = []
        for fold, pipeline in zip(folds, pipelines):
            history, initial_epoch, seconds = self._fit(spec, values, pipeline, trial_dir, fold)
            if name not in history:
                raise _UserProblem(SpecError(
                    f"search.objective: '{name}' is not logged by training{did_you_mean(name, history)}; logged: {', '.join(history)}"
                ))
            scores = [float(v) for v in history[name] if math.isfinite(float(v))]
            if not scores:
                raise keras_tuner.errors.FailedTrialError(f"{name} was never finite: the training diverged")
            fits.append({
                "best": min(scores) if search.minimize else max(scores),
                "epochs": initial_epoch + len(history[name]),
                "seconds": round(seconds, 2),
                "history": {k: [float(v) for v in vs] for k, vs in history.items()},
            })
        if search.folds:
            best = statistics.mean(fit["best"] for fit in fits)
            record = {
                "overrides": overrides,
                "epochs": max(fit["epochs"] for fit in fits),
                "seconds": round(sum(fit["seconds"] for fit in fits), 2),
                "mean": best,
                "std": statistics.stdev(fit["best"] for fit in fits),
                "folds": fits,
            }
            each_fold = ", ".join(f"{fit['best']:.4g}" for fit in fits)
            scored = f"{best:.4g} ± {record['std']:.2g} over {search.folds} folds ({each_fold})"
        else:
            (fit,) = fits
            best, scored = fit["best"], f"{fit['best']:.4g}"
            record = {"overrides": overrides, **{key: fit[key] for key in ("epochs", "seconds", "history")}}
        runs.write_atomic(trial_dir / TRIAL_RECORD, json.dumps(record, indent=2))
        shown = ", ".join(f"{path}={_label(value)}" for path, value in overrides.items())
        each = " each" if search.folds else ""
        print(f"search trial {trial.trial_id}: {shown} → {name} {scored} "
              f"({record['epochs']} epoch{'' if record['epochs'] == 1 else 's'}{each}, {record['seconds']:.1f} s)")
        return {name: best}

    def _fit(self, spec, values: dict, pipeline: DataPipeline, trial_dir: Path, fold: tuple[int, int] | None):
        """Train a fresh model of the trial's spec on `pipeline`: its history, the epoch it started from, its seconds.

        A fold's callbacks get their own folder (``fold-<i>/``) and, for Hyperband, its own weights file.
        """
        keras.backend.clear_session()
        keras.utils.set_random_seed(spec.train.seed)
        strategy = make_strategy(spec.train.distribution)
        model, _ = compile_model(spec, pipeline.info, strategy)
        weights, run_dir = (WEIGHTS, trial_dir) if fold is None else (f"fold-{fold[0]}.{WEIGHTS}", trial_dir / f"fold-{fold[0]}")
        run_dir.mkdir(parents=True, exist_ok=True)
        initial_epoch, epochs = 0, 1 if self.smoke else spec.train.epochs
        if "tuner/epochs" in values:  # a Hyperband trial
            epochs = values["tuner/epochs"]
            if "tuner/trial_id" in values:  # compile_model built the optimizer, so it gets its saved state back
                model.load_weights(Path(self.get_trial_dir(values["tuner/trial_id"])) / weights)
                initial_epoch = values["tuner/initial_epoch"]
        callbacks = [
            keras.callbacks.TerminateOnNaN(),
            *[build_component(c, run_dir=run_dir) for c in spec.train.callbacks],
            *(model.fit_callbacks() if hasattr(model, "fit_callbacks") else []),
        ]
        started = time.time()
        history = model.fit(
            pipeline.dataset("train"),
            validation_data=pipeline.dataset("val") if pipeline.info.split_sizes["val"] else None,
            initial_epoch=initial_epoch,
            epochs=epochs,
            steps_per_epoch=spec.train.steps_per_epoch,
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles
            verbose=2,
        ).history
        seconds = time.time() - started
        if self.spec.search.strategy == "hyperband":
            model.save_weights(trial_dir / weights)
        return history, initial_epoch, seconds

    def load_model(self, trial):
        raise NotImplementedError("a search keeps no models: train best_spec.yaml with `kcv run`")


def _oracle(spec, smoke: bool) -> keras_tuner.Oracle:
    search = spec.search
    common = {
        "objective": keras_tuner.Objective(search.objective, "min" if search.minimize else "max"),
        "hyperparameters": search_space(search),
        "allow_new_entries": False,
        "tune_new_entries": False,
        "seed": search.seed + 1,  # keras-tuner reads seed 0 as "no seed" (`seed or random.randint(...)`)
    }
    trials = min(search.trials, SMOKE_TRIALS) if smoke else search.trials
    if search.strategy == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=trials, **common)
    if search.strategy == "grid":
        return keras_tuner.oracles.GridSearchOracle(max_trials=trials, **common)
    if search.strategy == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(max_trials=trials, **common)
    # With max_epochs 2 and factor ≥ 3 Hyperband is one bracket of two 2-epoch models.
    return keras_tuner.oracles.HyperbandOracle(
        max_epochs=2 if smoke else (search.max_epochs or spec.train.epochs),
        factor=max(search.factor, 3) if smoke else search.factor,
        hyperband_iterations=1,
        **common,
    )


# ---- the search folder -----------------------------------------------------------------------

def _identity(spec, smoke: bool) -> dict:
    return {"spec_hash": spec_hash(spec), "smoke": smoke}


def _search_dir(spec, runs_dir, out_dir, smoke: bool) -> tuple[Path, bool]:
    """The folder of this search and whether it resumes one: an unfinished search of the same spec resumes."""
    identity = _identity(spec, smoke)
    if out_dir is not None:
        out_dir = Path(out_dir)
        if (out_dir / FINISHED_MARKER).exists():
            raise UserError(f"{out_dir}: this search has finished; results are never overwritten (omit the folder for a new search)")
        if (out_dir / "search.json").exists():
            if json.loads((out_dir / "search.json").read_text())["identity"] != identity:
                raise UserError(f"{out_dir}: cannot resume: that search ran another spec (or smoke setting); pick a new folder")
            return out_dir, True
        out_dir.mkdir(parents=True, exist_ok=True)
        return out_dir, False
    root = Path(runs_dir) / spec.name
    searches = sorted(root.glob("tune-*/search.json")) if root.is_dir() else []
    if searches:
        newest = searches[-1].parent
        if not (newest / FINISHED_MARKER).exists() and json.loads(searches[-1].read_text())["identity"] == identity:
            return newest, True
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, suffix = root / f"tune-{stamp}", 1
    while path.exists():
        suffix += 1
        path = root / f"tune-{stamp}-{suffix}"
    path.mkdir(parents=True)
    return path, False


def tune(spec, out_dir=None, runs_dir="runs", smoke: bool = False) -> TuneResult:
    """Search the spec's `search:` section with keras-tuner and write the ranked trials and the best spec.

    Args:
        spec: a validated spec with a `search` section.
        out_dir: the search folder (default: a new ``runs/<name>/tune-<timestamp>/``, or the
            newest unfinished search of the same spec, which resumes).
        runs_dir: where ``<name>/tune-<timestamp>/`` folders go.
        smoke: a few batches of each split, one epoch, at most two trials (Hyperband: one
            bracket of two 2-epoch models) — for CI. With ``search.folds`` every fold still
            trains, on a few batches of its parts.

    Prints each trial as it finishes, then the ranking and any border warnings
    (`border_warnings`, also in trials.md, ``search.json`` and the result).

    Example::

        result = tune(load_spec("pipelines/training/tune_mlp_kfold.yaml"), smoke=True)
        load_spec(result.out_dir / "best_spec.yaml")
        result.border_warnings            # [] or ['best optimizer.learning_rate = 0.098 lies at the top ...']
    """
    search = spec.search
    if search is None:
        raise UserError(f"{spec.__dict__.get('_path') or spec.name}: no search section to tune (see pipelines/training/tune_mlp.yaml)")
    if spec.train.distribution == "multi_worker":
        raise UserError("train.distribution: multi_worker is not supported by kcv tune; use auto or mirrored")
    trial_spec(spec, {}, "search")  # the spec without its search must stand on its own
    out_dir, resuming = _search_dir(spec, runs_dir, out_dir, smoke)
    if resuming:
        print(f"resuming {out_dir}")
    else:
        runs.write_atomic(out_dir / "search_spec.yaml", dump_spec(spec))
        runs.write_atomic(out_dir / "search.json", json.dumps({"identity": _identity(spec, smoke), "versions": runs.versions()}, indent=2))
    tuner = SpecTuner(
        spec, smoke, oracle=_oracle(spec, smoke), directory=str(out_dir), project_name="keras_tuner", overwrite=False
    )
    try:
        tuner.search()
    except _UserProblem as problem:
        raise problem.error from None

    rows = ranked_rows(tuner, spec)
    warnings = border_warnings(rows, search)
    write_table(rows, spec, out_dir, warnings)
    plot_objective(rows, search, out_dir / "objective.png", title=f"{spec.name}: {search.strategy} search")
    done = [row for row in rows if row["status"] == "completed"]
    if not done:
        last = (tuner.oracle.trials[rows[-1]["trial"]].message or "").strip().splitlines() if rows else []
        raise UserError(f"{out_dir}: no trial finished (see trials.md){'; the last error: ' + last[-1] if last else ''}")
    folds = f", mean ± std over {search.folds} folds" if search.folds else ""
    print(f"ranking by {search.objective} ({'lower' if search.minimize else 'higher'} is better{folds}):")
    for row in done:
        shown = ", ".join(f"{path}={_label(row[path])}" for path in search.parameters)
        print(f"  {row['rank']}. trial {row['trial']}: {_score(row, search)}  {shown}")
    for warning in warnings:
        print(f"warning: {warning}")
    record = json.loads((out_dir / "search.json").read_text())
    runs.write_atomic(out_dir / "search.json", json.dumps({**record, "border_warnings": warnings}, indent=2))
    best = {path: done[0][path] for path in search.parameters}
    best_spec = trial_spec(spec, best, f"best trial {done[0]['trial']}")
    header = (
        f"# The best trial ({done[0]['trial']}, {search.objective} {_score(done[0], search, 6)}) of the search in {out_dir}.\n"
        f"# Train it with: kcv run {out_dir / FINISHED_MARKER}\n"
    )
    runs.write_atomic(out_dir / FINISHED_MARKER, header + dump_spec(best_spec))
    print(f"best: trial {done[0]['trial']}, {search.objective} {_score(done[0], search)}; wrote {out_dir / FINISHED_MARKER}")
    return TuneResult(out_dir, rows, best, search.objective, search.minimize, warnings)


# ---- outputs -----------------------------------------------------------------------------------

def ranked_rows(tuner: SpecTuner, spec) -> list[dict]:
    """One row per trial: finished ones best first, then the failed ones."""
    search = spec.search
    rows = []
    for trial in tuner.oracle.trials.values():
        record_path = Path(tuner.get_trial_dir(trial.trial_id)) / TRIAL_RECORD
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
        status = str(trial.status).lower()
        row = {"rank": None, "trial": trial.trial_id, **overrides_of(search, trial.hyperparameters.values)}
        row[search.objective] = float(trial.score) if status == "completed" else None
        if search.folds:  # a finished trial has its record; any other has no score
            std, each = _fold_columns(search)
            finished = status == "completed"
            row[std], row[each] = (record["std"], [fit["best"] for fit in record["folds"]]) if finished else (None, None)
        row.update({"epochs": record.get("epochs"), "seconds": record.get("seconds"), "status": status})
        rows.append(row)
    done = sorted((r for r in rows if r["status"] == "completed"), key=lambda r: (r[search.objective] * (1 if search.minimize else -1), r["trial"]))
    for rank, row in enumerate(done, 1):
        row["rank"] = rank
    return done + sorted((r for r in rows if r["status"] != "completed"), key=lambda r: r["trial"])


def _fold_columns(search) -> list[str]:
    """With folds, the columns beside the objective's mean: its standard deviation and each fold's value."""
    return [f"{search.objective}_std", f"{search.objective}_folds"] if search.folds else []


def _score(row: dict, search, digits: int = 4) -> str:
    """A finished trial's score as text: ``0.9523``, with folds ``0.9523 ± 0.011``."""
    score = f"{row[search.objective]:.{digits}g}"
    return f"{score} ± {row[_fold_columns(search)[0]]:.2g}" if search.folds else score


def _cell(value, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return value if isinstance(value, str) else _label(value)


def write_table(rows: list[dict], spec, out_dir: Path, warnings: list[str] = ()) -> None:
    """trials.csv (full precision) and trials.md (readable), best first; the border warnings under the table.

    With folds the objective column holds the folds' mean; the CSV adds its standard deviation
    (``<objective>_std``) and each fold's value (``<objective>_folds``), the table shows mean ± std.
    """
    search = spec.search
    columns = ["rank", "trial", *search.parameters, search.objective, *_fold_columns(search), "epochs", "seconds", "status"]
    with open(out_dir / "trials.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else _cell(v)) for k, v in row.items()})
    shown = [c for c in columns if c not in _fold_columns(search)]
    better = "lower" if search.minimize else "higher"
    if search.folds:
        scored = f"the mean ± std over {search.folds} folds of {search.objective} ({better} is better; each fold's best epoch)"
    else:
        scored = f"{search.objective} ({better} is better; each trial's best epoch)"
    lines = [
        f"# {spec.name}: {search.strategy} search",
        "",
        f"{len(rows)} trials ranked by {scored}.",
        "",
        "| " + " | ".join(shown) + " |",
        "|" + "|".join("---:" if c in ("rank", search.objective, "epochs", "seconds") else "---" for c in shown) + "|",
    ]
    for row in rows:
        cells = [_score(row, search, 6) if c == search.objective and row[c] is not None else _cell(row[c]) for c in shown]
        lines.append("| " + " | ".join(cells) + " |")
    if warnings:
        lines += ["", "## The best value lies at the border of its range", "", *(f"- {warning}" for warning in warnings)]
    (out_dir / "trials.md").write_text("\n".join(lines) + "\n")


def border_warnings(rows: list[dict], search) -> list[str]:
    """One line for each numeric parameter whose best value lies at the border of what was searched.

    A float or int range is flagged when the best finished trial's value lies in its outer
    `BORDER` (10%) — measured in log(value) for ``sampling: log`` — a choice of three or more
    numbers when the best is the smallest or the largest (a choice of two has no inside). The
    optimum may then lie outside the range, and a wider range is the remedy. `rows` are ranked
    best first (`ranked_rows`); no finished trial, no warnings.

    Example::

        border_warnings([{"status": "completed", "optimizer.learning_rate": 0.098}], search)  # a search of the rate alone
        # ['best optimizer.learning_rate = 0.098 lies at the top of its range [0.0001, 0.1]: widen the range']
    """
    best = next((row for row in rows if row["status"] == "completed"), None)
    if best is None:
        return []
    warnings = []
    for path, param in search.parameters.items():
        value = best[path]
        if param.type == "choice":
            numbers = sorted(v for v in param.values if isinstance(v, (int, float)) and not isinstance(v, bool))
            if len(numbers) < max(3, len(param.values)):
                continue
            side = "top" if value == numbers[-1] else "bottom" if value == numbers[0] else None
            where = f"choices [{', '.join(f'{v:g}' for v in numbers)}]"
        else:
            scale = math.log if param.sampling == "log" else float
            position = (scale(value) - scale(param.min)) / (scale(param.max) - scale(param.min))
            side = "top" if position >= 1 - BORDER else "bottom" if position <= BORDER else None
            where = f"range [{param.min:g}, {param.max:g}]"
        if side:
            warnings.append(f"best {path} = {value:.3g} lies at the {side} of its {where}: widen the range")
    return warnings


def plot_objective(rows: list[dict], search, path: Path, title: str = "") -> None:
    """One panel per searched value: the objective of every finished trial against it, the best starred.

    Log-sampled ranges get a log axis; choices are categories in the order the spec lists them.
    With folds each trial's mean carries its standard deviation over the folds as an error bar.
    """
    done = [row for row in rows if row["status"] == "completed"]
    n = len(search.parameters)
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 3.5), squeeze=False, sharey=True)
    for ax, (name, param) in zip(axes[0], search.parameters.items()):
        if param.type == "choice":
            labels = [_label(v) for v in param.values]
            position = {label: index for index, label in enumerate(labels)}
            xs = [position[_label(row[name])] for row in done]
            ax.set_xticks(range(len(labels)), labels, rotation=30 if sum(map(len, labels)) > 30 else 0, fontsize=8)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        else:
            xs = [row[name] for row in done]
            if param.sampling == "log":  # the whole range shows, so one sees where the search looked
                ax.set_xscale("log")
                ax.set_xlim(param.min / 1.2, param.max * 1.2)
            else:
                margin = 0.05 * (param.max - param.min)
                ax.set_xlim(param.min - margin, param.max + margin)
        ys = [row[search.objective] for row in done]
        if search.folds:
            ax.errorbar(xs, ys, yerr=[row[_fold_columns(search)[0]] for row in done], fmt="none", alpha=0.5, capsize=3)
        ax.scatter(xs, ys, s=25, alpha=0.8, label="trial" if not search.folds else f"trial (± std of {search.folds} folds)")
        if done:
            ax.scatter(xs[:1], ys[:1], marker="*", s=220, color="tab:red", zorder=3, label=f"best (trial {done[0]['trial']})")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(search.objective)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["TuneResult", "SpecTuner", "tune", "trial_spec", "search_space", "overrides_of", "ranked_rows", "write_table", "border_warnings", "plot_objective"]
