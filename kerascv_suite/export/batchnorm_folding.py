"""BatchNorm folded into the convolution before it: the same inference function with one layer less per pair.

At inference BatchNorm is a fixed affine map per channel, y = γ·(x − μ)/√(σ² + ε) + β with the
moving statistics μ, σ², and when x is a convolution's output, x = W∗a + b, that map can move
into the convolution itself (a deployment step of the CNN-architectures chapter). With
s = γ/√(σ² + ε) per output channel:

    W' = W·s        b' = (b − μ)·s + β

so the convolution W'∗a + b' computes what the pair computed, and the BatchNorm disappears; the
convolution gains a bias (the library's convolutions before BatchNorm have none). For a
depthwise convolution the output channel c·m + k (input channel c, multiplier k) scales its own
filter; for a Dense layer the scale is per unit. What this saves, per folded pair: one layer
(four vectors of C weights become C biases) and, per inference, BatchNorm's multiply and add on
every value of the convolution's output — a pass over the activations. On ResNet-20 at 32×32
that is all 19 BatchNorm layers and 188,416 multiply-adds per image, against the 40.6 M MACs of
its convolutions: little arithmetic, but 19 memory-bound passes and the ops that launch them.

Why it is here: Keras has no such utility. TFLite's converter folds some of
these pairs itself, fusing the constant multiply and add into the convolution before it, but a
SavedModel (what TF Serving loads) stores every BatchNorm as its own ops, and a `.keras` file as
its own layer. `fold_batchnorm` folds them once, in the Keras model, before either export.

A pair is folded when the BatchNorm (`keras.layers.BatchNormalization` or the library's
`FusedBatchNormalization`) normalises the channel axis of a single input that a Conv1D/2D/3D
(the library's `GroupedConv2D` included), a DepthwiseConv1D/2D or a Dense layer produced, with
no activation of its own, and that output feeds nothing but this BatchNorm (not another layer,
not a model output). Everything else stays as it is: a BatchNorm after an Add (pre-activation
ResNets), a BatchNorm that is a model's first layer, batch renormalisation (its inference
statistics are kept differently), LayerNorm and GroupNorm (statistics of each example, not
constants), and shared layers. Nested functional models (GoogLeNet's auxiliary heads) are
folded too; a Sequential model is read as its functional graph.

The folded model is for inference and export only: training it would train without BatchNorm.
Its outputs equal the original's with ``training=False`` up to float32 rounding.

Example::

    from kerascv_suite.export.batchnorm_folding import fold_batchnorm
    folded = fold_batchnorm(model)               # ResNet-20: 19 layers fewer, no BatchNorm left
    np.allclose(folded(x), model(x, training=False), atol=1e-5)
"""

from __future__ import annotations

from collections import Counter

import keras
import numpy as np

from kerascv_suite.core import compat

L = keras.layers
CONVOLUTIONS = (L.Conv1D, L.Conv2D, L.Conv3D)  # kernel (..., C_in/groups, C_out); GroupedConv2D is a Conv2D
DEPTHWISE = (L.DepthwiseConv1D, L.DepthwiseConv2D)  # kernel (..., C_in, multiplier), output channel c·m + k
FOLDABLE = (*CONVOLUTIONS, *DEPTHWISE, L.Dense)


def _calls(model: keras.Model) -> list:
    """(layer, node) of every call inside `model`'s graph, in the graph's order.

    A layer's nodes also hold its calls in other graphs (a backbone's layer reused by a
    detector); only those whose inputs come from this model's inputs belong here.
    """
    known = {id(t) for t in model.inputs}
    calls = []
    for layer in model.layers:
        for node in compat.inbound_nodes(layer):
            inputs = keras.tree.flatten(node.input_tensors)
            if isinstance(layer, L.InputLayer) or (inputs and all(id(t) in known for t in inputs)):
                calls.append((layer, node))
                known.update(id(t) for t in keras.tree.flatten(node.output_tensors))
    return calls


def _can_fold(producer, norm, rank: int) -> bool:
    """Whether `norm` normalises the channel axis of a plain, linear `producer`'s rank-`rank` output."""
    channels = 1 if getattr(producer, "data_format", "channels_last") == "channels_first" else rank - 1
    return (isinstance(producer, FOLDABLE) and producer.get_config()["activation"] == "linear"
            and len(producer.weights) == 1 + producer.use_bias  # no LoRA or quantized kernel beside it
            and not norm.renorm and norm.axis % rank == channels)


def foldable_pairs(model: keras.Model) -> dict[str, str]:
    """{BatchNorm name: name of the layer it folds into} for the pairs `fold_batchnorm` merges (see the module doc).

    Only `model`'s own layers; nested models are examined when they are folded.

    Example::

        foldable_pairs(MODELS.get("cifar_resnet")((32, 32, 3), 10))["stem_bn"]   # 'stem_conv'
    """
    calls = _calls(model)
    times_called = Counter(id(layer) for layer, _ in calls)
    readers = Counter(id(t) for _, node in calls for t in keras.tree.flatten(node.input_tensors))
    readers.update(id(t) for t in model.outputs)
    pairs = {}
    for layer, node in calls:
        inputs = keras.tree.flatten(node.input_tensors)
        if not isinstance(layer, L.BatchNormalization) or times_called[id(layer)] > 1 or len(inputs) != 1:
            continue
        made = compat.producer(inputs[0])
        if made is None or times_called[id(made[0])] > 1 or readers[id(inputs[0])] > 1:
            continue
        if _can_fold(made[0], layer, len(inputs[0].shape)):
            pairs[layer.name] = made[0].name
    return pairs


def folded_weights(producer, norm) -> list[np.ndarray]:
    """[W·s, (b − μ)·s + β] with s = γ/√(σ² + ε): `producer`'s kernel and bias with `norm` folded in.

    Example::

        kernel, bias = folded_weights(model.get_layer("stem_conv"), model.get_layer("stem_bn"))
    """
    value = lambda variable: keras.ops.convert_to_numpy(variable).astype(np.float64)  # noqa: E731
    channels = norm.moving_mean.shape[0]
    scale = (value(norm.gamma) if norm.scale else np.ones(channels)) / np.sqrt(value(norm.moving_variance) + norm.epsilon)
    shift = value(norm.beta) if norm.center else np.zeros(channels)
    kernel = value(producer.kernel)
    bias = value(producer.bias) if producer.use_bias else np.zeros(channels)
    kernel = kernel * (scale.reshape(kernel.shape[-2:]) if isinstance(producer, DEPTHWISE) else scale)
    dtype = keras.backend.standardize_dtype(producer.kernel.dtype)
    return [kernel.astype(dtype), ((bias - value(norm.moving_mean)) * scale + shift).astype(dtype)]


def fold_batchnorm(model: keras.Model) -> keras.Model:
    """A new model computing `model`'s inference function with each foldable BatchNorm merged into its convolution.

    The graph is cloned (`keras.models.clone_model`) with the same layer names and weights,
    except that a folded convolution carries W' and b' and its BatchNorm is skipped, so residual
    and branching topologies are kept. `model` is left unchanged. A compiled model's clone is
    compiled the same way.

    Args:
        model: a functional (or Sequential) Keras model; subclassed models cannot be cloned.

    Returns:
        A functional model of the same class, inputs and outputs, with
        `len(foldable_pairs(model))` fewer layers.

    Example::

        folded = fold_batchnorm(model)
        folded.save("model_folded.keras")
    """
    source = model
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs[0], model.outputs[0], name=model.name)  # its graph, on the same layers
    pairs = foldable_pairs(model)
    skipped = {id(model.get_layer(norm)) for norm in pairs}
    folded_into = {name: model.get_layer(norm) for norm, name in pairs.items()}
    originals = {}  # id(clone) → the layer whose weights it takes

    def clone(layer):
        if id(layer) in skipped:
            return layer  # never called: `call` passes its input through
        if isinstance(layer, keras.Model):
            return fold_batchnorm(layer)
        config = layer.get_config()
        if layer.name in folded_into:
            config["use_bias"] = True
        copy = layer.__class__.from_config(config)
        originals[id(copy)] = layer
        return copy

    def call(layer, *args, **kwargs):
        if id(layer) in skipped:
            return args[0]
        outputs = layer(*args, **kwargs)
        original = originals.pop(id(layer), None)  # weights once, after the first call built the clone
        if original is not None:
            weights = original.get_weights()
            if original.name in folded_into:
                weights = folded_weights(original, folded_into[original.name])
            layer.set_weights(weights)
        return outputs

    folded = keras.models.clone_model(model, clone_function=clone, call_function=call)
    if source.compiled and not folded.compiled:  # a Sequential's graph model was never compiled
        folded.compile_from_config(source.get_compile_config())
    return folded


__all__ = ["fold_batchnorm", "foldable_pairs", "folded_weights"]
