"""The `kcv` commands, called in process through `kerascv_suite.cli.main`."""

import json
import re

import pytest

from kerascv_suite.cli import main
from tests.conftest import PIPELINES

SOFTMAX = str(PIPELINES / "classification" / "softmax.yaml")


def test_validate_builds_the_model_and_traces_a_batch(capsys):
    assert main(["validate", str(PIPELINES / "classification" / "lenet5.yaml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "61,706 parameters" in out and "(32, 32, 32, 1)" in out and "(32, 10)" in out


def test_validate_a_conditional_gan_gives_its_discriminator_the_labels(capsys):
    assert main(["validate", str(PIPELINES / "generative" / "conditional_gan.yaml"), "--set", "model.filters=8"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "(64, 28, 28, 1) to (64, 1)" in out


def test_run_check_init_reports_log_c(capsys):
    assert main(["run", SOFTMAX, "--check-init"]) == 0
    out = capsys.readouterr().out
    assert "expected ≈ log(10) = 2.3026" in out and "regularisation off for the check: L1/L2 penalty on 1 weight" in out
    assert "with the L1/L2 penalties on: " in out and "higher, as it must be: OK" in out


def test_run_overfit_reports_success(capsys):
    assert main(["run", str(PIPELINES / "classification" / "mlp.yaml"), "--overfit", "16"]) == 0
    out = capsys.readouterr().out
    assert "overfit 16 examples: reached 100% training accuracy" in out and "regularisation off for the check: L1/L2" in out


def test_run_prints_test_metrics_and_the_run_folder_then_eval_agrees(tmp_path, capsys):
    assert main(["run", SOFTMAX, "--set", "train.epochs=2", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    run_dir = next((tmp_path / "softmax_digits").iterdir())
    assert f"wrote {run_dir}/" in out and "test: accuracy" in out
    saved = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert main(["eval", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    assert f"accuracy {saved['accuracy']:.4f}" in printed and f"loss {saved['loss']:.4f}" in printed


def test_eval_of_a_folder_that_is_not_a_run_is_a_user_error(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_data_writes_a_grid_of_augmented_samples(tmp_path, capsys):
    spec = tmp_path / "aug.yaml"
    spec.write_text(f"base: {PIPELINES / 'classification' / 'lenet5.yaml'}\n"
                    "data: {augment: [{name: random_rotation, degrees: 15}, {name: random_translation}]}\n")
    out = tmp_path / "grid.png"
    assert main(["data", str(spec), "--out", str(out), "--count", "12"]) == 0
    assert out.stat().st_size > 0 and "12 augmented training samples" in capsys.readouterr().out


def test_data_draws_boxes_masks_keypoints_and_captions_of_structured_examples(tmp_path, capsys):
    out = tmp_path / "scenes.png"
    spec = str(PIPELINES / "segmentation" / "fcn_shapes.yaml")
    assert main(["data", spec, "--set", "data.source.num_images=80", "--out", str(out), "--count", "8"]) == 0
    assert out.stat().st_size > 0
    assert "8 augmented training samples with boxes, semantic_mask, keypoints, captions" in capsys.readouterr().out


def test_data_export_coco_writes_what_pycocotools_reads(tmp_path, capsys):
    from pycocotools.coco import COCO

    spec = str(PIPELINES / "segmentation" / "fcn_shapes.yaml")
    assert main(["data", "export-coco", spec, str(tmp_path / "coco"), "--set", "data.source.num_images=12"]) == 0
    assert "wrote 12 images" in capsys.readouterr().out
    coco = COCO(str(tmp_path / "coco" / "annotations.json"))
    assert len(coco.getImgIds()) == 12 and len(coco.getAnnIds()) >= 12
    assert main(["data", "export-coco", spec, str(tmp_path / "coco"), "--set", "data.source.num_images=12"]) == 2   # never overwritten


def test_show_names_origins(capsys):
    assert main(["show", SOFTMAX, "--set", "train.epochs=3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("epochs: 3" in line and "# --set train.epochs=3" in line for line in lines)
    assert any("learning_rate: 0.01" in line and "softmax.yaml:" in line for line in lines)
    assert any("batch_size: 32" in line and "digits.yaml:" in line for line in lines)
    assert any("shuffle_buffer: 10000" in line and "# default" in line for line in lines)


@pytest.mark.parametrize("spec, option", [(SOFTMAX, ["--overfit", "0"]),
                                          (str(PIPELINES / "generative" / "dcgan.yaml"), ["--overfit", "8"])])
def test_bad_run_options_are_user_errors(spec, option, capsys):
    assert main(["run", spec, *option]) == 2
    assert "error: --overfit" in capsys.readouterr().err


def test_graph_counts_ops_and_writes_the_graph(tmp_path, capsys):
    assert main(["graph", str(PIPELINES / "classification" / "lenet5.yaml"), "--logdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    before, after = (int(n) for n in re.search(r"(\d+) ops as traced, (\d+) after Grappler", out).groups())
    assert after < before
    assert list(tmp_path.glob("events.out.tfevents.*"))
