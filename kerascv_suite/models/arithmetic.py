"""Convolution arithmetic as tools: multiply-accumulates, per-stage summaries, receptive fields, output sizes.

Keras's `model.count_params()` says how much a network stores, not how much it computes: a
3×3 convolution from 32 to 32 channels has the same 9,248 parameters on a 7×7 map and on a
224×224 map, but costs 1,024 times more multiply-accumulates (MACs) on the larger one. This
module counts MACs itself, layer by layer, from each built layer's input/output shapes and its
config, with the closed forms of the syllabus (per example, output map H'×W'):

* Conv2D: H'·W'·K_h·K_w·(C_in/groups)·C_out (each output value is a dot product over a
  K_h×K_w×C_in/groups window);
* DepthwiseConv2D: H'·W'·K_h·K_w·C_in·depth_multiplier (one K_h×K_w filter per channel);
* SeparableConv2D: the depthwise part plus the pointwise 1×1, H'·W'·C_in·m·C_out;
* Conv2DTranspose: H·W·K_h·K_w·C_in·C_out over the *input* map (each input pixel scatters a
  kernel);
* Dense: inputs·units, times the leading spatial/sequence positions it is applied at.

Everything else counts 0: pooling, activations, element-wise Add/Multiply (one operation per
value, negligible beside the convolutions and not a multiply-accumulate), and BatchNormalization,
which at inference is folded into the preceding convolution's weights and bias. Papers count
the same way ("mult-adds"): MobileNetV2 300 M, MobileNetV3-Small 56 M at 224×224.

Receptive fields follow the general recurrence for a layer with kernel k and stride s, from the
input's r = 1, j = 1 (j, the "jump", is the distance in input pixels between adjacent outputs):

    r_out = r_in + (k_eff − 1)·j_in,    j_out = j_in·s,    k_eff = d·(k − 1) + 1 for dilation d.

Global pooling and Flatten see the whole map (k = the map's size). Where branches meet (a
residual Add, a squeeze-excite Multiply) the receptive field is the maximum over the inputs —
the widest path decides what an output can see — and the jump is that of the input with the
largest map (a pooled 1×1 gate is broadcast, not strided); a squeeze-excite gate pools the
whole map, so after one the receptive field covers the whole image. The values are the theoretical ones and
may exceed the image (padding fills the rest).

Example::

    model = MODELS.get("lenet5")((32, 32, 1), 10)
    print(format_summary(summary(model)))       # c1 ... total  61,706 parameters  416,520 MACs
    receptive_fields(model)[-1]                  # the logits see the whole 32×32 image
"""

from __future__ import annotations

import math
import re
from typing import Literal, NamedTuple

import keras

from kerascv_suite.core import compat

# ------------------------------------------------------------------ output sizes


def output_size(w: int, f: int, p: int, s: int) -> int:
    """(W − F + 2P)/S + 1, floored: the output length of a window F sliding with stride S over W padded by P each side.

    Example::

        output_size(224, 3, 1, 2)   # 112
        output_size(32, 5, 0, 1)    # 28 (LeNet-5's C1)
    """
    return (w - f + 2 * p) // s + 1


def padded_output_size(w: int, f: int, s: int, padding: Literal["valid", "same"], dilation: int = 1) -> int:
    """Keras's output length for padding "valid" (P = 0: ⌊(W − F)/S⌋ + 1) or "same" (⌈W/S⌉).

    "same" pads a total of max((⌈W/S⌉ − 1)·S + F − W, 0), the extra pixel (if odd) at the end,
    which gives `output_size` = ⌈W/S⌉; for stride 1 and odd F that is P = (F − 1)/2 each side.
    `dilation` replaces F by the effective kernel d·(F − 1) + 1.
    """
    f = dilation * (f - 1) + 1
    if padding == "same":
        return -(-w // s)
    if padding != "valid":
        raise ValueError(f"padding must be 'valid' or 'same', got '{padding}'")
    return output_size(w, f, 0, s)


# ------------------------------------------------------------------ multiply-accumulates


def _spatial_and_channels(shape, data_format: str | None) -> tuple[tuple[int, ...], int]:
    """Split a batch shape into (spatial dims, channels) following the layer's data format."""
    dims = tuple(int(d) for d in shape[1:])
    if data_format == "channels_first":
        return dims[1:], dims[0]
    return dims[:-1], dims[-1]


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates of one built layer, called once, for ONE example (see the module docstring).

    A nested model counts the sum of its layers. Layers without multiplies (pooling,
    activations, BatchNormalization folded at inference, Add/Multiply) count 0.

    Example::

        x = keras.Input((32, 32, 1)); conv = keras.layers.Conv2D(6, 5); conv(x)
        layer_macs(conv)   # 28·28·5·5·1·6 = 117,600
    """
    if isinstance(layer, keras.Model):
        return sum(layer_macs(inner) for inner in layer.layers)
    L = keras.layers
    if not isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv1D, L.DepthwiseConv2D, L.SeparableConv1D,
                              L.SeparableConv2D, L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose, L.Dense)):
        return 0
    in_shape, out_shape = layer.input.shape, layer.output.shape
    if None in (*in_shape[1:], *out_shape[1:]):
        raise ValueError(f"layer '{layer.name}': MACs need a fully defined input shape, got {tuple(in_shape)}")
    if isinstance(layer, L.Dense):
        positions = math.prod(int(d) for d in in_shape[1:-1])
        return positions * int(in_shape[-1]) * layer.units
    data_format = layer.data_format
    (in_spatial, c_in), (out_spatial, c_out) = (_spatial_and_channels(s, data_format) for s in (in_shape, out_shape))
    window = math.prod(layer.kernel_size)
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        return math.prod(in_spatial) * window * c_in * c_out
    pixels = math.prod(out_spatial)
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        return pixels * window * c_in * layer.depth_multiplier
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        depthwise = pixels * window * c_in * layer.depth_multiplier
        return depthwise + pixels * c_in * layer.depth_multiplier * c_out
    return pixels * window * (c_in // layer.groups) * c_out


class SummaryRow(NamedTuple):
    """One stage (or the total): its name, the output shape of its last layer, parameters and MACs."""

    stage: str
    output_shape: tuple
    params: int
    macs: int


def stage_of(layer_name: str) -> str:
    """The stage a layer belongs to: its name up to the first "_" ("block3_expand_conv" → "block3").

    Keras's automatic names ("conv2d_3", "flatten") are their own stage: a suffix of digits only
    is a counter, not a sub-layer name.
    """
    prefix, sep, rest = layer_name.partition("_")
    return layer_name if not sep or rest.isdigit() else prefix


def summary(model: keras.Model) -> list[SummaryRow]:
    """Parameters and MACs per stage, in the model's order, then a "total" row.

    Consecutive layers with the same `stage_of` name form one row; input layers are skipped.
    The total's parameters equal `model.count_params()`.

    Example::

        rows = summary(MODELS.get("mobilenet_v2")((224, 224, 3), 1000))
        rows[-1].macs   # ≈ 300 M
    """
    rows: list[SummaryRow] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        stage, shape = stage_of(layer.name), tuple(layer.output.shape[1:])
        params, macs = layer.count_params(), layer_macs(layer)
        if rows and rows[-1].stage == stage:
            last = rows.pop()
            params, macs = last.params + params, last.macs + macs
        rows.append(SummaryRow(stage, shape, params, macs))
    rows.append(SummaryRow("total", tuple(model.outputs[0].shape[1:]), sum(r.params for r in rows), sum(r.macs for r in rows)))
    return rows


def format_count(n: float) -> str:
    """A MAC count for people: thousands separators below a million, then M or G (300.8M, 1.82G)."""
    if n >= 1e9:
        return f"{n / 1e9:.2f}G"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    return f"{int(n):,}"


def _shape_text(shape: tuple) -> str:
    return "×".join(str(d) for d in shape)


def format_summary(rows: list[SummaryRow]) -> str:
    """`summary`'s rows as a table: stage, output shape, parameters (1,234,567), MACs (300.8M)."""
    table = [("stage", "output", "parameters", "MACs")]
    table += [(r.stage, _shape_text(r.output_shape), f"{r.params:,}", format_count(r.macs)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]

    def line(row):
        return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}"

    rule = "-" * len(line(table[0]))
    return "\n".join([line(table[0]), rule, *(line(r) for r in table[1:-1]), rule, line(table[-1])])


# ------------------------------------------------------------------ receptive fields


class ReceptiveFieldRow(NamedTuple):
    """A layer's receptive field r and jump j (per spatial axis, in input pixels) and its output's spatial size."""

    layer: str
    receptive_field: tuple[int, ...]
    jump: tuple[float, ...]
    output_size: tuple[int, ...]


def _window(layer, in_size: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(effective kernel, stride) per axis of a layer that slides a window, or None for point-wise layers."""
    L = keras.layers
    n = len(in_size)
    if isinstance(layer, (L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D, L.GlobalMaxPooling1D,
                          L.GlobalMaxPooling2D, L.GlobalMaxPooling3D, L.Flatten)):
        return in_size, in_size
    if isinstance(layer, L.Dense):
        return None
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if kernel is None or n == 0:
        return None
    strides = getattr(layer, "strides", None) or kernel
    dilation = getattr(layer, "dilation_rate", 1)
    as_tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * n  # noqa: E731
    kernel, strides, dilation = as_tuple(kernel), as_tuple(strides), as_tuple(dilation)
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation)), strides


def receptive_fields(model: keras.Model) -> list[ReceptiveFieldRow]:
    """Each layer's receptive field, jump and output size, from the model's inputs, in the model's order.

    Uses r_out = r_in + (k_eff − 1)·j_in and j_out = j_in·s per spatial axis (see the module
    docstring); a layer with several inputs (a residual Add) takes the maximum over them.
    Transposed convolutions divide the jump by their stride and add (⌈k/s⌉ − 1)·j_in, the input
    pixels one output sees. A nested model counts as a point-wise layer.

    Example::

        rows = receptive_fields(MODELS.get("lenet5")((32, 32, 1), 10))
        [(r.layer, r.receptive_field, r.jump) for r in rows][:3]
        # [('images', (1, 1), (1, 1)), ('c1', (5, 5), (1, 1)), ('s2', (6, 6), (2, 2))]
    """
    L = keras.layers
    known: dict[int, tuple] = {}  # id(KerasTensor) → (r, j, spatial size)
    rows = []
    for tensor in model.inputs:
        spatial = tuple(int(d) for d in tensor.shape[1:-1])
        known[id(tensor)] = ((1,) * len(spatial), (1,) * len(spatial), spatial)
    for layer in model.layers:
        for node in compat.inbound_nodes(layer):
            inputs = [known.get(id(t)) for t in keras.tree.flatten(node.input_tensors)]
            if isinstance(layer, L.InputLayer):
                inputs = [known.get(id(t)) for t in node.output_tensors]
            if not inputs or None in inputs:
                continue  # a call from outside this model
            r = tuple(max(v) for v in zip(*(i[0] for i in inputs)))
            # A merge broadcasts a pooled 1×1 input (a squeeze-excite gate) over the map: the jump
            # and size are those of the widest input, whose positions the output keeps.
            _, j, size = max(inputs, key=lambda i: math.prod(i[2]))
            window = _window(layer, size)
            if window is not None:
                kernel, strides = window
                if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
                    r = tuple(ri + (-(-k // s) - 1) * ji for ri, k, s, ji in zip(r, kernel, strides, j))
                    j = tuple(ji / s for ji, s in zip(j, strides))
                else:
                    r = tuple(ri + (k - 1) * ji for ri, k, ji in zip(r, kernel, j))
                    j = tuple(ji * s for ji, s in zip(j, strides))
            out = keras.tree.flatten(node.output_tensors)[0]
            # Flatten and Dense on flat features leave no spatial axes: the map is one position.
            size = tuple(int(d) for d in out.shape[1:-1]) if len(out.shape) == len(r) + 2 else (1,) * len(r)
            for t in keras.tree.flatten(node.output_tensors):
                known[id(t)] = (r, j, size)
            rows.append(ReceptiveFieldRow(layer.name, r, tuple(int(v) if float(v).is_integer() else v for v in j), size))
            break
    return rows


def format_receptive_fields(rows: list[ReceptiveFieldRow]) -> str:
    """`receptive_fields`'s rows as a table: layer, receptive field, jump, output size (each "h×w")."""
    table = [("layer", "receptive field", "jump", "output")]
    table += [(r.layer, _shape_text(r.receptive_field), _shape_text(r.jump), _shape_text(r.output_size)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d:>{widths[3]}}" for a, b, c, d in table)


def parse_input_shape(text: str) -> tuple[int, ...]:
    """"224x224x3" → (224, 224, 3); ValueError unless it is HEIGHTxWIDTHxCHANNELS with positive integers."""
    if not re.fullmatch(r"[1-9]\d*x[1-9]\d*x[1-9]\d*", text.strip().lower()):
        raise ValueError(f"expected HEIGHTxWIDTHxCHANNELS like 224x224x3, got '{text}'")
    return tuple(int(d) for d in text.strip().lower().split("x"))


__all__ = ["output_size", "padded_output_size", "layer_macs", "summary", "stage_of", "format_summary", "format_count",
           "receptive_fields", "format_receptive_fields", "parse_input_shape", "SummaryRow", "ReceptiveFieldRow"]
