"""The residual family: ResNet, ResNet v2, ResNeXt, SE-ResNet, the CIFAR ResNets and Wide ResNets.

ResNet (He et al., 2015) made depth trainable: a stack of residual blocks, each adding a learned
correction to its input (`kerascv_suite.layers.residual`), trains at 152 layers where a plain
network of 56 layers already trains worse than one of 20. The family grew by changing one thing:

- ResNet v2 (He et al., 2016, "Identity mappings"): BN-ReLU before each convolution and nothing
  after the add, so a clean identity path runs from the input to the classifier (`preactivation`).
- ResNeXt (Xie et al., 2017): split the 3×3 into 32 groups; more, thinner paths beat a wider or
  deeper network at the same cost ("cardinality", `groups`/`width_per_group`).
- SE-ResNet (Hu et al., 2018): squeeze-and-excitation in every bottleneck (`squeeze_excite`).
- Wide ResNet (Zagoruyko & Komodakis, 2016): fewer, wider blocks train faster and generalise as
  well (`wide_resnet` on CIFAR; the ImageNet WRN-50-2 is ``resnet(width_per_group=128)``).

Registered builders: `resnet` (ImageNet ResNet-18…152, every variant an argument), `resnext` and
`se_resnet` (thin factories with the literature's defaults), `cifar_resnet` (He et al. §4.2,
6n+2 layers) and `wide_resnet` (WRN-d-k).

Parameter counts. Keras's `count_params()` includes BatchNorm's moving mean and variance
(non-trainable); PyTorch's `num_params` counts only γ and β. So the *trainable* parameters of
every model here equal the PyTorch reference exactly, and `count_params()` is that plus 2 per
BatchNorm channel (0.1–1%): ResNet-18/34/50/101/152 have 11,689,512 / 21,797,672 / 25,557,032 /
44,549,160 / 60,192,808 trainable parameters (torchvision), ResNeXt-50 32×4d 25,028,904,
Wide ResNet-50-2 68,883,240, SE-ResNet-50 28,088,024 (Hu et al.: 28.09 M), the CIFAR
ResNet-20/32/44/56/110 269,722 / 464,154 / 658,586 / 853,018 / 1,727,962 (akamaster/
pytorch_resnet_cifar10; paper Table 6: 0.27 M … 1.7 M), WRN-28-10 36,479,194 (paper: 36.5 M).
Multiply-accumulates (`kerascv_suite.models.arithmetic`) at 224×224: 1.81 / 3.66 / 4.09 / 7.80 /
11.51 G for ResNet-18…152, as torchvision's "GFLOPS".

Where the stride sits. A stage's first bottleneck halves the resolution. The paper, Caffe and
`keras.applications` put the stride on its first 1×1 convolution; torchvision (after
fb.resnet.torch) puts it on the 3×3 ("ResNet v1.5"): a strided 1×1 simply drops 3 of every 4
input positions, a strided 3×3 looks at all of them, for ~0.5% more ImageNet top-1 at 6% more
MACs (ResNet-50: 4.09 G instead of 3.86 G; exactly 1.5·p²·H² more per stage, with p the stage's
bottleneck width and H the input map side, 231,211,008 MACs for every depth). `resnet` follows
torchvision (`stride_in_1x1=False`); `se_resnet` follows the SENet paper (`stride_in_1x1=True`),
whose 3.87 GFLOPs (and ResNet-50's 3.86) are those of the 1×1 layout.

Differences from `keras.applications` (ResNet50/101/152 and ResNet50V2/101V2/152V2, built with
`weights=None`), all verified by tests/models/test_resnet.py:

- v1: keras gives every convolution a bias, redundant before BatchNorm (whose β shifts the
  same channel). With ``stride_in_1x1=True`` our count plus the number of keras's convolution
  biases is exactly keras's count (ResNet-50: 25,610,152 + 26,560 = 25,636,712) and the MACs are
  identical (3,857,973,248 for ResNet-50); the default v1.5 layout adds 231,211,008 MACs.
- v2: keras's V2 models put biases on the stem convolution, on each block's last 1×1 and on
  its projection shortcut (ResNet-50V2: 25,594,792 + 19,008 = 25,613,800). Keras also downsamples
  in the *last* block of stages 1–3 (stride on its 3×3, the identity subsampled by a 1×1 max-pool),
  He et al.'s "pre-activation" code and timm in the *first* block of stages 2–4, as here. The
  parameters are the same, but keras runs the two blocks around each resolution change at the
  lower resolution: 15.75·p²·H² fewer MACs per change, 606,928,896 in all at 224×224 for every
  depth (ResNet-50V2: 3.48 G against our 4.09 G).
- BatchNorm: momentum 0.9 (keras.applications: 0.99, see `kerascv_suite.layers.norm_act`),
  epsilon 1e-5 as torchvision (keras: 1.001e-5); "same" padding instead of explicit
  `ZeroPadding2D` (same shapes, see `norm_act`); logits, no softmax; optional dropout before them.

Small inputs (`resnet` and its factories): the ImageNet stem (7×7 stride 2, then a 3×3 stride-2
max-pool) divides height and width by 4 before the first block and the network by 32, so a 32×32
image would end as a single pixel. With `small_input` (by default when the input is smaller than
64 pixels) the stem is a 3×3 stride-1 convolution without max-pool, as the CIFAR adaptations of
ResNet-18/50 do (e.g. kuangliu/pytorch-cifar): the network divides by 8 and 32×32 ends at 4×4.
The stem then costs 3·3·C·64 instead of 7·7·C·64 weights (ResNet-50 at 32×32×3: 9,408 − 1,728
fewer). `cifar_resnet` and `wide_resnet` are CIFAR networks: a 3×3 stride-1 stem, three stages
of stride 1, 2, 2, so 32×32 ends at 8×8 (and 224×224 at 56×56).

Example::

    model = resnet((224, 224, 3), 1000, depth=50)           # 25,557,032 trainable parameters, 4.09 GMACs
    model = resnet((32, 32, 1), 10, depth=18)               # small-input stem: 4×4 before pooling
    model = cifar_resnet((32, 32, 3), 10, depth=56)         # 853,018 trainable parameters

In a spec: ``model: {name: resnext, depth: 101, width_per_group: 8}``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import keras
from pydantic import Field, PositiveFloat, PositiveInt

from kerascv_suite.layers.classifier import pooled_classifier
from kerascv_suite.layers.norm_act import Norm, conv_norm_act, norm_act
from kerascv_suite.layers.residual import basic_block, bottleneck_block
from kerascv_suite.layers.spatial_dropout import DropoutKind
from kerascv_suite.layers.stochastic_depth import stochastic_depth_rates
from kerascv_suite.models.arguments import Fraction, resolve_small_input
from kerascv_suite.registry import MODELS

# depth → (block, blocks per stage), He et al. (2015) Table 1.
IMAGENET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_FILTERS = (64, 128, 256, 512)
CIFAR_FILTERS = (16, 32, 64)
# Hu et al. (2018): a C → C/16 → C bottleneck with ReLU and a sigmoid gate in every block.
SE_RESNET = {"ratio": 1 / 16, "divisor": 1, "activation": "relu", "gate": "sigmoid"}


def _stages(x, repeats, filters, first_strides, block, drop_path: float = 0.0, **block_kwargs):
    """`repeats[i]` blocks of `filters[i]` per stage; only a stage's first block strides.

    Stochastic depth grows linearly with depth (Huang et al., 2016): block l of L drops its
    branch with probability `drop_path`·l/L, so early blocks, whose features everything after
    them builds on, are kept most often.
    """
    rates = iter(stochastic_depth_rates(drop_path, sum(repeats)))
    for stage, (count, width, strides) in enumerate(zip(repeats, filters, first_strides), start=1):
        for index in range(count):
            x = block(x, width, strides=strides if index == 0 else 1, drop_path=next(rates),
                      name=f"stage{stage}_block{index + 1}", **block_kwargs)
    return x


def _head(inputs, x, num_classes: int, preactivation: bool, dropout: float, norm: dict, model_name: str) -> keras.Model:
    """(v2: the final BN-ReLU, which no block applies to its sum) → global average pool → (dropout) → logits."""
    if preactivation:
        x = norm_act(x, "relu", **norm, name="head")
    logits = pooled_classifier(x, num_classes, dropout)
    return keras.Model(inputs, logits, name=model_name)


def _stem(inputs, filters: int, kernel_size: int, strides: int, preactivation: bool, norm: dict):
    """conv → BN-ReLU (v1); v2 leaves the normalisation to the first block's pre-activation."""
    if preactivation:
        return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name="stem_conv")(inputs)
    return conv_norm_act(inputs, filters, kernel_size, strides, "relu", **norm, name="stem")


@MODELS.register("resnet")
def resnet(
    input_shape: tuple,
    num_classes: int,
    depth: Literal[18, 34, 50, 101, 152] = 50,
    preactivation: bool = False,
    groups: PositiveInt = 1,
    width_per_group: PositiveInt = 64,
    stride_in_1x1: bool = False,
    squeeze_excite: bool = False,
    zero_init_last_norm: bool = False,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-5,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
    norm: Norm = "batch",
    drop_path: Fraction = 0.0,
) -> keras.Model:
    """ResNet-18/34/50/101/152 for ImageNet-sized inputs (v1, v2, ResNeXt, SE and wide variants are arguments).

    Args:
        depth: 18 or 34 (basic blocks), 50, 101 or 152 (bottleneck blocks), He et al. (2015) Table 1.
        preactivation: ResNet v2 (He et al., 2016): BN-ReLU before every convolution, nothing after
            the add, a final BN-ReLU before pooling; the stem is a bare convolution (the first
            block's pre-activation normalises it, as in keras.applications' V2 models).
        groups: cardinality of the bottleneck 3×3 convolutions (ResNeXt: 32). Bottleneck depths only.
        width_per_group: channels per group of the first stage's 3×3 (64 for ResNet, 4 for
            ResNeXt 32×4d, 128 for Wide ResNet-50-2: 68,883,240 trainable parameters, 11.4 GMACs).
        stride_in_1x1: stride on the bottleneck's first 1×1 instead of its 3×3 (the original
            paper's and keras.applications' layout, 3.86 GMACs for ResNet-50; see the module doc).
        squeeze_excite: SE (ratio 1/16, sigmoid gate) on every block's branch before the add.
        zero_init_last_norm: start every residual branch at zero (γ of its last BatchNorm, or in
            v2 its last convolution's kernel), so the network starts as a shallow one (Goyal et al., 2017).
        bn_momentum: BatchNorm moving-average momentum (Keras convention; 0.9 suits short runs on
            small data, keras.applications uses 0.99).
        bn_epsilon: BatchNorm variance epsilon (torchvision: 1e-5).
        dropout: dropout rate before the classifier (not in the paper or torchvision; 0 by default).
        small_input: a 3×3 stride-1 stem without max-pool (output stride 8 instead of 32); None
            decides by size: on when the input is smaller than 64 pixels.
        norm: the normalisation of every block: "batch", "layer", "instance" or "group"
            (`kerascv_suite.layers.norm_act`); bn_momentum applies to "batch" only.
        drop_path: stochastic depth, the last block's rate of dropping its branch in training
            (Huang et al., 2016: 0.5 for the deepest); earlier blocks' rates shrink linearly.

    Example::

        model = resnet((224, 224, 3), 1000, depth=50)                       # torchvision resnet50
        model = resnet((224, 224, 3), 1000, depth=50, width_per_group=128)  # torchvision wide_resnet50_2
        model = resnet((32, 32, 1), 10, depth=18)                           # 4×4 before pooling
    """
    block_kind, repeats = IMAGENET_DEPTHS[depth]
    if block_kind == "basic" and (groups != 1 or width_per_group != 64):
        raise ValueError(f"groups and width_per_group need bottleneck blocks (depth 50, 101 or 152), got depth {depth}")
    small_input = resolve_small_input(small_input, input_shape)
    norm = {"norm": norm, "norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}
    inputs = keras.Input(input_shape, name="images")
    if small_input:
        x = _stem(inputs, 64, 3, 1, preactivation, norm)
    else:
        x = _stem(inputs, 64, 7, 2, preactivation, norm)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    block_kwargs = {"preactivation": preactivation, "se": SE_RESNET if squeeze_excite else None,
                    "zero_init_last_norm": zero_init_last_norm, **norm}
    if block_kind == "basic":
        block = basic_block
    else:
        block = bottleneck_block
        block_kwargs.update(groups=groups, width_per_group=width_per_group, stride_in_1x1=stride_in_1x1)
    x = _stages(x, repeats, IMAGENET_FILTERS, (1, 2, 2, 2), block, drop_path=drop_path, **block_kwargs)
    return _head(inputs, x, num_classes, preactivation, dropout, norm, _resnet_name(depth, preactivation, groups, width_per_group, squeeze_excite))


def _resnet_name(depth: int, preactivation: bool, groups: int, width_per_group: int, squeeze_excite: bool) -> str:
    """The literature's name: resnet50, resnet50_v2, resnext50_32x4d, wide_resnet50_2, se_resnet50."""
    if groups > 1:
        base = f"resnext{depth}_{groups}x{width_per_group}d"
    elif width_per_group != 64:
        base = f"wide_resnet{depth}_{width_per_group / 64:g}"
    else:
        base = f"resnet{depth}"
    return ("se_" if squeeze_excite else "") + base + ("_v2" if preactivation else "")


@MODELS.register("resnext")
def resnext(
    input_shape: tuple,
    num_classes: int,
    depth: Literal[50, 101, 152] = 50,
    groups: PositiveInt = 32,
    width_per_group: PositiveInt = 4,
    squeeze_excite: bool = False,
    zero_init_last_norm: bool = False,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-5,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """ResNeXt (Xie et al., 2017): ResNet whose 3×3 convolutions are split into `groups` parallel paths.

    Each bottleneck's 3×3 becomes `groups` independent convolutions over width_per_group channels
    each ("cardinality"); at equal cost, ResNeXt-50 32×4d (25,028,904 trainable parameters,
    4.23 GMACs, as torchvision's resnext50_32x4d) is ~1.7% more accurate on ImageNet than ResNet-50.
    A thin factory over `resnet` with the paper's defaults.

    Args:
        depth: 50, 101 or 152 (the bottleneck depths of `resnet`).
        groups: cardinality C (the paper: 32; torchvision also has 64×4d).
        width_per_group: d, channels per group in the first stage (4; torchvision's resnext101_32x8d: 8).
        squeeze_excite, zero_init_last_norm, bn_momentum, bn_epsilon, dropout, small_input: as `resnet`.

    Example::

        model = resnext((224, 224, 3), 1000)                                # ResNeXt-50 32×4d
        model = resnext((224, 224, 3), 1000, depth=101, width_per_group=8)  # ResNeXt-101 32×8d
    """
    return resnet(input_shape, num_classes, depth, groups=groups, width_per_group=width_per_group, squeeze_excite=squeeze_excite,
                  zero_init_last_norm=zero_init_last_norm, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, dropout=dropout,
                  small_input=small_input)


@MODELS.register("se_resnet")
def se_resnet(
    input_shape: tuple,
    num_classes: int,
    depth: Literal[50, 101, 152] = 50,
    stride_in_1x1: bool = True,
    zero_init_last_norm: bool = False,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-5,
    dropout: Fraction = 0.0,
    small_input: Optional[bool] = None,
) -> keras.Model:
    """SE-ResNet (Hu et al., 2018): ResNet with squeeze-and-excitation in every bottleneck.

    Every bottleneck rescales its branch's channels by a gate computed from the whole feature
    map (C → C/16 → C, sigmoid) before the add. SE-ResNet-50 has 28,088,024 trainable parameters
    (Hu et al., 2018: 28.09 M, +2.5 M over ResNet-50) and 3.86 GMACs (paper: 3.87 GFLOPs, against
    3.86 for ResNet-50: the SE blocks add 2.5 M MACs, 0.07%). The paper builds on the original
    ResNet, with the stride on the first 1×1 (`stride_in_1x1=True`, the default here); False gives
    timm's seresnet50 (v1.5 layout, 4.09 GMACs). A thin factory over `resnet`.

    Args:
        depth: 50, 101 or 152.
        stride_in_1x1: stride on the bottleneck's first 1×1 (the paper's layout) or its 3×3 (False).
        zero_init_last_norm, bn_momentum, bn_epsilon, dropout, small_input: as `resnet`.

    Example::

        model = se_resnet((224, 224, 3), 1000)      # SE-ResNet-50
    """
    return resnet(input_shape, num_classes, depth, stride_in_1x1=stride_in_1x1, squeeze_excite=True,
                  zero_init_last_norm=zero_init_last_norm, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, dropout=dropout,
                  small_input=small_input)


def _cifar_network(inputs, x, num_classes: int, repeats: int, filters, block, preactivation: bool, norm: dict, model_name: str,
                   **block_kwargs) -> keras.Model:
    """The CIFAR layout: 3×3 stem → three stages (stride 1, 2, 2) of `repeats` blocks → head."""
    x = _stages(x, (repeats,) * 3, filters, (1, 2, 2), block, preactivation=preactivation, **norm, **block_kwargs)
    return _head(inputs, x, num_classes, preactivation, 0.0, norm, model_name)


@MODELS.register("cifar_resnet")
def cifar_resnet(
    input_shape: tuple,
    num_classes: int,
    depth: Annotated[int, Field(ge=8)] = 20,
    preactivation: bool = False,
    bottleneck: bool = False,
    shortcut: Optional[Literal["zero_pad", "projection"]] = None,
    zero_init_last_norm: bool = False,
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-5,
    norm: Norm = "batch",
    drop_path: Fraction = 0.0,
    plain: bool = False,
) -> keras.Model:
    """The CIFAR ResNets of He et al. (2015) §4.2: 6n+2 layers in three stages of 16/32/64 channels.

    A 3×3 stem to 16 channels, three stages of n blocks at 16, 32 and 64 channels (32², 16², 8² on
    CIFAR), global average pooling and the classifier: 2 + 6n layers with basic blocks, no max-pool.
    Where a stage doubles the channels and halves the resolution, the paper's shortcut is
    parameter-free (option A: subsample and append zero channels), so the parameters are those of
    the convolutions alone: ResNet-20/32/44/56/110 have 269,722 / 464,154 / 658,586 / 853,018 /
    1,727,962 trainable parameters (paper Table 6: 0.27/0.46/0.66/0.85/1.7 M; exactly
    akamaster/pytorch_resnet_cifar10) and ResNet-20 costs 40.6 M MACs on 32×32.

    With `preactivation` these are the CIFAR networks of He et al. (2016): pre-activation
    ResNet-110 (basic blocks) and, with `bottleneck`, ResNet-164 and ResNet-1001 (9n+2 layers,
    bottleneck blocks of 16/32/64 × 4 channels with projection shortcuts; 1,703,258 and
    10,327,706 trainable parameters, paper: 1.7 M and 10.2 M).

    With `plain` every shortcut is removed: the paper's plain networks of the same depth and
    width (the same parameters as option A, which has none in its shortcuts), whose *training*
    error is higher at 56 layers than at 20 — the degradation experiment, Fig. 1 and Fig. 6
    (`pipelines/architectures/degradation_*.yaml`).

    Args:
        depth: number of weighted layers, 6n+2 with basic blocks (20, 32, 44, 56, 110, 1202) or
            9n+2 with bottleneck blocks (164, 1001).
        preactivation: v2 blocks (BN-ReLU before each convolution, nothing after the add, a final
            BN-ReLU before pooling), He et al. (2016).
        bottleneck: 1×1-3×3-1×1 bottleneck blocks (depth 9n+2) instead of two 3×3 (6n+2).
        shortcut: where the shape changes: "zero_pad" (option A, parameter-free) or "projection"
            (option B, a 1×1 convolution); None picks the papers' choice: zero_pad for basic
            blocks, projection for bottleneck blocks.
        zero_init_last_norm: start every residual branch at zero (see `resnet`).
        bn_momentum: BatchNorm moving-average momentum (Keras convention).
        bn_epsilon: BatchNorm variance epsilon (PyTorch's 1e-5).
        norm: "batch", "layer", "instance" or "group" normalisation (see `resnet`).
        drop_path: stochastic depth rate of the last block (see `resnet`; Huang et al. used 0.5
            on the 110-layer CIFAR ResNet).
        plain: no shortcuts at all (a plain network, He et al.'s baseline); `shortcut` and
            `drop_path` must then be left unset.

    Example::

        model = cifar_resnet((32, 32, 3), 10, depth=56)                                    # 8×8 before pooling
        model = cifar_resnet((32, 32, 3), 10, depth=164, preactivation=True, bottleneck=True)
    """
    per_block = 9 if bottleneck else 6
    if (depth - 2) % per_block:
        raise ValueError(f"cifar_resnet depth must be {per_block}n+2 with {'bottleneck' if bottleneck else 'basic'} blocks "
                         f"(e.g. {'164' if bottleneck else '20, 56, 110'}), got {depth}")
    if plain and (shortcut or drop_path):
        raise ValueError("cifar_resnet plain: true has no shortcuts; leave shortcut and drop_path unset")
    shortcut = "none" if plain else shortcut or ("projection" if bottleneck else "zero_pad")
    norm = {"norm": norm, "norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}
    inputs = keras.Input(input_shape, name="images")
    x = _stem(inputs, CIFAR_FILTERS[0], 3, 1, preactivation, norm)
    block = bottleneck_block if bottleneck else basic_block
    model_name = f"cifar_{'plain' if plain else 'resnet'}{depth}" + ("_v2" if preactivation else "")
    return _cifar_network(inputs, x, num_classes, (depth - 2) // per_block, CIFAR_FILTERS, block, preactivation, norm, model_name,
                          shortcut=shortcut, zero_init_last_norm=zero_init_last_norm, drop_path=drop_path)


@MODELS.register("wide_resnet")
def wide_resnet(
    input_shape: tuple,
    num_classes: int,
    depth: Annotated[int, Field(ge=10)] = 28,
    widen_factor: PositiveInt = 10,
    dropout: Fraction = 0.0,
    dropout_kind: DropoutKind = "standard",
    bn_momentum: Fraction = 0.9,
    bn_epsilon: PositiveFloat = 1e-5,
) -> keras.Model:
    """Wide ResNet WRN-d-k (Zagoruyko & Komodakis, 2016): a shallow CIFAR ResNet made k times wider.

    He et al.'s thin, very deep CIFAR networks spend most layers on little; a WRN keeps the
    pre-activation basic block, cuts the depth and multiplies the widths by k: a 3×3 stem to 16
    channels, three stages of n = (d − 4)/6 blocks at 16k, 32k and 64k channels (stride 1, 2, 2),
    a 1×1 projection shortcut where the width changes, a final BN-ReLU, global average pooling and
    the classifier. WRN-28-10 has 36,479,194 trainable parameters (paper: 36.5 M), WRN-16-8
    10,961,370 (11.0 M), WRN-40-4 8,949,210 (8.9 M); WRN-28-10 costs 5.24 G MACs per 32×32 image.

    Naming: the CIFAR network of the paper is this `wide_resnet`; the ImageNet Wide ResNet-50-2
    (the paper's bottleneck WRN, torchvision's wide_resnet50_2) is ``resnet(depth=50, width_per_group=128)``.

    Args:
        depth: d = 6n + 4 weighted layers (16, 22, 28, 40, ...).
        widen_factor: k, the width multiplier of the three stages (1 gives a pre-activation
            ResNet with projection shortcuts).
        dropout: dropout rate between the two convolutions of every block (the paper: 0.3; 0 by default).
        dropout_kind: "standard" drops single activations (the paper), "spatial" whole channels
            (SpatialDropout, `kerascv_suite.layers.spatial_dropout`).
        bn_momentum: BatchNorm moving-average momentum (Keras convention).
        bn_epsilon: BatchNorm variance epsilon (PyTorch's 1e-5).

    Example::

        model = wide_resnet((32, 32, 3), 10, depth=28, widen_factor=10, dropout=0.3)   # WRN-28-10
        model = wide_resnet((32, 32, 1), 10, depth=16, widen_factor=4)                 # WRN-16-4, 2.7 M
    """
    if (depth - 4) % 6:
        raise ValueError(f"wide_resnet depth must be 6n+4 (e.g. 16, 28, 40), got {depth}")
    norm = {"norm_momentum": bn_momentum, "norm_epsilon": bn_epsilon}
    inputs = keras.Input(input_shape, name="images")
    x = _stem(inputs, 16, 3, 1, True, norm)
    filters = tuple(f * widen_factor for f in CIFAR_FILTERS)
    return _cifar_network(inputs, x, num_classes, (depth - 4) // 6, filters, basic_block, True, norm, f"wide_resnet{depth}_{widen_factor}",
                          dropout=dropout, dropout_kind=dropout_kind)
