"""Generative modelling: the model owns its training objective, the run reports pictures of what it generates.

A generative model (the autoencoders, the VAE and the GANs; PixelCNN and diffusion are not built yet) brings its own
`train_step` and `test_step` and logs its own losses (for the VAE: `loss` = −ELBO,
`reconstruction`, `kl`), so this task compiles no loss and no metrics. Its report asks the model
for what it can draw, through methods the generative families share:

- `sample(n, seed)`, for models with a prior: images from the model (samples.png);
- `reconstruct(images)`, for models with an encoder: test images next to their reconstructions
  (reconstructions.png);
- `decode(latents)` with a `prior` and a `latent_dim`: a traversal of the first two latent dimensions over the
  prior's quantiles 5 %…95 %, the others at 0 (latent_traversal.png).

While training, a callback draws a grid from the same seeded latents after every epoch
(samples/epoch_NNN.png), so the grids show one sample set improving. A SavedModel export
serves the model's `image_generator()` (a GAN's generator, an autoencoder's decoder): latent
vectors (and labels, conditional) in, uint8 images out (`export.serving.GeneratorModule`).

Labels in the batches are ignored, except by class-conditional models.

Example (YAML)::

    task: generative
    model: {name: vae, latent_dim: 8}
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from pydantic import NonNegativeInt, PositiveInt

from kerascv_suite.data.examples import IMAGES
from kerascv_suite.registry import TASKS
from kerascv_suite.tasks.base import Task
from kerascv_suite.viz.plots import tile_images


@TASKS.register("generative")
class Generative(Task):
    """A model with its own train_step; the run writes samples, reconstructions and a latent traversal.

    Args:
        samples: how many generated images samples.png shows.
        traversal_steps: the traversal grid is traversal_steps × traversal_steps.
        seed: seed of the samples drawn for the report and the epoch grids.
        epoch_samples: how many images the grid drawn after each epoch shows (0: no epoch grids).
        columns: images per row of samples.png and the epoch grids (10 puts one digit per column
            for a class-conditional model, which draws the classes in turn).
    """

    def __init__(self, samples: PositiveInt = 64, traversal_steps: PositiveInt = 12, seed: int = 0, epoch_samples: NonNegativeInt = 64,
                 columns: PositiveInt = 8):
        self.samples, self.traversal_steps, self.seed, self.epoch_samples = samples, traversal_steps, seed, epoch_samples
        self.columns = columns

    requires = frozenset({IMAGES})  # labels too, for class-conditional models (every CLASSIC source has them)

    def callbacks(self, model: keras.Model, run_dir: Path) -> list:
        """A sample grid after every epoch, for models that sample."""
        if not self.epoch_samples or not hasattr(model, "sample"):
            return []
        return [SampleGrids(Path(run_dir) / "samples", self.epoch_samples, self.seed, self.columns)]

    def serving_module(self, model: keras.Model, pipeline):
        """What a SavedModel export serves: the model's image generator (`GeneratorModule`)."""
        from kerascv_suite.export.serving import GeneratorModule
        from kerascv_suite.spec.errors import UserError

        if not hasattr(model, "image_generator"):
            raise UserError(f"export: {type(model).__name__} has no generator or decoder to export")
        return GeneratorModule(model)

    def report(self, model: keras.Model, examples: dict, class_names: list[str], run_dir: Path) -> dict:
        """Write samples.png, reconstructions.png and latent_traversal.png (what the model supports); list them."""
        run_dir, images = Path(run_dir), examples[IMAGES]
        written = {}
        if hasattr(model, "sample"):
            tile_images(np.asarray(model.sample(self.samples, seed=self.seed)), run_dir / "samples.png", columns=self.columns,
                        title="samples")
            written["samples"] = "samples.png"
        if hasattr(model, "reconstruct"):
            originals = images[:32]
            rebuilt = np.asarray(model.reconstruct(originals))
            pairs = np.stack([originals, rebuilt], axis=1).reshape(-1, *originals.shape[1:])  # original, reconstruction, ...
            tile_images(pairs, run_dir / "reconstructions.png", columns=16, title="test images and their reconstructions")
            written["reconstructions"] = "reconstructions.png"
        if hasattr(model, "prior") and getattr(model, "latent_dim", 0) >= 2:
            tile_images(latent_traversal(model, self.traversal_steps), run_dir / "latent_traversal.png",
                        columns=self.traversal_steps, title="z₁ (down) × z₂ (across), other dimensions 0")
            written["latent_traversal"] = "latent_traversal.png"
        return {"pictures": written}


class SampleGrids(keras.callbacks.Callback):
    """After each epoch, `n` samples from the same seeded latents as `folder`/epoch_NNN.png (epochs from 1), `columns` per row."""

    def __init__(self, folder: Path, n: int, seed: int, columns: int = 8):
        super().__init__()
        self.folder, self.n, self.seed, self.columns = Path(folder), n, seed, columns

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        tile_images(np.asarray(self.model.sample(self.n, seed=self.seed)), self.folder / f"epoch_{epoch + 1:03d}.png",
                    columns=self.columns, title=f"epoch {epoch + 1}")


def latent_traversal(model, steps: int) -> np.ndarray:
    """Decoded images over a steps × steps grid of (z₁, z₂) at the N(0, 1) quantiles 5 %…95 %, other dimensions 0."""
    from scipy.stats import norm

    values = norm.ppf(np.linspace(0.05, 0.95, steps)).astype(np.float32)
    grid = np.zeros((steps * steps, model.latent_dim), np.float32)
    grid[:, 0] = np.repeat(values, steps)
    grid[:, 1] = np.tile(values, steps)
    return np.asarray(model.decode(grid))


def generate(run_dir: str | Path, n: int = 64, seed: int = 0, out: str | Path | None = None) -> Path:
    """`kcv generate`: `n` samples of a finished generative run's saved model, as a PNG and a uint8 .npy.

    By default they go to RUN_DIR/generated/samples-<n>-seed<seed>.{png,npy}; an existing file is
    never written over.
    """
    from kerascv_suite.core.runs import load_saved_model
    from kerascv_suite.spec.errors import UserError

    run_dir = Path(run_dir)
    model = load_saved_model(run_dir)
    if not hasattr(model, "sample"):
        raise UserError(f"{run_dir}: its model ({type(model).__name__}) does not generate images; generative models have sample()")
    path = Path(out) if out else run_dir / "generated" / f"samples-{n}-seed{seed}.png"
    if path.suffix != ".png":
        raise UserError(f"--out {path}: give a .png path (the .npy goes beside it)")
    if path.exists() or path.with_suffix(".npy").exists():
        raise UserError(f"{path} already exists; results are never overwritten (choose another --out or --seed)")
    path.parent.mkdir(parents=True, exist_ok=True)
    from kerascv_suite.export.serving import unit_to_pixels

    images = np.asarray(model.sample(n, seed=seed))
    np.save(path.with_suffix(".npy"), unit_to_pixels(images).numpy())
    tile_images(images, path, title=f"{n} samples, seed {seed}")
    return path
