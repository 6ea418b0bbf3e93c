"""How good a generative run's samples are, measured by a digits classifier the library trained (the judge).

A judge is a finished classification run on the same kind of images (e.g.
pipelines/generative/judge_lenet5_mnist.yaml). Generated images, as uint8 pixels, go through the
judge's own preprocessing and model; from its class probabilities and its features (what its
last layer reads) come:

- ``confident_share``: the share of samples the judge classifies with probability ≥ 0.9 — a
  digit that looks like no digit gets a flat distribution;
- ``class_shares`` and ``class_entropy``: the histogram of the judge's classes over the samples,
  and its entropy in nats (log 10 ≈ 2.303 when all ten digits are equally frequent; a collapsed
  generator that draws few modes scores low) — with ``min_class_share``, its rarest class;
- ``requested_share`` (class-conditional models): the share of samples classified as the digit
  they were generated for;
- ``frechet_distance``: the Fréchet distance between Gaussians fitted to the judge's features of
  as many real test images as generated ones (Heusel et al., 2017, with the judge in place of
  Inception), and for scale ``frechet_distance_real``, the same distance between the validation
  and the test images, two real sets of that size.

Written here rather than taken from a library: the FID implementations on PyPI (torchmetrics,
pytorch-fid, clean-fid) bind Inception-v3 weights that cannot be downloaded here, and the
measures above need the judge's outputs only.

Example::

    scores = score_run("runs/conditional_gan_mnist/20261130-…", judge="runs/judge_lenet5_mnist/20261130-…")
    scores["requested_share"], scores["frechet_distance"]
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from kerascv_suite.ops.softmax import stable_softmax


class Judge:
    """A finished classification run, as a function from uint8 images to (class probabilities, features).

    Args:
        run_dir: the classifier's run folder (with model.keras).
    """

    def __init__(self, run_dir: str | Path):
        from kerascv_suite.layers.classifier import classifier_features
        from kerascv_suite.training.trainer import load_run

        spec, self.pipeline, model, _ = load_run(run_dir)
        if spec.task.name != "classification":
            raise ValueError(f"{run_dir}: the judge must be a classification run, not {spec.task.name}")
        self.run_dir, self.class_names = Path(run_dir), list(self.pipeline.info.class_names)
        self.image_shape = tuple(int(v) for v in (self.pipeline.info.raw_shape or self.pipeline.info.input_shape))
        features = classifier_features(model)
        self.network = keras.Model(model.inputs, [model.outputs[0], keras.layers.Flatten(name="judge_features")(features)])

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images [N, H, W, C] → (probabilities [N, K], features [N, D]), both float64."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f"the judge ({self.run_dir}) classifies {list(self.image_shape)} images, got {list(images.shape[1:])}")
        logits, features = self.network.predict(self.pipeline.preprocess_images(images), batch_size=256, verbose=0)
        return stable_softmax(logits, axis=1), features.astype(np.float64)


def class_scores(probabilities: np.ndarray, requested: np.ndarray | None = None, confidence: float = 0.9) -> dict:
    """Confident share, class histogram (shares, entropy in nats, rarest share), and the requested-class share."""
    predicted = probabilities.argmax(axis=1)
    shares = np.bincount(predicted, minlength=probabilities.shape[1]) / len(predicted)
    nonzero = shares[shares > 0]
    scores = {
        "confident_share": float(np.mean(probabilities.max(axis=1) >= confidence)),
        "class_shares": [float(s) for s in shares],
        "class_entropy": float(-np.sum(nonzero * np.log(nonzero))),
        "max_class_entropy": float(np.log(probabilities.shape[1])),
        "min_class_share": float(shares.min()),
    }
    if requested is not None:
        scores["requested_share"] = float(np.mean(predicted == np.asarray(requested)))
    return scores


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½) between Gaussians fitted to the rows of `a` and `b`.

    tr (Σ_a Σ_b)^½ is computed as tr (Σ_a^½ Σ_b Σ_a^½)^½ (the same eigenvalues), a symmetric matrix whose
    square root `eigh` takes stably even when features with no variance (dead ReLUs) make Σ singular.
    """
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)))
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)


def score_run(run_dir: str | Path, judge: str | Path, n: int | None = None, seed: int = 0) -> dict:
    """Score `n` samples (default: as many as the test split has) of a finished generative run with a judge run.

    The class measures use all `n` samples; the Fréchet distance compares as many of them as the test split
    has with the test images (distances between sets of different sizes are not comparable).
    """
    from kerascv_suite.export.serving import unit_to_pixels
    from kerascv_suite.training.trainer import load_run

    _, pipeline, model, _ = load_run(run_dir)
    if not hasattr(model, "sample"):
        raise ValueError(f"{run_dir}: its model ({type(model).__name__}) does not generate images")
    judge = judge if isinstance(judge, Judge) else Judge(judge)
    real, _ = pipeline.raw_examples("test")
    validation, _ = pipeline.raw_examples("val", len(real))
    n = n or len(real)
    if n < len(real):
        raise ValueError(f"--n: the Fréchet distance compares as many samples as the {len(real)} test images; give at least that many")
    generated = unit_to_pixels(model.sample(n, seed=seed)).numpy()
    probabilities, fake_features = judge(generated)
    requested = np.asarray(model.sample_labels(n)) if getattr(model, "conditional", False) else None
    _, real_features = judge(real)
    _, validation_features = judge(validation)
    return {
        "samples": n, "seed": seed, "judge": str(judge.run_dir),
        **class_scores(probabilities, requested),
        "frechet_distance": frechet_distance(real_features, fake_features[: len(real)]),
        "frechet_distance_real": frechet_distance(real_features, validation_features),
        "real_images": len(real),
    }


def write_scores(run_dir: str | Path, scores: dict) -> Path:
    """RUN_DIR/quality/scores-<n>-seed<seed>.json; an existing file is never written over."""
    from kerascv_suite.spec.errors import UserError

    path = Path(run_dir) / "quality" / f"scores-{scores['samples']}-seed{scores['seed']}.json"
    if path.exists():
        raise UserError(f"{path} already exists; results are never overwritten (choose another --n or --seed)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scores, indent=2))
    return path
