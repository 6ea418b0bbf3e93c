"""What the network learned (chapter 8): `kerascv_suite.viz.features` on a LeNet-5 of the digits.

A fresh `kcv run` of pipelines/classification/lenet5.yaml (LeNet-5, tanh, average pooling,
trained by this library on scikit-learn's digits upscaled to 32×32, no pretrained weights;
its 5×5 first-layer filters read better than ResNet-20's 3×3). Its model.keras is then looked at
on the test images:

- benchmarks/results/features_filters.png: the 6 filters of c1, each scaled to its own range;
- benchmarks/results/features_activations.png: c1's and c3's maps of the first test image;
- benchmarks/results/features_tsne.png: t-SNE of the classifier's input features (f6, 84-D),
  scattered by class and as the images snapped to a grid;
- benchmarks/results/features_patches.png: for UNITS channels of c3_act, the PATCHES test
  images where each is largest, cropped to its receptive field;
- benchmarks/results/features_digits.md: PCA's explained variance, and the KNN_K-NN accuracy
  (KNN_FOLDS-fold cross-validated on the test images) in each 2-D embedding, on the full
  features and on pixels, as measured.

    python -m benchmarks.feature_visualisation
"""

from __future__ import annotations

import datetime
import time

import numpy as np

from benchmarks.runs import RESULTS, trained_model
from benchmarks.runs import machine as describe_machine

PIPELINE = "classification/lenet5"
MODEL_TEXT = "LeNet-5 (pipelines/classification/lenet5.yaml) trained by this library on scikit-learn's digits, no pretrained weights"
PATCH_LAYER, UNITS, PATCHES = "c3_act", 8, 8
KNN_K, KNN_FOLDS, SEED = 5, 5, 0


def knn_accuracy(points: np.ndarray, labels: np.ndarray) -> float:
    """KNN_K-nearest-neighbour accuracy, KNN_FOLDS-fold stratified cross-validation (scikit-learn), of `points` [N, D]."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    folds = StratifiedKFold(KNN_FOLDS, shuffle=True, random_state=SEED)
    return float(np.mean(cross_val_score(KNeighborsClassifier(KNN_K), points, labels, cv=folds)))


def main() -> None:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    from kerascv_suite.models.arithmetic import receptive_fields
    from kerascv_suite.viz import features

    metrics, seconds, model, images, labels = trained_model(PIPELINE)
    print("trained", metrics["test"]["accuracy"], round(seconds, 1), flush=True)
    labels = np.asarray(labels)

    conv = features.first_conv_layer(model)
    features.plot_filters(features.filter_grid(model), RESULTS / "features_filters.png",
                          title=f"LeNet-5 {conv.name}: {conv.kernel.shape[-1]} filters "
                                f"{conv.kernel.shape[0]}×{conv.kernel.shape[1]}, each scaled to its own range")
    for layer in ("c1_act", "c3_act"):
        features.plot_activations(features.layer_activations(model, images[:1], layer)[0], RESULTS / f"features_activations_{layer}.png",
                                  title=f"LeNet-5 {layer} on the first test image (digit {labels[0]})")

    started = time.time()
    head = features.features_of(model, images)
    pca = PCA(n_components=2, svd_solver="full").fit(head)
    xy_pca = features.embed_features(model, images, method="pca")
    xy_tsne = features.embed_features(model, images, method="tsne", seed=SEED)
    pixels = images.reshape(len(images), -1)
    xy_pixels = TSNE(2, init="pca", random_state=SEED).fit_transform(pixels)
    embed_seconds = time.time() - started
    features.plot_embedding(xy_tsne, labels, RESULTS / "features_tsne.png", images=images,
                            title=f"t-SNE (seed {SEED}) of LeNet-5's {head.shape[1]}-D classifier features, {len(images)} test digits")
    knn = {"pixels (1024-D)": knn_accuracy(pixels, labels), "t-SNE of pixels": knn_accuracy(xy_pixels, labels),
           f"classifier features ({head.shape[1]}-D)": knn_accuracy(head, labels),
           "PCA of features (2-D)": knn_accuracy(xy_pca, labels), "t-SNE of features (2-D)": knn_accuracy(xy_tsne, labels)}
    print(knn, flush=True)

    units = {f"{PATCH_LAYER} #{c}": features.max_activating_patches(model, images, PATCH_LAYER, c, k=PATCHES) for c in range(UNITS)}
    features.plot_patches(units, images, RESULTS / "features_patches.png",
                          title=f"LeNet-5 {PATCH_LAYER}: the {PATCHES} test images where each unit is largest, "
                                "cropped to its receptive field")
    field = {r.layer: r for r in receptive_fields(model)}[PATCH_LAYER]
    sizes = {(p.box[2] - p.box[0], p.box[3] - p.box[1]) for patches in units.values() for p in patches}
    unit_classes = {name: np.bincount(labels[[p.image for p in patches]], minlength=10).argmax() for name, patches in units.items()}
    purity = np.mean([np.mean(labels[[p.image for p in patches]] == unit_classes[name]) for name, patches in units.items()])

    date, machine = datetime.date.today().isoformat(), describe_machine()
    variance = pca.explained_variance_ratio_
    lines = [f"# What LeNet-5 learned on the digits ({date}, {machine})", "",
             f"{MODEL_TEXT}: a fresh `kcv run` ({seconds:.0f} s, test accuracy {metrics['test']['accuracy']:.4f}), its model.keras "
             f"looked at with `kerascv_suite.viz.features` on the {len(images)} test images (32×32).", "",
             f"- `features_filters.png`: `filter_grid`, the {conv.kernel.shape[-1]} filters of `{conv.name}`; "
             "`features_activations_c1_act.png`, `features_activations_c3_act.png`: `layer_activations` of the first test image.",
             f"- PCA of the {head.shape[1]}-D classifier features (the input of `logits`, `classifier_features`): the 2 components "
             f"explain {variance[0]:.1%} + {variance[1]:.1%} = {variance.sum():.1%} of the variance.",
             f"- `features_tsne.png`: t-SNE (scikit-learn, init PCA, perplexity 30, seed {SEED}) of those features, scatter and "
             f"`tsne_image_grid`. The embeddings took {embed_seconds:.1f} s together.",
             f"- `features_patches.png`: `max_activating_patches` of {UNITS} channels of `{PATCH_LAYER}` (receptive field "
             f"{field.receptive_field[0]}×{field.receptive_field[1]}, jump {field.jump[0]}; patch sizes {sorted(sizes)}), "
             f"{PATCHES} images each; on average {purity:.0%} of a unit's images are of its most common digit.", "",
             f"{KNN_K}-NN accuracy, {KNN_FOLDS}-fold stratified cross-validation on the test images:", "",
             "| space | k-NN accuracy |", "|---|---:|"]
    lines += [f"| {name} | {value:.1%} |" for name, value in knn.items()]
    lines += ["", "t-SNE was fitted on all the test images, so its neighbourhoods have seen every fold's points (no labels); "
              "the numbers say how well classes separate in each picture, not how a classifier on it generalises.", ""]
    (RESULTS / "features_digits.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
