"""GoogLeNet (Szegedy et al., 2014): Inception v1, multi-scale modules made cheap by 1×1 bottlenecks.

GoogLeNet won ILSVRC 2014 classification (6.7% top-5) with 22 weight layers and 12 times
fewer parameters than AlexNet. Its unit, the inception module, looks at the same map at
several scales in parallel — a 1×1, a 3×3 and a 5×5 convolution and a 3×3 max-pool — and
concatenates the four branches along the channels. Done naively, the 5×5 branch on a
480-channel map would dominate the cost, so 1×1 convolutions first reduce the channels (the
"#3×3 reduce" and "#5×5 reduce" columns of the paper's Table 1; a 1×1 convolution is a dense
layer applied at every pixel: Network-in-Network's idea) and the pooling branch is projected
by another 1×1. Nine modules stacked after a conventional stem, max-pools between stages,
and — instead of AlexNet's 4096-wide dense layers — global average pooling and one dense
layer: 7.0 M parameters, 1.6 G multiply-accumulates at 224×224. Two auxiliary classifiers
on the outputs of modules 4a and 4d add their losses, weighted 0.3, during training to push
gradient into the middle of the 22-layer network (BatchNorm had not been invented); at
inference they are dropped.

What is built here: Table 1's network with its real 5×5 branches. torchvision's GoogLeNet
(6,624,904 parameters, 1.50 GFLOPS) uses 3×3 kernels in the "5×5" branches — a known bug,
kept for its ported weights — and BatchNorm after every convolution; with `batch_norm=True` our
trainable parameters are exactly torchvision's plus the 380,928 weights the 3×3 kernels
drop. The references: Table 1's configuration gives 6,990,272 weights (6,998,552 parameters
here with the biases) and 1,582,671,872 MACs; the table's own columns sum to 6,798 K
parameters (in units of 1,024: 6.96 M) and 1,502 M operations because of slips in it (conv1 is
listed at 2.7 K weights / 34 M operations instead of 7·7·3·64 = 9,408 / 118 M, and the
inception rows differ from their own widths by up to 7%, 4c most). `keras.applications` has no
GoogLeNet (its InceptionV3 is a later design).

Other settings: local response normalisation in the stem as the paper (`local_response_norm`,
Caffe's bvlc_googlenet constants), off by default as torchvision; max-pools with "same"
padding (torchvision's `ceil_mode=True` gives the same sizes: 112 → 56 → 28 → 14 → 7);
the auxiliary heads average-pool adaptively to 4×4 (torchvision's choice; the paper's 5×5
stride-3 pooling gives 4×4 only on a 14×14 map), so they build at any input size; dropout
0 by default (the paper: 0.4 before the classifier, 0.7 in the auxiliary heads).

Auxiliary classifiers: with `aux_classifiers=True` the builder returns an
`AuxiliaryClassifierModel`, a functional model with outputs [logits, aux1, aux2] whose
`call` returns all three when training and only the logits otherwise, so `fit` adds the
weighted auxiliary losses while `evaluate`, `predict`, serving and export see one logits
tensor. Each auxiliary head is a nested model (`aux1`, `aux2`, one row each in
`kerascv_suite.models.arithmetic.summary`) ending in an `AuxiliaryLogits` layer that holds
its loss weight, so the weight survives saving, reloading and `keras.models.clone_model`.

Small inputs: the stem (7×7 stride 2, max-pool, 3×3, max-pool) and the two max-pools between
stages divide by 32. With `small_input` (by default below 64 pixels) conv1 is a 3×3
stride-1 convolution and the max-pool after it is dropped, so the network divides by 8 like
the library's other small-input stems: 32×32 → 16×16 at inception 3, 8×8 at 4, 4×4 at 5.

Example::

    model = googlenet((224, 224, 3), 1000)                         # 6,998,552 parameters, 1.58 G MACs
    model = googlenet((32, 32, 1), 10, batch_norm=True, aux_classifiers=True)

In a spec: ``model: {name: googlenet, batch_norm: true, aux_classifiers: true, aux_weight: 0.3}``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import keras
from pydantic import NonNegativeFloat, PositiveFloat

from kerascv_suite.core import compat
from kerascv_suite.layers.classifier import AdaptiveAveragePool2D, pooled_classifier
from kerascv_suite.layers.conv_act import conv_act
from kerascv_suite.layers.local_response_norm import LocalResponseNormalization
from kerascv_suite.models.arguments import Fraction, resolve_small_input
from kerascv_suite.registry import MODELS


class Inception(NamedTuple):
    """One row of Table 1: output channels of each branch and of its 1×1 reductions."""

    branch1x1: int
    reduce3x3: int
    branch3x3: int
    reduce5x5: int
    branch5x5: int
    pool_proj: int


# Table 1 of the paper, stage by stage; a 3×3 stride-2 max-pool separates the stages.
STAGES = (
    {"3a": Inception(64, 96, 128, 16, 32, 32), "3b": Inception(128, 128, 192, 32, 96, 64)},
    {"4a": Inception(192, 96, 208, 16, 48, 64), "4b": Inception(160, 112, 224, 24, 64, 64),
     "4c": Inception(128, 128, 256, 24, 64, 64), "4d": Inception(112, 144, 288, 32, 64, 64),
     "4e": Inception(256, 160, 320, 32, 128, 128)},
    {"5a": Inception(256, 160, 320, 32, 128, 128), "5b": Inception(384, 192, 384, 48, 128, 128)},
)
AUXILIARY_AFTER = {"4a": "aux1", "4d": "aux2"}
# Caffe's bvlc_googlenet: local_size 5, alpha 1e-4 (divided by the window there), beta 0.75, k 1.
GOOGLENET_LRN = {"depth_radius": 2, "bias": 1.0, "alpha": 1e-4 / 5, "beta": 0.75}


def inception_module(x, spec: Inception, conv: dict, name: str):
    """The inception module: 1×1 | 1×1 → 3×3 | 1×1 → 5×5 | 3×3 max-pool → 1×1, concatenated along the channels.

    Every branch keeps the height and width ("same" padding, stride 1), so the output has
    branch1x1 + branch3x3 + branch5x5 + pool_proj channels (256 for 3a).

    Args:
        x: a (batch, height, width, C) tensor of the functional API.
        spec: the branch widths (a row of Table 1).
        conv: keyword arguments of `conv_act` shared by every convolution (batch_norm, norm settings).
        name: prefix of the layer names (`{name}_1x1_conv`, `{name}_5x5_reduce_conv`, `{name}_concat`, ...).

    Returns:
        A (batch, height, width, branch1x1 + branch3x3 + branch5x5 + pool_proj) tensor.

    Example::

        x = inception_module(x, Inception(64, 96, 128, 16, 32, 32), {"batch_norm": False}, name="inception3a")  # 192 → 256 channels
    """
    branch1 = conv_act(x, spec.branch1x1, 1, **conv, name=f"{name}_1x1")
    branch3 = conv_act(conv_act(x, spec.reduce3x3, 1, **conv, name=f"{name}_3x3_reduce"), spec.branch3x3, 3, **conv, name=f"{name}_3x3")
    branch5 = conv_act(conv_act(x, spec.reduce5x5, 1, **conv, name=f"{name}_5x5_reduce"), spec.branch5x5, 5, **conv, name=f"{name}_5x5")
    pooled = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = conv_act(pooled, spec.pool_proj, 1, **conv, name=f"{name}_pool_proj")
    return keras.layers.Concatenate(name=f"{name}_concat")([branch1, branch3, branch5, branch_pool])


@keras.saving.register_keras_serializable(package="kerascv_suite")
class AuxiliaryLogits(keras.layers.Layer):
    """The identity on an auxiliary classifier's logits, in float32, recording the weight of its loss.

    `AuxiliaryClassifierModel` reads each auxiliary output's weight from this layer, so the
    weight travels with the graph: through `.keras` files and `keras.models.clone_model`,
    which rebuilds a functional model from its graph alone. The layer computes in float32
    whatever the dtype policy (Keras casts its input), as logits and losses should.

    Args:
        loss_weight: weight of this output's loss in the training loss (0.3 in GoogLeNet).

    Example::

        aux = AuxiliaryLogits(0.3, name="aux1_weight")(keras.layers.Dense(10, name="aux1_logits")(h))
    """

    def __init__(self, loss_weight: float, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.loss_weight = float(loss_weight)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "loss_weight": self.loss_weight}


def auxiliary_classifier(x, num_classes: int, conv: dict, dropout: float, loss_weight: float, name: str):
    """An auxiliary head as a nested model: adaptive average pool 4×4 → 1×1 conv 128 → dense 1024 → dropout → logits.

    Args:
        x: the feature map it classifies (the output of inception 4a or 4d).
        num_classes: logits it outputs.
        conv: keyword arguments of `conv_act` (batch_norm, norm settings).
        dropout: dropout rate before its logits (the paper: 0.7).
        loss_weight: weight of its loss in training (see `AuxiliaryLogits`).
        name: the nested model's name ("aux1"), prefix of its layers' names.

    Returns:
        Its (batch, num_classes) float32 logits.

    Example::

        aux1 = auxiliary_classifier(x, 1000, {"batch_norm": False}, dropout=0.7, loss_weight=0.3, name="aux1")
    """
    features = keras.Input(x.shape[1:], dtype=x.dtype, name=f"{name}_features")
    h = AdaptiveAveragePool2D(4, name=f"{name}_avgpool")(features)
    h = conv_act(h, 128, 1, **conv, name=f"{name}_conv")
    h = keras.layers.Flatten(name=f"{name}_flatten")(h)
    h = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc")(h)
    if dropout:
        h = keras.layers.Dropout(dropout, name=f"{name}_dropout")(h)
    h = keras.layers.Dense(num_classes, name=f"{name}_logits")(h)
    return keras.Model(features, AuxiliaryLogits(loss_weight, name=f"{name}_weight")(h), name=name)(x)


def _auxiliary_logits_layer(tensor) -> AuxiliaryLogits:
    """The `AuxiliaryLogits` layer that produced an output, looking inside nested models."""
    layer = compat.producer(tensor)[0]
    while isinstance(layer, keras.Model):
        layer = compat.producer(layer.outputs[0])[0]
    if not isinstance(layer, AuxiliaryLogits):
        raise ValueError(f"auxiliary output '{tensor.name}' must end with an AuxiliaryLogits layer (its loss weight), "
                         f"got {type(layer).__name__}")
    return layer


@keras.saving.register_keras_serializable(package="kerascv_suite")
class AuxiliaryClassifierModel(keras.Model):
    """A functional model with outputs [logits, *auxiliary logits]: training adds weighted auxiliary losses, inference sees the logits.

    Called with ``training=True`` (as `fit` calls it) it returns every output; otherwise only
    the first, so `evaluate`, `predict`, serving and export see a plain classifier. The
    training loss is the compiled loss of the logits plus, for each auxiliary output, its
    weight × the compiled loss of that output; metrics score the logits only. Each auxiliary
    output ends with an `AuxiliaryLogits` layer holding its weight, so the model has no
    configuration of its own: it saves, reloads and clones like any functional model.

    Args: those of `keras.Model(inputs, outputs, name=...)`; outputs are [logits, aux_1, ..., aux_k],
    float32 under mixed precision.

    Example::

        aux = [AuxiliaryLogits(0.3, name=f"aux{i}_weight")(a) for i, a in enumerate((aux1, aux2), 1)]
        model = AuxiliaryClassifierModel(images, [logits, *aux], name="googlenet")
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y)            # loss = CE(logits) + 0.3·CE(aux1) + 0.3·CE(aux2)
        model.predict(x).shape     # (n, classes)
    """

    @property
    def aux_weights(self) -> list[float]:
        """The loss weight of each auxiliary output, in output order."""
        return [_auxiliary_logits_layer(tensor).loss_weight for tensor in self.outputs[1:]]

    def call(self, inputs, training=None, mask=None):
        outputs = super().call(inputs, training=training, mask=mask)
        return outputs if training else outputs[0]

    def compute_output_spec(self, inputs, training=None, mask=None):
        outputs = super().compute_output_spec(inputs, training=training, mask=mask)
        return outputs if training else outputs[0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, (list, tuple)):
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        logits, *auxiliary = y_pred
        loss = super().compute_loss(x, y, logits, sample_weight, training)
        if self._compile_loss is not None:
            for weight, aux_logits in zip(self.aux_weights, auxiliary):
                loss = loss + weight * self._compile_loss(y, aux_logits, sample_weight)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, (list, tuple)):
            y_pred = y_pred[0]
        return super().compute_metrics(x, y, y_pred, sample_weight)


@MODELS.register("googlenet")
def googlenet(
    input_shape: tuple,
    num_classes: int,
    batch_norm: bool = False,
    local_response_norm: bool = False,
    aux_classifiers: bool = False,
    aux_weight: NonNegativeFloat = 0.3,
    dropout: Fraction = 0.0,
    aux_dropout: Fraction = 0.0,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-3,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """GoogLeNet (Inception v1): a stem, nine inception modules, global average pooling, one dense layer (7.0 M parameters on ImageNet).

    Args:
        batch_norm: BatchNorm after every convolution, which then has no bias (torchvision's
            GoogLeNet; the 2014 network had none).
        local_response_norm: local response normalisation after the stem's first max-pool and
            after its 3×3 convolution, as the paper (Caffe's constants: n = 5, α = 1e-4/n,
            β = 0.75, k = 1); off by default as torchvision.
        aux_classifiers: add the two auxiliary classifiers after inception 4a and 4d; the
            model then trains on the main loss + `aux_weight` × each auxiliary loss and
            predicts with the main classifier only (see `AuxiliaryClassifierModel`).
        aux_weight: weight of each auxiliary loss (the paper: 0.3), kept in the graph by `AuxiliaryLogits`.
        dropout: dropout rate before the classifier; 0 by default, the paper used 0.4.
        aux_dropout: dropout rate in the auxiliary heads before their logits; the paper used 0.7.
        bn_momentum: BatchNorm moving-average momentum (Keras convention; PyTorch's 0.1 is 0.9).
        bn_epsilon: BatchNorm variance epsilon (torchvision: 1e-3).
        small_input: conv1 becomes 3×3 stride 1 and the max-pool after it is dropped (output
            stride 8 instead of 32, a 32×32 input ends at 4×4); None decides by size: on below 64 pixels.

    Example::

        model = googlenet((224, 224, 3), 1000)                              # 6,998,552 parameters
        model = googlenet((224, 224, 3), 1000, batch_norm=True)             # torchvision's + 380,928 weights
        model = googlenet((32, 32, 1), 10, aux_classifiers=True)            # predicts (batch, 10) logits
    """
    small_input = resolve_small_input(small_input, input_shape)
    conv = {"batch_norm": batch_norm, "norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}

    def normalise(x, name):
        return LocalResponseNormalization(**GOOGLENET_LRN, name=name)(x) if local_response_norm else x

    inputs = keras.Input(input_shape, name="images")
    if small_input:
        x = conv_act(inputs, 64, 3, **conv, name="conv1")
    else:
        x = conv_act(inputs, 64, 7, strides=2, **conv, name="conv1")
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="conv1_pool")(x)
    x = normalise(x, "conv1_norm")
    x = conv_act(x, 64, 1, **conv, name="conv2_reduce")
    x = conv_act(x, 192, 3, **conv, name="conv2")
    x = normalise(x, "conv2_norm")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="conv2_pool")(x)
    auxiliary = []
    for stage, modules in enumerate(STAGES, start=3):
        if stage > 3:
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{stage - 1}")(x)
        for module, spec in modules.items():
            x = inception_module(x, spec, conv, name=f"inception{module}")
            if aux_classifiers and module in AUXILIARY_AFTER:
                auxiliary.append(auxiliary_classifier(x, num_classes, conv, aux_dropout, aux_weight, AUXILIARY_AFTER[module]))
    logits = pooled_classifier(x, num_classes, dropout)
    if not aux_classifiers:
        return keras.Model(inputs, logits, name="googlenet")
    if keras.backend.standardize_dtype(logits.dtype) != "float32":
        # Mixed precision: the library casts the outputs of a single-output model; here every output is cast already.
        logits = keras.layers.Activation("linear", dtype="float32", name="logits_float32")(logits)
    return AuxiliaryClassifierModel(inputs, [logits, *auxiliary], name="googlenet")
