"""The cost side of CNN design: stacked 3×3 convolutions against one large kernel, and GoogLeNet's 1×1 reductions.

Two arguments of the CNN-architectures lecture, counted by the library's own arithmetic
(`kerascv_suite.models.arithmetic`: `summary` for parameters and multiply-accumulates,
`receptive_fields` for what the last layer sees) on Keras models built for the purpose:

1. VGG's argument. n stacked 3×3 convolutions (C → C channels, "same" padding, stride 1, ReLU
   after each) see the same (2n + 1)×(2n + 1) window as one (2n + 1)×(2n + 1) convolution, with
   n·9·C² weights instead of (2n + 1)²·C² and n non-linearities instead of one: two 3×3 against
   one 5×5 (18 vs 25 C², 0.72×), three against one 7×7 (27 vs 49 C², 0.55×). The convolutions
   have no bias (a BatchNorm after each would supply it), so parameters are the weights and MACs
   are H·W times them. At VGG's third block: C = 256 on a 56×56 map.
2. GoogLeNet's 1×1 reductions. The naive inception module (1×1, 3×3 and 5×5 convolutions and a
   3×3 max-pool side by side, concatenated) against the module GoogLeNet uses, with 1×1
   convolutions before the 3×3 and 5×5 and after the pool (the library's `inception_module`).
   At inception 3a's sizes (28×28×192 in; 64/128/32/32 out; 96 and 16 reductions) and at the
   lecture's own example (28×28×256 in; 128/192/96 out; 64-channel reductions and pool
   projection). Convolutions carry biases, as in the 2014 network: they are parameters but not
   MACs (the library counts multiply-accumulates only), and the max-pool costs none either.

Results: benchmarks/results/conv_costs.{json,md}, and conv_costs.png (parameters and MACs of each pair
as bars, side by side). The figures depend on nothing but the
architecture; `tests/test_conv_costs_benchmark.py` checks them against closed forms.

    python -m benchmarks.conv_costs
"""

from __future__ import annotations

import json
import time

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.runs import RESULTS  # noqa: E402
from kerascv_suite.layers.conv_act import conv_act  # noqa: E402
from kerascv_suite.models.arithmetic import receptive_fields, summary  # noqa: E402
from kerascv_suite.models.googlenet import STAGES, Inception, inception_module  # noqa: E402

STACK_CHANNELS, STACK_SIZE = 256, 56  # VGG-16's third block
STACKS = ((2, 5), (3, 7))  # n 3×3 convolutions against one k×k, k = 2n + 1
INCEPTIONS = {
    "inception 3a": ((28, 28, 192), STAGES[0]["3a"]),
    "lecture example": ((28, 28, 256), Inception(branch1x1=128, reduce3x3=64, branch3x3=192, reduce5x5=64, branch5x5=96, pool_proj=64)),
}
INCEPTION_CONV = {"batch_norm": False}
LECTURE_QUOTE = {"naive": 854e6, "reduced": 358e6}  # the CS231n slides' "ops" for the lecture example


def conv_stack(kernel_sizes: tuple[int, ...], channels: int, size: int) -> keras.Model:
    """Convolutions of the given kernel sizes, C → C channels on a size×size map, "same" padding, no bias, ReLU after each."""
    inputs = keras.Input((size, size, channels), name="features")
    x = inputs
    for index, kernel_size in enumerate(kernel_sizes, start=1):
        x = keras.layers.Conv2D(channels, kernel_size, padding="same", use_bias=False, activation="relu", name=f"conv{index}")(x)
    return keras.Model(inputs, x, name="x".join(f"{k}×{k}" for k in kernel_sizes))


def naive_inception_module(x, spec: Inception, conv: dict, name: str):
    """1×1 | 3×3 | 5×5 | 3×3 max-pool on the input itself, concatenated: no reductions, so the pool passes all C channels on."""
    branches = [conv_act(x, width, kernel_size, **conv, name=f"{name}_{kernel_size}x{kernel_size}")
                for width, kernel_size in ((spec.branch1x1, 1), (spec.branch3x3, 3), (spec.branch5x5, 5))]
    branches.append(keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x))
    return keras.layers.Concatenate(name=f"{name}_concat")(branches)


def inception(input_shape: tuple, spec: Inception, naive: bool) -> keras.Model:
    """One inception module on an input of `input_shape`, naive or with GoogLeNet's 1×1 reductions."""
    inputs = keras.Input(input_shape, name="features")
    module = naive_inception_module if naive else inception_module
    return keras.Model(inputs, module(inputs, spec, INCEPTION_CONV, name="inception"), name="naive" if naive else "reduced")


def nonlinearities(model: keras.Model) -> int:
    """Layers that apply a non-linear activation (a convolution's own or an Activation layer) on the input-to-output path."""
    return sum(layer.get_config().get("activation", "linear") != "linear" for layer in model.layers)


def costs(model: keras.Model) -> dict:
    """Parameters and MACs (the `summary` total), and the receptive field and channels of the output."""
    total = summary(model)[-1]
    return {"params": total.params, "macs": total.macs, "receptive_field": receptive_fields(model)[-1].receptive_field[0],
            "output_channels": total.output_shape[-1]}


def figures(channels: int = STACK_CHANNELS, size: int = STACK_SIZE) -> dict:
    """Every comparison: {"stacks": [...], "inception": [...]}, each entry the two designs' `costs` and their ratios."""
    stacks = []
    for count, kernel_size in STACKS:
        small, large = ({**costs(model), "nonlinearities": nonlinearities(model)}
                        for model in (conv_stack((3,) * count, channels, size), conv_stack((kernel_size,), channels, size)))
        stacks.append({"stack": f"{count} × 3×3", "single": f"1 × {kernel_size}×{kernel_size}", "channels": channels, "size": size,
                       "stacked": small, "one": large, "macs_ratio": small["macs"] / large["macs"]})
    modules = []
    for label, (input_shape, spec) in INCEPTIONS.items():
        naive, reduced = (costs(inception(input_shape, spec, naive)) for naive in (True, False))
        modules.append({"module": label, "input": list(input_shape), "spec": spec._asdict(), "naive": naive, "reduced": reduced,
                        "macs_ratio": naive["macs"] / reduced["macs"]})
    return {"stacks": stacks, "inception": modules}


def _millions(value: float) -> str:
    return f"{value / 1e9:.2f} G" if value >= 1e9 else f"{value / 1e6:.2f} M"


def plot(report: dict, path) -> None:
    """Parameters (top) and MACs (bottom) as bars: VGG's stacks against one large kernel (left), the inception module
    naive against 1×1-reduced (right); the receptive field on the stacks' bars, the cost of each bar above it."""
    stacks, modules = report["figures"]["stacks"], report["figures"]["inception"]
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), gridspec_kw={"width_ratios": (1, 1)})
    width = 0.38
    panels = (
        (0, [(row["stack"], row["single"], row["stacked"], row["one"], f"stacked / one: {row['macs_ratio']:.2f}×") for row in stacks],
         ("n stacked 3×3", "one k×k"), ("tab:blue", "tab:orange"),
         f"VGG: stacked 3×3 against one large kernel\n(C = {stacks[0]['channels']} → {stacks[0]['channels']} channels, "
         f"{stacks[0]['size']}×{stacks[0]['size']} map, \"same\" padding, no bias)"),
        (1, [(f"{row['module']}\n{'×'.join(map(str, row['input']))} in", "", row["naive"], row["reduced"],
              f"naive / reduced: {row['macs_ratio']:.2f}×") for row in modules],
         ("naive", "1×1-reduced (GoogLeNet)"), ("tab:red", "tab:green"),
         "GoogLeNet: inception module naive against 1×1-reduced\n(biases counted in parameters, not MACs)"),
    )
    for column, groups, designs, colours, heading in panels:
        for row_index, (key, label) in enumerate((("params", "parameters"), ("macs", "MACs per image"))):
            axis = axes[row_index][column]
            top = max(max(first[key], second[key]) for _, _, first, second, _ in groups)
            scale, unit = (1e9, "billions") if top >= 1e9 else (1e6, "millions")
            for index, (name, other, first, second, ratio) in enumerate(groups):
                for offset, cost, design, colour in ((-width / 2, first, designs[0], colours[0]),
                                                     (width / 2, second, designs[1], colours[1])):
                    value = cost[key] / scale
                    bar = axis.bar(index + offset, value, width, color=colour, label=design if index == 0 else None)[0]
                    axis.text(bar.get_x() + width / 2, value + 0.015 * top / scale, _millions(cost[key]), ha="center", va="bottom",
                              fontsize=8)
                    if column == 0:  # the same window on both bars: the point of the comparison
                        field = cost["receptive_field"]
                        axis.text(bar.get_x() + width / 2, value / 2, f"RF\n{field}×{field}", ha="center", va="center",
                                  fontsize=8, color="white", fontweight="bold")
                if key == "macs":
                    axis.text(index, top * 1.13 / scale, ratio, ha="center", fontsize=8, style="italic")
            ticks = [f"{name} vs {other}" if other else name for name, other, *_ in groups]
            axis.set_xticks(range(len(groups)), ticks, fontsize=9)
            axis.set_ylim(0, top * 1.22 / scale)
            axis.set_ylabel(f"{label} ({unit})")
            axis.grid(axis="y", alpha=0.3)
            if row_index == 0:
                axis.set_title(heading, fontsize=10)
                axis.legend(fontsize=8, loc="upper left")
    figure.suptitle("The cost side of CNN design: parameters and multiply-accumulates (MACs) per image\n"
                    f"counted by kerascv_suite.models.arithmetic (keras {report['keras']}); RF = the output's receptive field",
                    fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(report: dict) -> str:
    """The report as the results page: one table per comparison."""
    lines = [f"# The cost side of CNN design ({report['date']}, keras {report['keras']})", "",
             "Counted by `kerascv_suite.models.arithmetic` (`summary`, `receptive_fields`); MACs = multiply-accumulates per image. "
             "Picture: `conv_costs.png` (the parameters and MACs of each pair below as bars).", "",
             "## Stacked 3×3 convolutions against one large kernel (VGG)", "",
             "C → C channels, \"same\" padding, stride 1, no bias, ReLU after each convolution.", "",
             "| design | C | map | receptive field | parameters | parameters / C² | MACs | non-linearities | MACs stacked / one |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in report["figures"]["stacks"]:
        for design, cost, ratio in ((row["stack"], row["stacked"], f"{row['macs_ratio']:.3f}"), (row["single"], row["one"], "")):
            field = cost["receptive_field"]
            lines.append(f"| {design} | {row['channels']} | {row['size']}×{row['size']} | {field}×{field} | {cost['params']:,} | "
                         f"{cost['params'] // row['channels'] ** 2} | {cost['macs']:,} | {cost['nonlinearities']} | {ratio} |")
    lines += ["", "## The inception module: naive against 1×1-reduced (GoogLeNet)", "",
              "Convolutions with bias (parameters include them; MACs do not), max-pool 3×3 stride 1; "
              "widths: 1×1 / 3×3 reduce / 3×3 / 5×5 reduce / 5×5 / pool projection (the naive module has no reductions "
              "and no projection: its pool passes every input channel on).", "",
              "| module | input | widths | design | parameters | MACs | output channels | MACs naive / reduced |",
              "|---|---|---|---|---|---|---|---|"]
    for row in report["figures"]["inception"]:
        widths = " / ".join(str(v) for v in row["spec"].values())
        for design, ratio in (("naive", f"{row['macs_ratio']:.2f}"), ("reduced", "")):
            cost = row[design]
            lines.append(f"| {row['module']} | {'×'.join(map(str, row['input']))} | {widths} | {design} | {cost['params']:,} | "
                         f"{cost['macs']:,} | {cost['output_channels']} | {ratio} |")
    lecture = next(row for row in report["figures"]["inception"] if row["module"] == "lecture example")
    quote = report["lecture_quote"]
    height, width, _ = lecture["input"]
    bias_adds = height * width * sum(lecture["spec"].values())  # every convolution of the reduced module has a bias
    lines += ["", f"The CS231n slides (as recalled here; they could not be re-read offline) quote {quote['naive'] / 1e6:.0f} M operations for the naive module and {quote['reduced'] / 1e6:.0f} M "
              f"for the reduced one, at the lecture example's sizes, not inception 3a's. Counted here: "
              f"{lecture['naive']['macs'] / 1e6:.1f} M and {lecture['reduced']['macs'] / 1e6:.1f} M MACs. The naive figure agrees; "
              f"the reduced one is the sum of its six convolutions' H·W·K²·C_in·C_out, and no counting convention closes the gap "
              f"to {quote['reduced'] / 1e6:.0f} M: adding the biases (one add per output value of each convolution) gives "
              f"{(lecture['reduced']['macs'] + bias_adds) / 1e6:.1f} M, and 2 FLOP per MAC doubles both figures "
              f"({2 * lecture['naive']['macs'] / 1e6:.0f} M and {2 * lecture['reduced']['macs'] / 1e6:.0f} M)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    report = {"date": time.strftime("%Y-%m-%d"), "keras": keras.__version__, "lecture_quote": LECTURE_QUOTE, "figures": figures()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "conv_costs.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "conv_costs.md").write_text(markdown(report))
    plot(report, RESULTS / "conv_costs.png")
    print(markdown(report))


if __name__ == "__main__":
    main()
