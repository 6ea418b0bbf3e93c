"""The spec's `report:` list: pictures a finished run draws of its own model, into <run>/report/.

Each entry names a registered report (`kcv list reports`) with its options; `write_reports`
loads the finished run (its saved model, data pipeline and class names), builds every entry
and calls its `write(model, pipeline, folder)`, which draws one or more PNGs and returns their
paths. `kcv run` calls it after training, `kcv report RUN_DIR` on any finished run. A second
call never touches the first's pictures: it writes to report-2/, report-3/, ...

A report is a class registered in `kerascv_suite.registry.REPORTS`; its constructor arguments
are its spec keys, each documented. The pictures of chapter 8 are built from the functions in
`viz.saliency`, `viz.features`, `viz.pixel_space`, `viz.synthesis` and `viz.adversarial`, and
every picture's title says which run's model it shows.

Example (a spec)::

    report:
      - {name: saliency, methods: [gradient, grad_cam, integrated_gradients], n: 6}
      - {name: filters}
      - {name: embedding, method: tsne, n: 300}
"""

from __future__ import annotations

from pathlib import Path


import numpy as np

from kerascv_suite.registry import REPORTS
from kerascv_suite.spec.errors import UserError


def report_folder(run_dir: str | Path) -> Path:
    """<run>/report/, or the first free report-N/ when an earlier call wrote one (pictures are never overwritten)."""
    run_dir = Path(run_dir)
    folder, number = run_dir / "report", 1
    while folder.exists():
        number += 1
        folder = run_dir / f"report-{number}"
    folder.mkdir(parents=True)
    return folder


def write_reports(run_dir: str | Path) -> list[Path]:
    """Draw every report of a finished run's spec into a new report folder; return the PNGs' paths ([] when none)."""
    from kerascv_suite.spec import build_component
    from kerascv_suite.training.trainer import load_run

    spec, pipeline, model, _ = load_run(run_dir)
    if not spec.report:
        return []
    folder = report_folder(run_dir)
    subtitle = f"{spec.name}: {model.name} trained by this library ({Path(run_dir).name})"
    paths = []
    for index, component in enumerate(spec.report):
        report = build_component(component)
        try:
            written = report.write(model, pipeline, folder, prefix=f"{index:02d}-{component.name}", subtitle=subtitle)
        except ValueError as error:  # the model cannot be read that way (no GAP head, no ReLU, a layer name not in it)
            raise UserError(f"report[{index}] {component.name}: {error}") from None
        paths.extend(written)
    return paths


def _classifier_only(pipeline, name: str) -> None:
    if pipeline.info.num_classes is None or pipeline.info.num_classes < 2:
        raise ValueError(f"{name} explains a class score; this run's model is not a classifier")


def _positive(report: str, **values) -> None:
    for key, value in values.items():
        if value < 1:
            raise UserError(f"report {report}: {key} must be at least 1, got {value}")


def _clip(pipeline):
    """The model's input range (synthesis clips to it), None when the preprocess ops leave it unknown."""
    from kerascv_suite.data.pipeline import input_value_range

    return input_value_range(pipeline.spec.data.preprocess)


@REPORTS.register("saliency")
class Saliency:
    """Which pixels matter: saliency maps of the predicted class over `n` test images, one column per method."""

    def __init__(self, methods: list[str] = ("gradient", "grad_cam", "integrated_gradients", "occlusion"), n: int = 6):
        """
        Args:
            methods: any of occlusion, gradient, guided_backprop, cam, grad_cam, integrated_gradients, smoothgrad
                (`kcv explain`'s methods); cam needs a network ending in global average pooling + one dense layer.
            n: test images drawn (rows).
        """
        from kerascv_suite.viz.explain import METHODS

        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise UserError(f"report saliency: unknown methods {unknown or '[]'}; allowed: {', '.join(METHODS)}")
        _positive("saliency", n=n)
        self.methods, self.n = list(methods), n

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz.explain import draw_saliency

        _classifier_only(pipeline, "saliency")
        x, labels = pipeline.examples("test", limit=self.n)
        path = folder / f"{prefix}.png"
        draw_saliency(model, x, labels, self.methods, list(pipeline.info.class_names), path, subtitle)
        return [path]


@REPORTS.register("filters")
class Filters:
    """What the first layer looks for: its convolution kernels as a grid of little images."""

    def __init__(self, layer: str | None = None):
        """
        Args:
            layer: a convolution's name (default: the first convolution); only first-layer filters live in pixel space.
        """
        self.layer = layer

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz import features

        conv = model.get_layer(self.layer) if self.layer else features.first_conv_layer(model)
        height, width, _, count = conv.kernel.shape
        path = folder / f"{prefix}.png"
        features.plot_filters(features.filter_grid(model, self.layer), path,
                              title=f"{subtitle}\n{conv.name}: {count} filters {height}×{width}, each scaled to its own range")
        return [path]


@REPORTS.register("activations")
class Activations:
    """Which channels of a layer fire where: every feature map of each named layer for one test image."""

    def __init__(self, layers: list[str], image: int = 0):
        """
        Args:
            layers: names of the model's layers (e.g. a block's activation); one PNG each.
            image: which test image (its index in the test split).
        """
        if not layers:
            raise UserError("report activations: layers must name at least one layer of the model")
        if image < 0:
            raise UserError(f"report activations: image must be a test index ≥ 0, got {image}")
        self.layers, self.image = list(layers), image

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz import features

        x, labels = pipeline.examples("test", limit=self.image + 1)
        if len(x) <= self.image:
            raise ValueError(f"image {self.image}: the test split has {len(x)} images")
        names, paths = pipeline.info.class_names, []
        for layer in self.layers:
            path = folder / f"{prefix}-{layer}.png"
            maps = features.layer_activations(model, x[self.image : self.image + 1], layer)[0]
            features.plot_activations(maps, path, title=f"{subtitle}\n{layer} on test image {self.image} ({names[int(labels[self.image])]})")
            paths.append(path)
        return paths


@REPORTS.register("embedding")
class Embedding:
    """Where the network puts the test images: a layer's features in 2-D by PCA or t-SNE, coloured by class, beside the images themselves."""

    def __init__(self, method: str = "tsne", layer: str | None = None, n: int = 400, seed: int = 0):
        """
        Args:
            method: pca or tsne (scikit-learn's).
            layer: whose output to embed (default: what the classifier head reads).
            n: test images embedded (the first n).
            seed: t-SNE's random_state.
        """
        from kerascv_suite.viz.features import METHODS

        if method not in METHODS:
            raise UserError(f"report embedding: method '{method}' is not one of {', '.join(METHODS)}")
        _positive("embedding", n=n)
        self.method, self.layer, self.n, self.seed = method, layer, n, seed

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz import features

        x, labels = pipeline.examples("test", limit=self.n)
        xy = features.embed_features(model, x, self.layer, method=self.method, seed=self.seed)
        path = folder / f"{prefix}.png"
        what = self.layer or "the classifier's input features"
        features.plot_embedding(xy, labels, path, images=x, class_names=list(pipeline.info.class_names),
                                title=f"{subtitle}\n{self.method.upper() if self.method == 'pca' else 't-SNE'} of {what}, {len(x)} test images")
        return [path]


@REPORTS.register("patches")
class Patches:
    """What a unit looks for: the test-image patches (its receptive fields) where each of a layer's channels is largest."""

    def __init__(self, layer: str, channels: list[int] = (0, 1, 2, 3), k: int = 8):
        """
        Args:
            layer: a layer of the model with spatial output [B, h, w, K].
            channels: which of its channels (one row each).
            k: patches per channel, from k different test images.
        """
        _positive("patches", k=k)
        if not channels or min(channels) < 0:
            raise UserError(f"report patches: channels must be channel indices ≥ 0, got {list(channels)}")
        self.layer, self.channels, self.k = layer, list(channels), k

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz import features

        x, _ = pipeline.examples("test")
        units = {f"{self.layer} #{c}": features.max_activating_patches(model, x, self.layer, c, k=min(self.k, len(x)))
                 for c in self.channels}
        path = folder / f"{prefix}.png"
        features.plot_patches(units, x, path, title=f"{subtitle}\nthe test images where each unit is largest, cropped to its receptive field")
        return [path]


@REPORTS.register("neighbours")
class Neighbours:
    """Nearest training images of test queries in pixel space beside those in the network's feature space (L2)."""

    def __init__(self, layer: str | None = None, queries: int = 6, k: int = 5):
        """
        Args:
            layer: the feature space (default: what the classifier head reads).
            queries: test images (rows), the first ones of the test split.
            k: neighbours shown per space.
        """
        _positive("neighbours", queries=queries, k=k)
        self.layer, self.queries, self.k = layer, queries, k

    def nearest(self, model, queries: np.ndarray, references: np.ndarray) -> dict[str, np.ndarray]:
        """Indices [Q, k] of each query's nearest references, nearest first, by pixel L2 and by feature L2 (scikit-learn)."""
        from sklearn.neighbors import NearestNeighbors

        from kerascv_suite.viz.features import features_of

        spaces = {"pixels": lambda images: images.reshape(len(images), -1),
                  self.layer or "features": lambda images: features_of(model, images, self.layer)}
        k = min(self.k, len(references))
        return {f"nearest by {name} L2": NearestNeighbors(n_neighbors=k).fit(embed(references)).kneighbors(embed(queries))[1]
                for name, embed in spaces.items()}

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz.pixel_space import plot_neighbours

        references, reference_labels = pipeline.examples("train")
        queries, query_labels = pipeline.examples("test", limit=self.queries)
        path = folder / f"{prefix}.png"
        plot_neighbours(queries, query_labels, references, reference_labels, self.nearest(model, queries, references), path,
                        class_names=list(pipeline.info.class_names), title=f"{subtitle}; green: the query's class")
        return [path]


@REPORTS.register("adversarial")
class Adversarial:
    """Fooling the network: FGSM and PGD accuracy against ε on the test split, attacked examples, and one image pushed to every class."""

    def __init__(self, epsilons: list[float] = (0.0, 0.02, 0.05, 0.1, 0.2), steps: int = 10, step_fraction: float = 0.25,
                 shown: int = 4, shown_epsilon: float = 0.1, n: int = 200, fooling: bool = True, seed: int = 0):
        """
        Args:
            epsilons: L∞ budgets of the curves, in the units of the model's input.
            steps, step_fraction: PGD's steps and their size as a fraction of ε (from a random start, `seed`).
            shown, shown_epsilon: test images drawn attacked, and at which ε.
            n: test images the curves are measured on (the first n).
            fooling: also push the first test image to every class (p ≥ 0.99, steps of 0.01 of the range, no ε bound).
        """
        _positive("adversarial", steps=steps, shown=shown, n=n)
        if not epsilons or min(epsilons) < 0 or shown_epsilon <= 0:
            raise UserError(f"report adversarial: epsilons must be ≥ 0 and shown_epsilon > 0, got {list(epsilons)} and {shown_epsilon}")
        self.epsilons, self.steps, self.step_fraction = list(epsilons), steps, step_fraction
        self.shown, self.shown_epsilon, self.n, self.fooling, self.seed = shown, shown_epsilon, n, fooling, seed

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz import adversarial

        _classifier_only(pipeline, "adversarial")
        value_range = _clip(pipeline)
        x, labels = pipeline.examples("test", limit=self.n)
        names = list(pipeline.info.class_names)
        rows = adversarial.attack_report(model, x, labels, self.epsilons, self.steps, self.step_fraction, seed=self.seed,
                                         value_range=value_range)
        paths = [folder / f"{prefix}-curves.png", folder / f"{prefix}-examples.png"]
        adversarial.plot_attack_curves(rows, paths[0], f"{subtitle}: {len(x)} test images attacked",
                                       f"PGD ({self.steps} steps of {self.step_fraction:g}·ε)", value_range)
        shown, shown_labels, eps = x[: self.shown], labels[: self.shown], self.shown_epsilon
        attacked = {"FGSM": adversarial.fgsm(model, shown, shown_labels, eps, value_range),
                    "PGD": adversarial.pgd(model, shown, shown_labels, eps, self.step_fraction * eps, self.steps, seed=self.seed,
                                           value_range=value_range)}
        adversarial.plot_adversarial_examples(model, shown, shown_labels, attacked, eps, paths[1], names,
                                              f"{subtitle}: ε = {eps:g} (L∞); prediction (softmax), red when wrong", value_range)
        if self.fooling:
            span = 1.0 if value_range is None else value_range[1] - value_range[0]
            fooled, steps, reached = adversarial.fooling_image(model, np.stack([x[0]] * len(names)), np.arange(len(names)),
                                                               step_size=0.01 * span, value_range=value_range)
            paths.append(folder / f"{prefix}-fooling.png")
            adversarial.plot_fooling(x[0], int(labels[0]), fooled, steps, reached, paths[2], names,
                                     f"{subtitle}: the first test image pushed to each class (p ≥ 0.99), and the change", value_range)
        return paths


@REPORTS.register("class_visualisation")
class ClassVisualisation:
    """An image per class that the model scores highly, by gradient ascent on the class score with L2, blur and jitter."""

    def __init__(self, classes: list[int] | None = None, steps: int = 200, learning_rate: float = 0.05, l2: float = 1e-3,
                 blur_every: int = 10, blur_sigma: float = 0.5, jitter: int = 2, seed: int = 0):
        """
        Args:
            classes: which classes (default: every class).
            steps, learning_rate: Adam steps on the image and their rate.
            l2, blur_every, blur_sigma, jitter: the regularisers of `viz.synthesis.class_visualisation`.
            seed: the starting noise and the jitter.
        """
        _positive("class_visualisation", steps=steps)
        self.classes = classes
        self.options = dict(steps=steps, learning_rate=learning_rate, l2=l2, blur_every=blur_every, blur_sigma=blur_sigma,
                            jitter=jitter, seed=seed)

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.ops.softmax import stable_softmax
        from kerascv_suite.viz import synthesis
        from kerascv_suite.viz.saliency import logits_of

        _classifier_only(pipeline, "class_visualisation")
        names = pipeline.info.class_names
        classes = list(range(len(names))) if self.classes is None else self.classes
        if max(classes) >= len(names) or min(classes) < 0:
            raise ValueError(f"classes {classes}: the model has classes 0–{len(names) - 1}")
        clip = _clip(pipeline)
        images, _ = synthesis.class_visualisation(model, classes, pipeline.info.input_shape, clip=clip, **self.options)
        probabilities = stable_softmax(logits_of(model, images))
        path = folder / f"{prefix}.png"
        synthesis.plot_synthesis({"class visualisation": images}, path,
                                 {"class visualisation": [f"{names[c]}: p = {probabilities[i, c]:.2f}" for i, c in enumerate(classes)]},
                                 title=f"{subtitle}: images the model scores as each class (p: its softmax probability)", value_range=clip)
        return [path]


@REPORTS.register("feature_inversion")
class FeatureInversion:
    """What a layer keeps of an image: images reconstructed from its features alone, with a total-variation prior."""

    def __init__(self, layers: list[str], images: int = 3, steps: int = 300, tv_weight: float = 1e-3, learning_rate: float = 0.05, seed: int = 0):
        """
        Args:
            layers: the layers inverted (one row each); deeper layers keep less of the image.
            images: the first test images inverted.
            steps, learning_rate: Adam steps on the image and their rate.
            tv_weight: weight of the total-variation prior.
            seed: the starting noise.
        """
        if not layers:
            raise UserError("report feature_inversion: layers must name at least one layer of the model")
        _positive("feature_inversion", images=images, steps=steps)
        self.layers, self.images = list(layers), images
        self.options = dict(steps=steps, tv_weight=tv_weight, learning_rate=learning_rate, seed=seed)

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz import synthesis

        x, _ = pipeline.examples("test", limit=self.images)
        clip = _clip(pipeline)
        rows, captions = {"original": x}, {}
        for layer in self.layers:
            inverted, _ = synthesis.feature_inversion(model, x, layer, clip=clip, **self.options)
            rows[f"from {layer}"] = inverted
            captions[f"from {layer}"] = [f"rel. error {e:.3f}" for e in synthesis.feature_loss(model, inverted, layer, x)]
        path = folder / f"{prefix}.png"
        synthesis.plot_synthesis(rows, path, captions, title=f"{subtitle}: test images rebuilt from one layer's features", value_range=clip)
        return [path]


@REPORTS.register("deep_dream")
class DeepDream:
    """What a layer amplifies: DeepDream of a test image (ascend the layer's activation norm over octaves, with jitter)."""

    def __init__(self, layers: list[str], image: int = 0, steps: int = 20, octaves: int = 3, octave_scale: float = 1.4,
                 step_size: float = 0.01, jitter: int = 2, seed: int = 0):
        """
        Args:
            layers: the layers dreamed (one column each).
            image: which test image.
            steps, step_size: gradient-ascent steps per octave and their normalised size.
            octaves, octave_scale: image scales, each octave_scale larger than the last.
            jitter, seed: the random roll of each step.
        """
        if not layers:
            raise UserError("report deep_dream: layers must name at least one layer of the model")
        _positive("deep_dream", steps=steps, octaves=octaves)
        self.layers, self.image = list(layers), image
        self.options = dict(steps=steps, octaves=octaves, octave_scale=octave_scale, step_size=step_size, jitter=jitter, seed=seed)

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz import synthesis

        x, _ = pipeline.examples("test", limit=self.image + 1)
        if len(x) <= self.image:
            raise ValueError(f"image {self.image}: the test split has {len(x)} images")
        clip = _clip(pipeline)
        dreams = [synthesis.deep_dream(model, x[self.image], layer, clip=clip, **self.options)[0] for layer in self.layers]
        path = folder / f"{prefix}.png"
        synthesis.plot_synthesis({"DeepDream": np.stack([x[self.image], *dreams])}, path,
                                 {"DeepDream": ["original", *self.layers]}, title=f"{subtitle}: DeepDream", value_range=clip)
        return [path]


__all__ = ["write_reports", "report_folder"]
