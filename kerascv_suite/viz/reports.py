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
        if n < 1:
            raise UserError(f"report saliency: n must be at least 1, got {n}")
        self.methods, self.n = list(methods), n

    def write(self, model, pipeline, folder: Path, prefix: str, subtitle: str) -> list[Path]:
        from kerascv_suite.viz import saliency
        from kerascv_suite.viz.explain import METHODS

        _classifier_only(pipeline, "saliency")
        x, labels = pipeline.examples("test", limit=self.n)
        predicted = saliency.target_classes(model, x)
        names = list(pipeline.info.class_names)
        maps = {METHODS[m][1]: getattr(saliency, METHODS[m][0])(model, x, predicted) for m in self.methods}
        path = folder / f"{prefix}.png"
        saliency.overlay(x, maps, path, titles=[f"{names[int(t)]}, predicted {names[int(p)]}" for t, p in zip(labels, predicted)],
                         title=f"{subtitle}; maps explain the predicted class")
        return [path]


__all__ = ["write_reports", "report_folder", "Saliency"]
