"""kcv explain: a finished run's saliency maps over its test images or named files, never overwriting."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kerascv_suite.cli import main
from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import train
from tests.conftest import PIPELINES


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory):
    """A smoke run of the 32×32 ResNet-20 (global average pooling + one dense layer, ReLUs)."""
    spec = load_spec(PIPELINES / "architectures" / "resnet20.yaml")
    return train(spec, runs_dir=tmp_path_factory.mktemp("runs"), smoke=True).run_dir


def test_every_method_draws_over_the_test_images_into_the_run_folder(resnet_run, capsys):
    assert main(["explain", "all", str(resnet_run), "--n", "2"]) == 0
    (picture,) = (resnet_run / "explain").glob("all-*.png")
    assert f"wrote {picture}" in capsys.readouterr().out and picture.stat().st_size > 20_000
    assert main(["explain", "grad_cam", str(resnet_run), "--n", "1"]) == 0
    assert len(list((resnet_run / "explain").glob("*.png"))) == 2   # a second call adds, never replaces


def test_named_files_are_decoded_resized_and_explained(resnet_run, tmp_path):
    digit = np.zeros((20, 20), np.uint8)
    digit[4:16, 9:12] = 255                                       # a "1", at another size than the source's 8×8
    Image.fromarray(digit).save(tmp_path / "one.png")
    np.save(tmp_path / "two.npy", np.full((2, 8, 8, 1), 128, np.uint8))
    out = tmp_path / "maps.png"
    assert main(["explain", "gradient", str(resnet_run), "--image", str(tmp_path / "one.png"),
                 "--image", str(tmp_path / "two.npy"), "--out", str(out)]) == 0
    assert out.stat().st_size > 5_000
    assert main(["explain", "gradient", str(resnet_run), "--n", "1", "--out", str(out)]) == 2   # exists: refused


@pytest.mark.parametrize("args, message", [
    (["explain", "saliency", "RUN"], "unknown method 'saliency'; allowed: occlusion, gradient"),
    (["explain", "gradient", "RUN", "--n", "0"], "--n must be at least 1"),
    (["explain", "gradient", "RUN", "--image", "missing.png"], "missing.png: file not found"),
])
def test_bad_requests_are_one_line_errors(resnet_run, args, message, capsys):
    args = [str(resnet_run) if a == "RUN" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
