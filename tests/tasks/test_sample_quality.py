"""Sample-quality measures against hand computations and SciPy, and `kcv score` on smoke-trained runs."""

import json

import numpy as np
import pytest
from scipy.linalg import sqrtm

from kerascv_suite.cli import main
from kerascv_suite.spec import load_spec
from kerascv_suite.tasks.sample_quality import Judge, class_scores, frechet_distance
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES


def one_hot_probabilities(classes, confident=0.95, k=3):
    probabilities = np.full((len(classes), k), (1 - confident) / (k - 1))
    probabilities[np.arange(len(classes)), classes] = confident
    return probabilities


def test_class_scores_count_confidence_classes_and_the_requested_ones():
    probabilities = one_hot_probabilities([0, 0, 1, 2])
    probabilities[3] = [0.2, 0.2, 0.6]  # classified 2, not confidently
    scores = class_scores(probabilities, requested=np.array([0, 1, 1, 2]))
    assert scores["confident_share"] == 0.75
    assert scores["class_shares"] == [0.5, 0.25, 0.25] and scores["min_class_share"] == 0.25
    assert scores["class_entropy"] == pytest.approx(-(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25)))
    assert scores["max_class_entropy"] == pytest.approx(np.log(3))
    assert scores["requested_share"] == 0.75  # the second sample was asked to be a 1 and is a 0


def test_a_collapsed_generator_has_zero_class_entropy():
    scores = class_scores(one_hot_probabilities([2] * 10))
    assert scores["class_entropy"] == 0.0 and scores["min_class_share"] == 0.0 and "requested_share" not in scores


def test_frechet_distance_matches_the_closed_form_and_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 1.0, (4000, 1)), rng.normal(3.0, 2.0, (4000, 1))
    one_d = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2  # 1-D: (μ₁ − μ₂)² + (σ₁ − σ₂)²
    assert frechet_distance(a, b) == pytest.approx(one_d, rel=1e-9)
    a, b = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)), rng.normal(1.0, 1.5, (500, 6))
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    reference = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b - 2 * sqrtm(cov_a @ cov_b).real)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-7)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_is_finite_with_dead_features():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    a[:, 0] = b[:, 0] = 0.0  # a ReLU unit that never fires: singular covariances
    assert np.isfinite(frechet_distance(a, b)) and frechet_distance(a, b) > 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A smoke-trained judge and conditional GAN on MNIST."""
    runs_dir = tmp_path_factory.mktemp("runs")
    judge = train(load_spec(PIPELINES / "generative" / "judge_lenet5_mnist.yaml"), runs_dir=runs_dir, smoke=True)
    generator = train(load_spec(PIPELINES / "generative" / "conditional_gan.yaml", overrides=["model.filters=8"]),
                      runs_dir=runs_dir, smoke=True)
    return judge.run_dir, generator.run_dir


def test_the_judge_reads_uint8_images_through_its_own_preprocessing(runs):
    judge = Judge(runs[0])
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    probabilities, features = judge(images)
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(1), 1)
    assert features.shape == (5, 84)  # LeNet-5's f6: what its classifier reads
    with pytest.raises(ValueError, match=r"classifies \[28, 28, 1\] images"):
        judge(images[:, :8, :8])


def test_kcv_score_writes_the_scores_and_never_overwrites(runs, capsys):
    judge, generator = runs
    assert main(["score", str(generator), "--judge", str(judge), "--n", "600", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    scores = json.loads((generator / "quality" / "scores-600-seed2.json").read_text())
    assert scores["samples"] == 600 and len(scores["class_shares"]) == 10 and sum(scores["class_shares"]) == pytest.approx(1)
    assert 0 <= scores["requested_share"] <= 1 and scores["frechet_distance"] > 0 and scores["frechet_distance_real"] > 0
    assert f"requested class {scores['requested_share']:.3f}" in printed
    assert main(["score", str(generator), "--judge", str(judge), "--n", "600", "--seed", "2"]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert main(["score", str(generator), "--judge", str(judge), "--n", "10"]) == 2
    assert "at least that many" in capsys.readouterr().err
    assert main(["score", str(generator), "--judge", str(generator)]) == 2  # a GAN is no judge
    assert "must be a classification run" in capsys.readouterr().err
