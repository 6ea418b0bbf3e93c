"""Data preprocessing (chapter 7): mean-image subtraction, PCA and ZCA whitening on the digits, pictured and trained.

Writes benchmarks/results/whitening_digits.png — the notes' picture (two neighbouring pixels:
original, zero-centred, PCA-whitened, ZCA-whitened), the covariance before and after, the mean
image, digits before and after, the leading principal components — and whitening_digits.{json,md}:
four fresh `kcv run`s of the same MLP with plain SGD (optimizer_sgd.yaml's budget) on rescaled,
mean-subtracted, PCA- and ZCA-whitened inputs, with their training loss after the first and last
epoch and test accuracy, and how close each whitening brings the training split's covariance to
the identity.

    python -m benchmarks.whitening
"""

from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.runs import RESULTS, kcv_run  # noqa: E402
from benchmarks.runs import machine as describe_machine  # noqa: E402
from kerascv_suite.data.whitening import Whitening  # noqa: E402
from kerascv_suite.viz.plots import read_history  # noqa: E402

EPSILON = 0.01
WHITEN = "[rescale, {{name: whiten, method: {method}, epsilon: %s}}]" % EPSILON
RUNS = {
    "rescale only": ("training/optimizer_sgd", ()),
    "mean image subtracted": ("training/preprocessing_mean_image", ()),
    "PCA-whitened": ("training/preprocessing_whiten", ("data.preprocess=" + WHITEN.format(method="pca"),)),
    "ZCA-whitened": ("training/preprocessing_whiten", ("data.preprocess=" + WHITEN.format(method="zca"),)),
}
PIXELS = ((3, 3), (3, 4))  # two neighbouring pixels in the middle of the 8×8 digits


def digits() -> np.ndarray:
    """The 1,797 digits as the pipelines see them after `rescale`: [N, 8, 8, 1] in [0, 1]."""
    from kerascv_suite.data.sources import digits as digits_source

    return digits_source().images.astype(np.float32) / 255.0


def transformed(images: np.ndarray) -> dict[str, tuple[Whitening, np.ndarray]]:
    """Each preprocessing fitted on `images` and applied to them."""
    out = {}
    for method in ("mean", "pca", "zca"):
        layer = Whitening(method, EPSILON)
        layer.adapt(tf.data.Dataset.from_tensor_slices(images).batch(256))
        out[method] = (layer, np.asarray(layer(images)))
    return out


def covariance(images: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), -1)
    flat = flat - flat.mean(axis=0)
    return flat.T @ flat / len(flat)


def covariance_stats(images: np.ndarray) -> dict:
    """How far a covariance is from the identity: its largest off-diagonal entry and its variances."""
    sigma = covariance(images)
    variances = np.diag(sigma)
    return {"max_off_diagonal": round(float(np.abs(sigma - np.diag(variances)).max()), 4),
            "variances_at_least_0.9": int((variances >= 0.9).sum()), "max_variance": round(float(variances.max()), 4)}


def strip(images: np.ndarray) -> np.ndarray:
    """Eight 8×8 images in two rows of four, each scaled to its own range (whitened values are not pixels)."""
    tiles = [np.pad((im - im.min()) / (np.ptp(im) + 1e-9), 1, constant_values=1.0) for im in images[:8, ..., 0]]
    return np.concatenate([np.concatenate(tiles[:4], axis=1), np.concatenate(tiles[4:], axis=1)], axis=0)


def plot(images: np.ndarray, fitted: dict, path: Path) -> None:
    (a, b) = PIXELS
    mean_layer, centred = fitted["mean"]
    figure, axes = plt.subplots(3, 4, figsize=(16, 11))
    scatters = [("original", images[:, a[0], a[1], 0], images[:, b[0], b[1], 0]),
                ("zero-centred (mean image subtracted)", centred[:, a[0], a[1], 0], centred[:, b[0], b[1], 0]),
                ("PCA-whitened: components 1 and 2", fitted["pca"][1].reshape(len(images), -1)[:, 0],
                 fitted["pca"][1].reshape(len(images), -1)[:, 1]),
                ("ZCA-whitened: the same two pixels", fitted["zca"][1][:, a[0], a[1], 0], fitted["zca"][1][:, b[0], b[1], 0])]
    for axis, (title, x, y) in zip(axes[0], scatters):
        axis.scatter(x, y, s=3, alpha=0.4)
        axis.axhline(0, color="grey", lw=0.5)
        axis.axvline(0, color="grey", lw=0.5)
        axis.set(title=title, aspect="equal")
    axes[0, 0].set(xlabel=f"pixel {a}", ylabel=f"pixel {b}")
    axes[1, 0].imshow(mean_layer.mean.numpy().reshape(8, 8), cmap="gray")
    axes[1, 0].set_title("the mean image (subtracted by mean_image)")
    for axis, (title, data) in zip(axes[1, 1:], (("covariance of the 64 pixels", images), ("after PCA whitening", fitted["pca"][1]),
                                                 ("after ZCA whitening", fitted["zca"][1]))):
        shown = axis.imshow(covariance(data), cmap="RdBu_r", vmin=-np.abs(covariance(data)).max(), vmax=np.abs(covariance(data)).max())
        figure.colorbar(shown, ax=axis, fraction=0.046)
        axis.set_title(title)
    eigenvectors = fitted["pca"][0].matrix.numpy().T.reshape(-1, 8, 8, 1)  # row k of Wᵀ ∝ the k-th eigenvector
    for axis, (title, data) in zip(axes[2], (("digits", images), ("mean image subtracted", centred),
                                             ("ZCA-whitened (edges stand out)", fitted["zca"][1]),
                                             ("the 8 leading principal components", eigenvectors))):
        axis.imshow(strip(data), cmap="gray")
        axis.set_title(title)
    for axis in (*axes[1, :1], *axes[1, 1:], *axes[2]):
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(f"Data preprocessing on scikit-learn's 1,797 8×8 digits (ε = {EPSILON}; kerascv_suite.data.whitening)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> None:
    images = digits()
    fitted = transformed(images)
    plot(images, fitted, RESULTS / "whitening_digits.png")
    stats = {name: covariance_stats(data) for name, data in
             (("original", images), ("pca", fitted["pca"][1]), ("zca", fitted["zca"][1]))}
    rows = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, (pipeline, overrides) in RUNS.items():
            metrics, run_dir, seconds = kcv_run(pipeline, Path(workdir), overrides)
            loss = read_history(run_dir / "history.csv")["loss"]
            rows[name] = {"pipeline": pipeline, "overrides": list(overrides), "first_epoch_loss": round(loss[0], 4),
                          "last_epoch_loss": round(loss[-1], 4), "test_accuracy": metrics["test"]["accuracy"],
                          "kcv_run_seconds": round(seconds, 1)}
            print(name, rows[name], flush=True)
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "whitening_digits.json").write_text(json.dumps(
        {"date": date, "machine": machine, "epsilon": EPSILON, "covariance": stats, "runs": rows},
        indent=2) + "\n")
    lines = [f"# Data preprocessing on the digits ({date}, {machine})", "",
             f"All 1,797 digits, rescaled to [0, 1], whitened with ε = {EPSILON} (picture: `whitening_digits.png`). "
             "The 64×64 covariance of the pixels (or PCA coordinates):", "",
             "| data | largest off-diagonal entry | variances ≥ 0.9 | largest variance |", "|---|---|---|---|"]
    lines += [f"| {name} | {row['max_off_diagonal']:.4f} | {row['variances_at_least_0.9']} of 64 | {row['max_variance']:.4f} |"
              for name, row in stats.items()]
    lines += ["", "ε shrinks the directions in which the digits hardly vary (λ ≲ ε: the near-constant border pixels) "
              "instead of blowing them up: a whitened variance is λ/(λ + ε).", "",
             "The same MLP (100 ReLU units, plain SGD at 0.05, 30 epochs, optimizer_sgd.yaml), statistics fitted on "
             "the training split:", "",
             "| inputs | training loss, epoch 1 | training loss, epoch 30 | test accuracy | `kcv run` seconds |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {row['first_epoch_loss']:.4f} | {row['last_epoch_loss']:.4f} | {row['test_accuracy']:.4f} | "
              f"{row['kcv_run_seconds']} |" for name, row in rows.items()]
    (RESULTS / "whitening_digits.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
