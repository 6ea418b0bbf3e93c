"""The spec's report list: registered pictures of a finished run's model, drawn into a new <run>/report*/ folder."""

from __future__ import annotations

import numpy as np
import pytest

from kerascv_suite.cli import main
from kerascv_suite.data.pipeline import input_value_range
from kerascv_suite.spec import SpecError, build_component, load_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.training.trainer import load_run, train
from kerascv_suite.viz.reports import write_reports
from tests.conftest import PIPELINES

REPORT = ("[{name: filters}, {name: neighbours, layer: f6_act, queries: 3, k: 4}, "
          "{name: class_visualisation, classes: [0, 1], steps: 3}, {name: patches, layer: c3_act, channels: [0], k: 2}]")


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    """A smoke run of LeNet-5 on the digits with a few cheap reports."""
    spec = load_spec(PIPELINES / "classification" / "lenet5.yaml", overrides=[f"report={REPORT}"])
    return train(spec, runs_dir=tmp_path_factory.mktemp("runs"), smoke=True).run_dir


def test_reports_go_to_a_new_folder_each_time_and_never_over_the_last(lenet_run):
    first = write_reports(lenet_run)
    assert [p.name for p in first] == ["00-filters.png", "01-neighbours.png", "02-class_visualisation.png", "03-patches.png"]
    assert {p.parent.name for p in first} == {"report"} and all(p.stat().st_size > 5_000 for p in first)
    stamp = first[0].stat().st_mtime_ns
    second = write_reports(lenet_run)
    assert {p.parent.name for p in second} == {"report-2"} and first[0].stat().st_mtime_ns == stamp


def test_kcv_report_draws_a_finished_run_and_refuses_one_without_a_report(lenet_run, tmp_path, capsys):
    assert main(["report", str(lenet_run)]) == 0
    assert "report-" in capsys.readouterr().out
    plain = train(load_spec(PIPELINES / "classification" / "softmax.yaml"), runs_dir=tmp_path, smoke=True).run_dir
    assert main(["report", str(plain)]) == 2
    assert "its spec has no report list" in capsys.readouterr().err


def test_neighbours_are_the_nearest_by_pixel_and_by_feature_distance(lenet_run):
    from kerascv_suite.viz.features import features_of

    spec, pipeline, model, _ = load_run(lenet_run)
    report = build_component(spec.report[1])
    references, _ = pipeline.examples("train")
    queries, _ = pipeline.examples("test", limit=3)
    found = report.nearest(model, queries, references)
    for name, (q, r) in {"nearest by pixels L2": (queries.reshape(3, -1), references.reshape(len(references), -1)),
                         "nearest by f6_act L2": (features_of(model, queries, "f6_act"), features_of(model, references, "f6_act"))}.items():
        distances = np.linalg.norm(q[:, None] - r[None], axis=-1)
        np.testing.assert_allclose(np.take_along_axis(distances, found[name], 1), np.sort(distances, 1)[:, :4], rtol=1e-5)


def test_the_adversarial_report_draws_curves_examples_and_fooling_images(lenet_run, tmp_path):
    spec = load_spec(PIPELINES / "classification" / "lenet5.yaml",
                     overrides=["report=[{name: adversarial, epsilons: [0.0, 0.1], steps: 2, n: 16, shown: 2}]"])
    _, pipeline, model, _ = load_run(lenet_run)
    paths = build_component(spec.report[0]).write(model, pipeline, tmp_path, "00-adversarial", "LeNet-5")
    assert [p.name for p in paths] == ["00-adversarial-curves.png", "00-adversarial-examples.png", "00-adversarial-fooling.png"]
    assert all(p.stat().st_size > 5_000 for p in paths)


def test_a_report_naming_a_layer_the_model_lacks_is_a_one_line_error(lenet_run, tmp_path):
    spec = load_spec(PIPELINES / "classification" / "lenet5.yaml", overrides=["report=[{name: activations, layers: [conv9]}]"])
    run_dir = train(spec, runs_dir=tmp_path, smoke=True).run_dir
    with pytest.raises(UserError, match=r"report\[0\] activations: .*conv9"):
        write_reports(run_dir)


@pytest.mark.parametrize("report, message", [
    ("[{name: saliency, methods: [heatmap]}]", "unknown methods ['heatmap']"),
    ("[{name: embedding, method: umap}]", "method 'umap' is not one of pca, tsne"),
    ("[{name: filterz}]", "did you mean 'filters'"),
    ("[{name: patches, layer: c3_act, k: 0}]", "k must be at least 1"),
])
def test_bad_report_entries_are_refused(report, message):
    with pytest.raises((SpecError, UserError), match=message.replace("[", r"\[").replace("]", r"\]")):
        spec = load_spec(PIPELINES / "classification" / "lenet5.yaml", overrides=[f"report={report}"])
        [build_component(entry) for entry in spec.report]


def test_a_spec_without_a_report_dumps_as_before():
    from kerascv_suite.spec import dump_spec

    assert "report" not in dump_spec(load_spec(PIPELINES / "classification" / "lenet5.yaml"))


def test_the_input_range_follows_resize_and_rescale_and_is_unknown_after_other_ops():
    assert input_value_range(load_spec(PIPELINES / "classification" / "lenet5.yaml").data.preprocess) == (0.0, 1.0)
    assert input_value_range([{"name": "rescale", "scale": 2 / 255, "offset": -1.0}]) == (-1.0, 1.0)
    assert input_value_range([{"name": "rescale", "scale": 1 / 255, "offset": 0.0}, {"name": "normalize"}]) is None
