"""Ensembles of finished runs (`kerascv_suite.training.ensemble`) against a NumPy reference.

Two linear softmax classifiers, one epoch each with different seeds, are enough: a linear
model's logits are x·W + b, so the members' probabilities can be recomputed from the saved
weights without Keras.
"""

import json

import keras
import numpy as np
import pytest
import yaml

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.spec import load_resolved, load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.training.ensemble import (
    ensemble_runs,
    format_ensemble,
    write_ensemble_report,
)
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES

SOFTMAX = PIPELINES / "classification" / "softmax.yaml"


def train_linear_runs(runs_dir, seeds=(0, 1)):
    """Finished run folders of the softmax digits pipeline, one epoch each, one per training seed."""
    return [train(load_spec(SOFTMAX, overrides=["train.epochs=1", f"train.seed={seed}"]), runs_dir=runs_dir, new=True).run_dir
            for seed in seeds]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    return train_linear_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def result(members):
    return ensemble_runs(members)


def _reference_probabilities(run_dir):
    spec = load_resolved((run_dir / "spec.yaml").read_text(), "spec.yaml")
    images, labels = DataPipeline(spec).examples("test")
    kernel, bias = keras.saving.load_model(run_dir / "model.keras").get_layer("logits").get_weights()
    logits = images.reshape(len(images), -1).astype(np.float64) @ kernel + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True), labels


def test_ensemble_probabilities_are_the_mean_of_the_members_softmax(members, result):
    references = [_reference_probabilities(run_dir) for run_dir in members]
    labels = references[0][1]
    expected = np.mean([p for p, _ in references], axis=0)
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(result["labels"], labels)
    assert result["probabilities"].shape == (result["test_examples"], 10) == (len(labels), 10)
    np.testing.assert_allclose(result["probabilities"].sum(axis=1), 1.0, atol=1e-9)
    for member, (probabilities, _) in zip(result["members"], references):
        assert member["accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == labels))
    assert result["ensemble"]["accuracy"] == pytest.approx(np.mean(expected.argmax(1) == labels))
    assert result["ensemble"]["cross_entropy"] == pytest.approx(-np.mean(np.log(expected[np.arange(len(labels)), labels])), rel=1e-4)


def test_member_accuracies_agree_with_the_runs_own_test_metrics(members, result):
    for run_dir, member in zip(members, result["members"]):
        saved = json.loads((run_dir / "metrics.json").read_text())["test"]
        assert member["accuracy"] == pytest.approx(saved["accuracy"], abs=1e-6)
        kernel = keras.saving.load_model(run_dir / "model.keras").get_layer("logits").get_weights()[0]
        penalty = 1e-4 * np.sum(kernel.astype(np.float64) ** 2)  # the pipeline's l2: 0.0001 is part of Keras's loss
        assert member["cross_entropy"] + penalty == pytest.approx(saved["loss"], rel=1e-4)
    assert result["mean_member_accuracy"] == pytest.approx(np.mean([m["accuracy"] for m in result["members"]]))
    assert result["gain"] == pytest.approx(result["ensemble"]["accuracy"] - result["mean_member_accuracy"])


def test_report_is_written_into_a_new_folder(result, tmp_path):
    out = write_ensemble_report(result, runs_dir=tmp_path)
    assert out.parent == tmp_path / "ensemble"
    saved = json.loads((out / "ensemble.json").read_text())
    assert saved["ensemble"] == result["ensemble"] and len(saved["members"]) == 2 and "probabilities" not in saved
    assert "ensemble of 2" in (out / "ensemble.md").read_text()
    with pytest.raises(UserError, match="never overwritten"):
        write_ensemble_report(result, out_dir=out)
    assert format_ensemble(result).splitlines()[-1].startswith("ensemble of 2")


def _copy_with(run_dir, tmp_path, change):
    """A copy of a run folder whose spec.yaml says something else (cheaper than training a third run)."""
    copy = tmp_path / "changed"
    copy.mkdir()
    for name in ("model.keras", "metrics.json"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    spec = yaml.safe_load((run_dir / "spec.yaml").read_text())
    change(spec)
    (copy / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return copy


def test_members_on_another_split_are_a_one_line_error(members, tmp_path):
    other = _copy_with(members[1], tmp_path, lambda spec: spec["data"].update(seed=1))
    with pytest.raises(UserError) as error:
        ensemble_runs([members[0], other])
    assert len(error.value.problems) == 1 and "data.seed differs" in str(error.value) and "\n" not in str(error.value)


def test_augmentation_and_batch_size_may_differ(members, tmp_path):
    other = _copy_with(members[1], tmp_path, lambda spec: spec["data"].update(batch_size=64))
    assert ensemble_runs([members[0], other])["test_examples"] > 0


def test_fewer_than_two_runs_or_a_folder_that_is_not_a_run_are_errors(members, tmp_path):
    with pytest.raises(UserError, match="at least two"):
        ensemble_runs(members[:1])
    with pytest.raises(UserError, match="not a finished run folder"):
        ensemble_runs([members[0], tmp_path])


def test_average_probabilities_scores_each_member_and_their_mean():
    from kerascv_suite.training.ensemble import average_probabilities

    labels = np.array([0, 1, 2, 1])
    rng = np.random.default_rng(0)
    members = [rng.dirichlet(np.ones(3), size=4) for _ in range(3)]
    averaged = average_probabilities(members, labels)
    mean = np.mean(members, axis=0)
    np.testing.assert_allclose(averaged["probabilities"], mean)
    np.testing.assert_array_equal(averaged["member_probabilities"], np.stack(members))
    accuracies = [np.mean(m.argmax(1) == labels) for m in members]
    assert [s["accuracy"] for s in averaged["member_scores"]] == pytest.approx(accuracies)
    assert averaged["member_scores"][1]["cross_entropy"] == pytest.approx(-np.mean(np.log(members[1][np.arange(4), labels])))
    assert averaged["ensemble"]["accuracy"] == pytest.approx(np.mean(mean.argmax(1) == labels))
    assert averaged["ensemble"]["cross_entropy"] == pytest.approx(-np.mean(np.log(mean[np.arange(4), labels])))
    assert averaged["gain"] == pytest.approx(averaged["ensemble"]["accuracy"] - np.mean(accuracies))
