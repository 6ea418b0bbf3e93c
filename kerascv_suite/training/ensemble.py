"""Model ensembles: average the class probabilities of several finished runs on the same test split.

The syllabus's cheap, reliable improvement: train a few models independently (other seeds,
other architectures or hyperparameters) and average their predicted probabilities at test
time; their errors are partly independent, so the average is usually a few points more
accurate than the members' mean. Members must have seen the same split, so their test
examples are the same: the `source`, `splits` and `seed` of their `data` sections must be
equal. Preprocessing and augmentation may differ (a 32×32 LeNet-5 and an 8×8 MLP can be
averaged); each member predicts on its own preprocessing of the test images.
`average_probabilities` is the averaging and scoring itself, shared with the `snapshot_ensemble`
callback, which averages the snapshots of one run instead.

Example::

    result = ensemble_runs(["runs/mlp_digits/20261123-101500", "runs/mlp_digits/20261123-103000"])
    result["ensemble"]["accuracy"], result["mean_member_accuracy"]
    write_ensemble_report(result)          # runs/ensemble/<timestamp>/ensemble.json and ensemble.md
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kerascv_suite.ops.softmax import stable_softmax
from kerascv_suite.spec.errors import UserError

# The data keys that decide which examples form the test split (and their labels).
SPLIT_KEYS = ("source", "splits", "seed")


def _first_difference(a, b, path: str) -> str | None:
    """The dotted key path of the first difference between two plain-data values, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((f for i, (x, y) in enumerate(zip(a, b)) if (f := _first_difference(x, y, f"{path}.{i}"))), None)
    return None if a == b else path


def _split_of(spec) -> dict:
    return {key: v for key, v in spec.data.model_dump(mode="json").items() if key in SPLIT_KEYS}


def _scores(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and mean cross-entropy (negative log-likelihood) of probabilities against integer labels."""
    picked = probabilities[np.arange(len(labels)), labels]
    return {"accuracy": float(np.mean(np.argmax(probabilities, axis=1) == labels)),
            "cross_entropy": float(-np.mean(np.log(np.maximum(picked, 1e-12))))}


def predict_probabilities(model, images: np.ndarray) -> np.ndarray:
    """A classifier's softmax probabilities [N, C] on `images`, from its logits (in float64)."""
    return stable_softmax(model.predict(images, batch_size=256, verbose=0))


def average_probabilities(member_probabilities: list[np.ndarray], labels: np.ndarray) -> dict:
    """The ensemble of members by averaged probabilities, scored against integer labels, with each member's scores.

    Args:
        member_probabilities: M arrays [N, C], each member's probabilities on the same N examples.
        labels: [N] integer labels.

    Returns a dict: `member_scores` (accuracy and cross_entropy of each member), `ensemble` (those of
    the mean), `mean_member_accuracy`, `gain` (ensemble minus mean member accuracy), and the arrays
    `member_probabilities` [M, N, C] and `probabilities` [N, C] (their mean). `ensemble_runs` averages
    finished runs with it, the `snapshot_ensemble` callback the snapshots of one run.

    Example::

        average_probabilities([p_a, p_b], labels)["ensemble"]["accuracy"]
    """
    stacked = np.stack(member_probabilities)
    mean = stacked.mean(axis=0)
    member_scores = [_scores(member, labels) for member in stacked]
    ensemble = _scores(mean, labels)
    mean_member = float(np.mean([m["accuracy"] for m in member_scores]))
    return {"member_scores": member_scores, "ensemble": ensemble, "mean_member_accuracy": mean_member,
            "gain": ensemble["accuracy"] - mean_member, "member_probabilities": stacked, "probabilities": mean}


def ensemble_runs(run_dirs: list[str | Path]) -> dict:
    """Average the test-split softmax probabilities of finished classification runs.

    Args:
        run_dirs: finished run folders (each with spec.yaml and model.keras), at least two.

    Returns a dict: `members` (run folder, spec name, model, accuracy, cross_entropy each),
    `ensemble` (accuracy, cross_entropy of the averaged probabilities), `mean_member_accuracy`,
    `gain` (ensemble minus mean member accuracy), `test_examples`, `class_names`, and the arrays
    `labels` [N], `member_probabilities` [M, N, C] and `probabilities` [N, C] (their mean).
    Runs on different splits or class names, or that are not classification runs, are a
    one-line `UserError`.

    Example::

        result = ensemble_runs(["runs/a/20261123-101500", "runs/b/20261123-103000"])
        result["probabilities"].shape       # (270, 10) on the digits' test split
    """
    from kerascv_suite.training.trainer import load_run

    run_dirs = [Path(d) for d in run_dirs]
    if len(run_dirs) < 2:
        raise UserError(f"ensemble: give at least two run folders, got {len(run_dirs)}")
    members, probabilities, labels, first = [], [], None, None
    for run_dir in run_dirs:
        spec, pipeline, model, _ = load_run(run_dir)
        if spec.task.name != "classification":
            raise UserError(f"{run_dir}: task '{spec.task.name}'; ensembles average class probabilities of classification runs")
        if first is None:
            first = (run_dir, spec, pipeline.info.class_names)
        else:
            where = _first_difference(_split_of(first[1]), _split_of(spec), "data")
            if where:
                raise UserError(f"{run_dir} and {first[0]} use different data splits ({where} differs); "
                                f"ensemble members must share data.{', data.'.join(SPLIT_KEYS)}")
            if pipeline.info.class_names != first[2]:
                raise UserError(f"{run_dir} and {first[0]} have different class names")
        images, member_labels = pipeline.examples("test")
        if labels is None:
            labels = member_labels
        elif not np.array_equal(labels, member_labels):
            raise UserError(f"{run_dir} and {first[0]} read different test labels from the same split; is the source unchanged?")
        probabilities.append(predict_probabilities(model, images))
        members.append({"run_dir": str(run_dir), "name": spec.name, "model": spec.model.name})
    averaged = average_probabilities(probabilities, labels)
    return {
        "members": [{**member, **scores} for member, scores in zip(members, averaged["member_scores"])],
        "ensemble": averaged["ensemble"],
        "mean_member_accuracy": averaged["mean_member_accuracy"],
        "gain": averaged["gain"],
        "test_examples": int(len(labels)),
        "class_names": list(first[2]),
        "labels": labels,
        "member_probabilities": averaged["member_probabilities"],
        "probabilities": averaged["probabilities"],
    }


def format_ensemble(result: dict) -> str:
    """A plain-text table: each member's test accuracy and cross-entropy, their mean, and the ensemble's."""
    rows = [(f"{m['name']} ({Path(m['run_dir']).name})", m["accuracy"], m["cross_entropy"]) for m in result["members"]]
    rows.append(("mean of members", result["mean_member_accuracy"], float(np.mean([m["cross_entropy"] for m in result["members"]]))))
    rows.append((f"ensemble of {len(result['members'])}", result["ensemble"]["accuracy"], result["ensemble"]["cross_entropy"]))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'test split (' + str(result['test_examples']) + ' examples)':<{width}}{'accuracy':>10}{'cross-entropy':>15}"]
    lines += [f"{name:<{width}}{accuracy:>10.4f}{loss:>15.4f}" for name, accuracy, loss in rows]
    return "\n".join(lines)


def write_ensemble_report(result: dict, out_dir: str | Path | None = None, runs_dir: str | Path = "runs") -> Path:
    """Write ensemble.json (the numbers, no arrays) and ensemble.md into a new folder; return it.

    Args:
        out_dir: the folder (must not exist yet, or be empty); default a new `<runs_dir>/ensemble/<timestamp>/`.
    """
    from kerascv_suite.core import runs

    out = runs.empty_report_dir(out_dir) if out_dir is not None else runs.new_run_dir(runs_dir, "ensemble")
    numbers = {k: v for k, v in result.items() if not isinstance(v, np.ndarray)}
    (out / "ensemble.json").write_text(json.dumps(numbers, indent=2))
    lines = ["# Ensemble by averaged probabilities\n", "| run | model | test accuracy | test cross-entropy |", "|---|---|---:|---:|"]
    lines += [f"| {m['run_dir']} | {m['model']} | {m['accuracy']:.4f} | {m['cross_entropy']:.4f} |" for m in result["members"]]
    lines += [f"| **ensemble of {len(result['members'])}** | | **{result['ensemble']['accuracy']:.4f}** | "
              f"**{result['ensemble']['cross_entropy']:.4f}** |", "",
              f"Mean member accuracy {result['mean_member_accuracy']:.4f}; the ensemble gains {result['gain']:+.4f} "
              f"on {result['test_examples']} test examples.", ""]
    (out / "ensemble.md").write_text("\n".join(lines))
    return out


__all__ = ["ensemble_runs", "average_probabilities", "predict_probabilities", "format_ensemble", "write_ensemble_report"]
