"""Activation statistics of a deep network at initialisation, one row per weight initialiser.

The experiment of the syllabus's "Training neural networks I": push one batch through an
untrained deep MLP (10 tanh layers of 500 units in CS231n) and look at each hidden layer's
activations. With small Gaussian weights (N(0, 0.01²)) every layer scales its input down, so
the activations, and with them the gradients, collapse to 0 layer after layer; with too-large
weights tanh saturates at ±1 (`gaussian(1.0)`), and all-zero weights give every unit the same output; Xavier/Glorot weights (Var(W) = 2 / (fan_in + fan_out)) keep
tanh activations spread, and He weights (Var(W) = 2 / fan_in) do the same for ReLU, which
zeroes half of its inputs. Nothing is trained: the model is built once per initialiser and run
forward on the same batch.

Any model whose builder takes `kernel_initializer` and names its activation layers
`hidden{i}_act` (counting from 1) qualifies; `mlp` does.

Example::

    spec = load_spec("pipelines/training/activations_tanh.yaml")
    stats = activation_statistics(spec)                  # every initialiser, 500 training images
    stats.std["small_gaussian"][-1]                      # ≈ 0: collapsed by the last layer
    write_activation_report(stats)                       # runs/activations_tanh/activations/<timestamp>/
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascv_suite.spec.errors import UserError

# Output ranges of the bounded activations; the others' histograms share the range the data spans.
BOUNDED_RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
BINS = 50
_HIDDEN_ACT = re.compile(r"^hidden(\d+)_act$")


@dataclass
class ActivationStatistics:
    """Per-layer statistics of one batch's hidden activations under each initialiser.

    Attributes:
        spec_name, model, activation: what was measured (`activation` is None when the model
            has no `activation` argument).
        examples: how many training images the batch held.
        layers: the measured layers, `hidden1_act`, `hidden2_act`, ... in depth order.
        mean, std: initialiser → one value per layer, over every unit and example.
        zeros: initialiser → fraction of activations exactly 0 per layer (ReLU's dead half).
        edges: the histogram bin edges every histogram shares.
        histograms: initialiser → one count array per layer (exact zeros left out when they are
            more than 1% of a layer, so ReLU's spike does not flatten the rest; see `zeros`;
            values beyond the range count in the edge bins).
    """

    spec_name: str
    model: str
    activation: str | None
    examples: int
    layers: list[str]
    mean: dict[str, list[float]] = field(default_factory=dict)
    std: dict[str, list[float]] = field(default_factory=dict)
    zeros: dict[str, list[float]] = field(default_factory=dict)
    edges: np.ndarray | None = None
    histograms: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @property
    def initializers(self) -> list[str]:
        return list(self.std)

    def rows(self) -> list[dict]:
        """One row per (initialiser, layer): the table activations.json and activations.md hold."""
        return [
            {"initializer": init, "layer": layer, "mean": self.mean[init][i], "std": self.std[init][i], "zeros": self.zeros[init][i]}
            for init in self.initializers for i, layer in enumerate(self.layers)
        ]

    def table(self) -> str:
        """Plain-text tables, initialisers × layers: the std, then the mean, of each layer's activations."""
        short = [_short(layer) for layer in self.layers]
        width = max(len(init) for init in self.initializers) + 2
        lines = [f"activations of '{self.model}' ({self.activation or 'its activation'}) at initialisation, "
                 f"{self.examples} training images of '{self.spec_name}'"]
        for title, values in (("std", self.std), ("mean", self.mean)):
            lines.append(f"{title:<{width}}" + "".join(f"{name:>10}" for name in short))
            lines += [f"{init:<{width}}" + "".join(f"{v:>10.3g}" for v in values[init]) for init in self.initializers]
        return "\n".join(lines)


def _short(layer: str) -> str:
    return layer.removesuffix("_act")


def _hidden_layers(model) -> list[str]:
    found = [(int(m.group(1)), layer.name) for layer in model.layers if (m := _HIDDEN_ACT.match(layer.name))]
    return [name for _, name in sorted(found)]


def _with_initializer(spec, name: str):
    """The spec with `model.kernel_initializer` replaced, validated by the model's own argument type."""
    from pydantic import ValidationError

    component = type(spec.model)
    try:
        model = component.model_validate({**spec.model.model_dump(), "kernel_initializer": name})
    except ValidationError as error:
        raise UserError(f"initializer '{name}' is not allowed for model '{spec.model.name}': {error.errors()[0]['msg']}") from None
    return spec.model_copy(update={"model": model})


def activation_statistics(spec, initializers: list[str] | None = None, batch: int = 500) -> ActivationStatistics:
    """Build the spec's model once per initialiser, run one training batch forward, measure `hidden{i}_act`.

    Args:
        spec: a loaded spec whose model takes `kernel_initializer` and has `hidden{i}_act`
            layers (an `mlp`).
        initializers: the initialiser names to compare (default:
            `kerascv_suite.layers.initializers.COMPARED`: all-zero weights, small and too-large
            Gaussians, Xavier and He).
        batch: how many training images (preprocessed, not augmented) to push through.

    Returns the statistics; `write_activation_report` turns them into a PNG and tables.
    Raises `UserError` (one line) for a model without those layers or argument.

    Example::

        stats = activation_statistics(load_spec("pipelines/training/activations_relu.yaml"), ["he_normal"])
        stats.std["he_normal"]          # one std per hidden layer, none collapsing
    """
    import keras

    from kerascv_suite.data.pipeline import DataPipeline
    from kerascv_suite.layers.initializers import COMPARED
    from kerascv_suite.models import build_model

    if batch < 1:
        raise UserError(f"batch: must be at least 1, got {batch}")
    if "kernel_initializer" not in type(spec.model).model_fields:
        raise UserError(f"model '{spec.model.name}' has no kernel_initializer argument; activation statistics "
                        f"need a model such as mlp with hidden{{i}}_act layers")
    variants = {name: _with_initializer(spec, name) for name in (initializers or COMPARED)}
    # one batch is read once: caching the split would only be cut short
    pipeline = DataPipeline(spec.model_copy(update={"data": spec.data.model_copy(update={"cache": False})}))
    images, _ = pipeline.examples("train", limit=batch)
    stats = ActivationStatistics(spec.name, spec.model.name, getattr(spec.model, "activation", None), len(images), [])
    activations: dict[str, list[np.ndarray]] = {}
    for name, variant in variants.items():
        keras.utils.set_random_seed(spec.train.seed)
        model = build_model(variant, pipeline.info)
        layers = _hidden_layers(model)
        if not layers:
            raise UserError(f"model '{spec.model.name}' has no hidden{{i}}_act layers to measure; "
                            f"activation statistics need a model such as mlp")
        probe = keras.Model(model.input, [model.get_layer(layer).output for layer in layers])
        outputs = probe(images, training=False)
        outputs = [keras.ops.convert_to_numpy(o).ravel() for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
        stats.layers = layers
        activations[name] = outputs
        stats.mean[name] = [float(o.mean(dtype=np.float64)) for o in outputs]
        stats.std[name] = [float(o.std(dtype=np.float64)) for o in outputs]
        stats.zeros[name] = [float(np.mean(o == 0)) for o in outputs]
    stats.edges = np.linspace(*_histogram_range(stats.activation, activations), BINS + 1)
    for name, outputs in activations.items():
        stats.histograms[name] = [_histogram(o, stats.edges) for o in outputs]
    return stats


def _histogram_range(activation: str | None, activations: dict[str, list[np.ndarray]]) -> tuple[float, float]:
    """The activation's output range if it is bounded, else the 0.5–99.5th percentiles of every layer (0 included)."""
    if activation in BOUNDED_RANGES:
        return BOUNDED_RANGES[activation]
    values = [o for outputs in activations.values() for o in outputs]
    low = min(0.0, *(float(np.percentile(o, 0.5)) for o in values))
    high = max(0.0, *(float(np.percentile(o, 99.5)) for o in values))
    return (low, high) if high > low else (low - 1.0, high + 1.0)


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    if np.mean(values == 0) > 0.01:
        values = values[values != 0]
    return np.histogram(np.clip(values, edges[0], edges[-1]), edges)[0]


def write_activation_report(stats: ActivationStatistics, out_dir: str | Path | None = None, runs_dir: str | Path = "runs") -> Path:
    """Write activations.png, activations.md and activations.json into a new folder; return it.

    Args:
        out_dir: the folder (must not exist yet, or be empty); default a new
            `<runs_dir>/<spec name>/activations/<timestamp>/`.

    activations.png has one row per initialiser: a histogram per hidden layer (shared x-range)
    and, last, the mean and std of each layer.
    """
    from kerascv_suite.core import runs

    out = runs.empty_report_dir(out_dir) if out_dir is not None else runs.new_run_dir(Path(runs_dir) / stats.spec_name, "activations")
    _plot(stats, out / "activations.png")
    summary = {
        "spec": stats.spec_name, "model": stats.model, "activation": stats.activation, "examples": stats.examples,
        "layers": stats.layers, "statistics": stats.rows(),
    }
    (out / "activations.json").write_text(json.dumps(summary, indent=2))
    (out / "activations.md").write_text(_markdown(stats))
    return out


def _markdown(stats: ActivationStatistics) -> str:
    head = "| initializer | " + " | ".join(_short(layer) for layer in stats.layers) + " |"
    rule = "|---|" + "---:|" * len(stats.layers)
    parts = [f"# Activation statistics at initialisation: {stats.spec_name}\n",
             f"Model '{stats.model}' ({stats.activation or 'its activation'}), one batch of {stats.examples} training images, "
             "no training. Each cell is over every unit and example of that hidden layer's activation output.\n"]
    for title, values in (("Standard deviation", stats.std), ("Mean", stats.mean)):
        parts += [f"## {title}\n", head, rule]
        parts += [f"| {init} | " + " | ".join(f"{v:.3g}" for v in values[init]) + " |" for init in stats.initializers]
        parts.append("")
    return "\n".join(parts)


def _plot(stats: ActivationStatistics, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inits, n = stats.initializers, len(stats.layers)
    fig, axes = plt.subplots(len(inits), n + 1, figsize=(1.5 * n + 3.2, 1.45 * len(inits) + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * n + [2]})
    centres, widths = (stats.edges[:-1] + stats.edges[1:]) / 2, np.diff(stats.edges)
    # one y-range for every row's mean/std panel, so the rows compare at a glance
    top = max(abs(v) for values in (*stats.std.values(), *stats.mean.values()) for v in values) * 1.1 or 1.0
    bottom = -top if any(v < 0 for values in stats.mean.values() for v in values) else -0.05 * top
    for row, init in enumerate(inits):
        for col, layer in enumerate(stats.layers):
            ax = axes[row, col]
            ax.bar(centres, stats.histograms[init][col], width=widths, color="tab:blue", linewidth=0)
            ax.set_xlim(stats.edges[0], stats.edges[-1])
            ax.set_ylim(0, max(1, stats.histograms[init][col].max()) * 1.35)  # headroom for the note
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if row < len(inits) - 1:
                ax.set_xticklabels([])
            if row == 0:
                ax.set_title(_short(layer), fontsize=8)
            if col == 0:
                ax.set_ylabel(init, fontsize=8)
            note = f"std {stats.std[init][col]:.2g}"
            if stats.zeros[init][col] > 0.01:
                note += f"\n{stats.zeros[init][col]:.0%} = 0"
            ax.text(0.97, 0.95, note, transform=ax.transAxes, ha="right", va="top", fontsize=5.5)
        ax = axes[row, n]
        depth = np.arange(1, n + 1)
        ax.plot(depth, stats.mean[init], marker="o", ms=2.5, label="mean")
        ax.plot(depth, stats.std[init], marker="o", ms=2.5, label="std")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_ylim(bottom, top)
        ax.set_xticks(depth)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
        if row == 0:
            ax.set_title("mean and std by layer", fontsize=8)
            ax.legend(fontsize=6, loc="upper right")
        if row == len(inits) - 1:
            ax.set_xlabel("hidden layer", fontsize=7)
    fig.suptitle(f"{stats.spec_name}: activations of '{stats.model}' ({stats.activation or 'its activation'}) at initialisation, "
                 f"{stats.examples} training images", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["ActivationStatistics", "activation_statistics", "write_activation_report"]
