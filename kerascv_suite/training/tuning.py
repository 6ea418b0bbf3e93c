"""Hyperparameter search (`kcv tune SPEC`): keras-tuner picks the values, the trainer's parts train them.

A spec's `search:` section names dotted spec paths (as ``--set`` writes them) and the values
each may take: a float or int range (``sampling: log`` for scales such as learning rates and
weight decay) or a list of choices. keras-tuner's oracles choose each trial's values — random,
grid, Bayesian optimisation (a Gaussian process over the values tried so far) or Hyperband
(many models trained briefly, the best 1/factor of them trained factor× longer) — and `SpecTuner`,
a `keras_tuner.Tuner`, turns them into a spec: the resolved spec with each value set at its
path, validated again (so an impossible combination is a spec error naming the trial), then
built and fitted like `kcv run` would. A trial scores the best epoch's value of the objective.

Everything goes into one folder, `runs/<name>/tune-<timestamp>/`:

- ``trials.md`` and ``trials.csv``: the trials ranked best first (values, objective, epochs, seconds);
- ``objective.png``: the objective against each searched value, the best trial starred;
- ``best_spec.yaml``: the spec with the best trial's values and no `search` section, ready for
  ``kcv run best_spec.yaml``; written last, so its presence marks a finished search;
- ``keras_tuner/``: keras-tuner's own project (oracle state, one folder per trial with our
  ``kcv_trial.json`` record of the trial's values, epochs, seconds and history).

A killed search resumes: running the same spec again (same resolved spec, same smoke setting)
reopens the newest unfinished search folder, keras-tuner reloads the finished trials from its
oracle state and reruns only the trial that was interrupted. A finished search is never
written over; the next search gets a new folder.

Example::

    spec = load_spec("pipelines/training/tune_mlp.yaml")
    result = tune(spec, runs_dir="runs")
    result.rows[0]                    # {'rank': 1, 'trial': '07', 'optimizer.learning_rate': 0.0031, ...}
    result.best_overrides             # {'optimizer.learning_rate': 0.0031, 'model.dropout': 0.1, ...}
"""

from __future__ import annotations

import csv
import json
import math
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
FINISHED_MARKER = "best_spec.yaml"
TRIAL_RECORD = "kcv_trial.json"
WEIGHTS = "model.weights.h5"


@dataclass
class TuneResult:
    """What a search found: its folder, the trials ranked best first, and the best trial's values."""

    out_dir: Path
    rows: list[dict]
    best_overrides: dict
    objective: str
    minimize: bool


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

    Hyperband's later rounds warm-start, as keras-tuner's own `Hyperband` tuner does: they load
    what the same values reached in the previous round (``model.weights.h5`` in that trial's
    folder) and train on from epoch ``tuner/initial_epoch`` to ``tuner/epochs``, not from
    scratch. Unlike keras-tuner's, the optimizer's state (moments, step count, so schedules too)
    continues as well: the optimizer is built before the weights are loaded.
    """

    def __init__(self, spec, smoke: bool = False, **kwargs):
        self.spec = spec
        self.smoke = smoke
        self._pipeline_key, self._pipeline = None, None
        super().__init__(**kwargs)

    def _data(self, spec) -> DataPipeline:
        key = _label(resolved(spec)["data"])
        if key != self._pipeline_key:
            self._pipeline_key, self._pipeline = key, DataPipeline(spec, smoke=self.smoke)
        return self._pipeline

    def run_trial(self, trial, *args, **kwargs):
        # Each trial's traced train step would otherwise outlive it in TensorFlow's gradient
        # registry: a long search would hold every trial's graphs (see core/compat.py).
        with compat.forgetting_custom_gradients():
            return self._trial(trial)

    def _trial(self, trial):
        """One trial: train the trial's spec and return its objective."""
        search = self.spec.search
        values = trial.hyperparameters.values
        overrides = overrides_of(search, values)
        try:
            spec = trial_spec(self.spec, overrides, f"search trial {trial.trial_id}")
            pipeline = self._data(spec)
        except UserError as error:
            raise _UserProblem(error) from None
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        keras.backend.clear_session()
        keras.utils.set_random_seed(spec.train.seed)
        strategy = make_strategy(spec.train.distribution)
        model, _ = compile_model(spec, pipeline.info, strategy)
        initial_epoch, epochs = 0, 1 if self.smoke else spec.train.epochs
        if "tuner/epochs" in values:  # a Hyperband trial
            epochs = values["tuner/epochs"]
            if "tuner/trial_id" in values:  # compile_model built the optimizer, so it gets its saved state back
                model.load_weights(Path(self.get_trial_dir(values["tuner/trial_id"])) / WEIGHTS)
                initial_epoch = values["tuner/initial_epoch"]
        callbacks = [
            keras.callbacks.TerminateOnNaN(),
            *[build_component(c, run_dir=trial_dir) for c in spec.train.callbacks],
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
        if search.strategy == "hyperband":
            model.save_weights(trial_dir / WEIGHTS)
        name = search.objective
        if name not in history:
            raise _UserProblem(SpecError(
                f"search.objective: '{name}' is not logged by training{did_you_mean(name, history)}; logged: {', '.join(history)}"
            ))
        record = {
            "overrides": overrides,
            "epochs": initial_epoch + len(history[name]),
            "seconds": round(seconds, 2),
            "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        }
        runs.write_atomic(trial_dir / TRIAL_RECORD, json.dumps(record, indent=2))
        scores = [float(v) for v in history[name] if math.isfinite(float(v))]
        if not scores:
            raise keras_tuner.errors.FailedTrialError(f"{name} was never finite: the training diverged")
        best = min(scores) if search.minimize else max(scores)
        shown = ", ".join(f"{path}={_label(value)}" for path, value in overrides.items())
        print(f"search trial {trial.trial_id}: {shown} → {name} {best:.4g} ({record['epochs']} epoch{'' if record['epochs'] == 1 else 's'}, {seconds:.1f} s)")
        return {name: best}

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
            bracket of two 2-epoch models) — for CI.

    Example::

        result = tune(load_spec("pipelines/training/tune_mlp.yaml"), smoke=True)
        load_spec(result.out_dir / "best_spec.yaml")
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
    write_table(rows, spec, out_dir)
    plot_objective(rows, search, out_dir / "objective.png", title=f"{spec.name}: {search.strategy} search")
    done = [row for row in rows if row["status"] == "completed"]
    if not done:
        last = (tuner.oracle.trials[rows[-1]["trial"]].message or "").strip().splitlines() if rows else []
        raise UserError(f"{out_dir}: no trial finished (see trials.md){'; the last error: ' + last[-1] if last else ''}")
    best = {path: done[0][path] for path in search.parameters}
    best_spec = trial_spec(spec, best, f"best trial {done[0]['trial']}")
    header = (
        f"# The best trial ({done[0]['trial']}, {search.objective} {done[0][search.objective]:.6g}) of the search in {out_dir}.\n"
        f"# Train it with: kcv run {out_dir / FINISHED_MARKER}\n"
    )
    runs.write_atomic(out_dir / FINISHED_MARKER, header + dump_spec(best_spec))
    print(f"best: trial {done[0]['trial']}, {search.objective} {done[0][search.objective]:.4g}; wrote {out_dir / FINISHED_MARKER}")
    return TuneResult(out_dir, rows, best, search.objective, search.minimize)


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
        row.update({"epochs": record.get("epochs"), "seconds": record.get("seconds"), "status": status})
        rows.append(row)
    done = sorted((r for r in rows if r["status"] == "completed"), key=lambda r: (r[search.objective] * (1 if search.minimize else -1), r["trial"]))
    for rank, row in enumerate(done, 1):
        row["rank"] = rank
    return done + sorted((r for r in rows if r["status"] != "completed"), key=lambda r: r["trial"])


def _cell(value, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return value if isinstance(value, str) else _label(value)


def write_table(rows: list[dict], spec, out_dir: Path) -> None:
    """trials.csv (full precision) and trials.md (readable), best first."""
    search = spec.search
    columns = ["rank", "trial", *search.parameters, search.objective, "epochs", "seconds", "status"]
    with open(out_dir / "trials.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else _cell(v)) for k, v in row.items()})
    better = "lower" if search.minimize else "higher"
    lines = [
        f"# {spec.name}: {search.strategy} search",
        "",
        f"{len(rows)} trials ranked by {search.objective} ({better} is better; each trial's best epoch).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---:" if c in ("rank", search.objective, "epochs", "seconds") else "---" for c in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c], 6 if c == search.objective else 4) for c in columns) + " |")
    (out_dir / "trials.md").write_text("\n".join(lines) + "\n")


def plot_objective(rows: list[dict], search, path: Path, title: str = "") -> None:
    """One panel per searched value: the objective of every finished trial against it, the best starred.

    Log-sampled ranges get a log axis; choices are categories in the order the spec lists them.
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
        ax.scatter(xs, ys, s=25, alpha=0.8, label="trial")
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


__all__ = ["TuneResult", "SpecTuner", "tune", "trial_spec", "search_space", "overrides_of", "ranked_rows", "write_table", "plot_objective"]
