"""The PyTorch side of the speed benchmark: ResNet-20 and MobileNetV2 as the library builds them, and their training loop.

Each network repeats, layer for layer, the Keras model the library builds for 32×32×3 inputs and
10 classes (`model: {name: cifar_resnet, depth: 20}` and `model: {name: mobilenet_v2}`, whose
`small_input` stem keeps stride 1 in the stem and in the first strided block): the same widths,
kernels, strides, bias-free convolutions before BatchNorm, the same BatchNorm epsilon and momentum
(Keras's 0.9 is PyTorch's 0.1), ReLU6 and linear bottlenecks, the parameter-free "option A"
shortcut of the CIFAR ResNets. `keras_style_count` counts parameters as Keras's `count_params()`
does (BatchNorm's moving mean and variance included), so the benchmark asserts the two counts are
equal. One difference on purpose: a stride-2 3×3 convolution pads one pixel each side here and
Keras's "same" pads only the bottom and right; the output sizes, weights and multiply-accumulates
are the same. Only the benchmark imports this file (PyTorch is the `bench` extra).

Example::

    model = mobilenet_v2(num_classes=10)
    keras_style_count(model)                     # 2,270,794, as the Keras model's count_params()
    seconds = train_epochs(model, images, labels, batch_size=128, epochs=2)
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# MobileNetV2 (Sandler et al., 2018, Table 2): (expansion t, filters c, repeats n, stride s).
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1, epsilon: float = 1e-5,
            activation: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """A bias-free k×k convolution → BatchNorm → activation (None: linear), the library's `conv_norm_act`."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
              nn.BatchNorm2d(out_channels, eps=epsilon, momentum=0.1)]
    return nn.Sequential(*layers, *([activation()] if activation else []))


class BasicBlock(nn.Module):
    """conv3×3(stride)-BN-ReLU → conv3×3-BN, + shortcut, ReLU; the shortcut subsamples and appends zero channels (option A)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.branch = nn.Sequential(conv_bn(in_channels, out_channels, 3, stride), conv_bn(out_channels, out_channels, 3, activation=None))
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x):
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.extra:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
        return F.relu(self.branch(x) + shortcut)


def cifar_resnet(depth: int = 20, num_classes: int = 10) -> nn.Module:
    """He et al. (2015) §4.2: a 3×3 stem to 16 channels, three stages of (depth − 2)/6 blocks of 16/32/64 channels, pool, logits."""
    layers, channels = [conv_bn(3, 16, 3)], 16
    for stage, width in enumerate((16, 32, 64)):
        for index in range((depth - 2) // 6):
            layers.append(BasicBlock(channels, width, 2 if stage and not index else 1))
            channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


class InvertedResidual(nn.Module):
    """Expand 1×1 (skipped for t = 1) → depthwise 3×3 (stride) → linear project 1×1, + input when the shape is kept."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int):
        super().__init__()
        wide = in_channels * expansion
        expand = [conv_bn(in_channels, wide, 1, epsilon=1e-3, activation=nn.ReLU6)] if expansion != 1 else []
        self.branch = nn.Sequential(*expand, conv_bn(wide, wide, 3, stride, groups=wide, epsilon=1e-3, activation=nn.ReLU6),
                                    conv_bn(wide, out_channels, 1, epsilon=1e-3, activation=None))
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        return x + self.branch(x) if self.residual else self.branch(x)


def mobilenet_v2(num_classes: int = 10) -> nn.Module:
    """MobileNetV2 at width 1.0 for small inputs: stride-1 stem, the first strided block at stride 1, 1280-wide last conv."""
    layers, channels, keep_resolution = [conv_bn(3, 32, 3, epsilon=1e-3, activation=nn.ReLU6)], 32, True
    for expansion, filters, repeats, stride in V2_STAGES:
        for index in range(repeats):
            block_stride = stride if index == 0 else 1
            if block_stride > 1 and keep_resolution:
                block_stride, keep_resolution = 1, False
            layers.append(InvertedResidual(channels, filters, expansion, block_stride))
            channels = filters
    layers.append(conv_bn(channels, 1280, 1, epsilon=1e-3, activation=nn.ReLU6))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, num_classes))


MODELS = {"resnet20": lambda: cifar_resnet(20), "mobilenet_v2": mobilenet_v2}


def keras_style_count(model: nn.Module) -> int:
    """Parameters as Keras's `count_params()` counts them: PyTorch's parameters plus BatchNorm's running mean and variance."""
    buffers = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return sum(p.numel() for p in model.parameters()) + buffers


def multiply_accumulates(model: nn.Module, image_shape: tuple = (32, 32, 3)) -> int:
    """Multiply-accumulates of one example, counted as `kerascv_suite.models.arithmetic` counts the Keras model.

    Convolutions H'·W'·k²·C_in/groups·C_out and linear layers in·out, everything else 0; equal
    counts mean equal strides and widths, which equal parameter counts alone would not show.
    """
    total = 0

    def count(layer, inputs, output):
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            total += output.shape[2] * output.shape[3] * layer.weight[0].numel() * layer.out_channels
        elif isinstance(layer, nn.Linear):
            total += layer.in_features * layer.out_features

    hooks = [layer.register_forward_hook(count) for layer in model.modules() if isinstance(layer, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, image_shape[2], *image_shape[:2]))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def train_epochs(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int, epochs: int,
                 learning_rate: float = 0.01, momentum: float = 0.9) -> list[float]:
    """Train eagerly in channels_last with SGD + momentum; the wall-clock seconds of each epoch.

    `images` are uint8 [N, H, W, C] (rescaled to [0, 1] once, before timing), N a multiple of
    `batch_size`; each epoch visits them in a new random order, as `model.fit` shuffles.
    """
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(labels.astype(np.int64))
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(x))
        correct = torch.zeros((), dtype=torch.int64)  # an accuracy, as Keras's fit computes one
        for first in range(0, len(x), batch_size):
            batch = order[first : first + batch_size]
            logits = model(x[batch].contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += (logits.argmax(dim=1) == y[batch]).sum()
        seconds.append(time.perf_counter() - started)
    return seconds
