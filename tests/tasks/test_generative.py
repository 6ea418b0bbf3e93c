"""The generative task end to end: a smoke-trained conv VAE's run folder, its pictures, and `kcv generate`."""

import json

import numpy as np
import pytest
from PIL import Image

from kerascv_suite.cli import main
from kerascv_suite.spec import load_spec
from kerascv_suite.tasks.generative import latent_traversal
from kerascv_suite.training.trainer import load_run, train
from tests.conftest import PIPELINES


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    spec = load_spec(PIPELINES / "generative" / "vae_conv_2d.yaml")
    return train(spec, runs_dir=tmp_path_factory.mktemp("runs"), smoke=True)


def test_metrics_are_the_negative_elbo_and_its_terms(vae_run):
    metrics = json.loads((vae_run.run_dir / "metrics.json").read_text())
    test = metrics["test"]
    assert set(test) == {"loss", "reconstruction", "kl"}
    assert test["loss"] == pytest.approx(test["reconstruction"] + test["kl"], rel=1e-5)
    assert metrics["pictures"] == {"samples": "samples.png", "reconstructions": "reconstructions.png",
                                   "latent_traversal": "latent_traversal.png"}
    assert "per_class" not in metrics


def test_pictures_are_real_pngs(vae_run):
    for name in ("samples.png", "reconstructions.png", "latent_traversal.png", "curves.png"):
        with Image.open(vae_run.run_dir / name) as image:
            assert image.format == "PNG" and min(image.size) > 100, name


def test_the_traversal_walks_the_first_two_latents_over_the_prior_quantiles(vae_run):
    _, _, model, _ = load_run(vae_run.run_dir)
    grid = latent_traversal(model, 3)
    assert grid.shape == (9, 28, 28, 1)
    np.testing.assert_allclose(grid[4], np.asarray(model.decode(np.zeros((1, 2), "float32")))[0], atol=1e-6)  # the centre is z = 0


def test_generate_writes_a_png_and_uint8_samples_and_never_overwrites(vae_run, tmp_path, capsys):
    out = tmp_path / "eight.png"
    assert main(["generate", str(vae_run.run_dir), "--n", "8", "--seed", "3", "--out", str(out)]) == 0
    samples = np.load(out.with_suffix(".npy"))
    assert samples.shape == (8, 28, 28, 1) and samples.dtype == np.uint8
    _, _, model, _ = load_run(vae_run.run_dir)
    np.testing.assert_array_equal(samples, np.round(np.asarray(model.sample(8, seed=3)) * 255).astype(np.uint8))
    with Image.open(out) as image:
        assert image.format == "PNG"
    capsys.readouterr()
    assert main(["generate", str(vae_run.run_dir), "--n", "8", "--seed", "3", "--out", str(out)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert main(["generate", str(vae_run.run_dir)]) == 0
    assert (vae_run.run_dir / "generated" / "samples-64-seed0.png").is_file()


def test_generate_refuses_a_classifier_run_and_a_folder_without_a_model(tmp_path, capsys):
    assert main(["run", str(PIPELINES / "classification" / "softmax.yaml"), "--smoke", "--runs-dir", str(tmp_path)]) == 0
    (run_dir,) = (tmp_path / "softmax_digits").iterdir()
    capsys.readouterr()
    assert main(["generate", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not generate images" in err and err.count("\n") == 1
    assert main(["generate", str(tmp_path)]) == 2
    assert "no model.keras" in capsys.readouterr().err


def test_a_sample_grid_is_drawn_after_every_epoch(vae_run):
    with Image.open(vae_run.run_dir / "samples" / "epoch_001.png") as image:
        assert image.format == "PNG"
    assert sorted(p.name for p in (vae_run.run_dir / "samples").iterdir()) == ["epoch_001.png"]  # smoke: one epoch


def test_the_decoder_exports_as_a_savedmodel_from_latents_to_uint8_images(vae_run, tmp_path, capsys):
    import tensorflow as tf

    assert main(["export", str(vae_run.run_dir), "--directory", str(tmp_path)]) == 0
    assert "images" in capsys.readouterr().out
    served = tf.saved_model.load(str(tmp_path / "vae_conv_2d_mnist" / "1")).signatures["serving_default"]
    latents = np.array([[0.0, 0.0], [1.5, -0.5]], "float32")
    pixels = served(latents=tf.constant(latents))["images"].numpy()
    _, _, model, _ = load_run(vae_run.run_dir)
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 28, 28, 1)
    assert np.max(np.abs(pixels - np.asarray(model.decode(latents)) * 255)) <= 0.5 + 1e-3
    assert main(["export", str(vae_run.run_dir), "--directory", str(tmp_path), "--tflite", "int8"]) == 2
    assert "TFLite files and REST request files are written for models served from images" in capsys.readouterr().err
