"""Backbones: any CNN of the zoo as a feature extractor with named multi-scale endpoints.

Detection, segmentation and localisation heads sit on a backbone's feature maps, not on its
class scores. `feature_extractor(network)` turns a zoo classifier into a functional model whose
outputs are a dict of endpoints ``{"stride_1": ..., "stride_2": ..., "stride_4": ..., ...}``:
for each output stride (input size / feature-map size) the map of the LAST layer in the
network's topological order that still has that resolution — the end of each stage, where
torchvision's `IntermediateLayerGetter` and keras-hub's backbones read their pyramid levels
(C2…C5 are stride_4…stride_32). The rule is structural, not a guess at layer names, so it holds
for every family the same way; branches that end in their own head (GoogLeNet's auxiliary
classifiers) are not on the path from the input to the network's last feature map and are
skipped, and so is a head that resizes a map up again (VGG's adaptive 7×7 pooling). Where a
stage's last map is followed by the next block's 1×1 expansion at the same stride
(MobileNetV2), the expansion is the endpoint, as DeepLabV3+ reads MobileNetV2.

The CNN families are registered as backbones too (`kcv list backbones`), so a spec names a
backbone like a model: ``backbone: {name: cifar_resnet, depth: 20}``.

Example::

    network = MODELS.get("resnet")((64, 64, 3), 10, depth=18)
    features = feature_extractor(network)
    features.output_shape["stride_32"]            # (None, 2, 2, 512)
"""

from __future__ import annotations

import keras

from kerascv_suite.core import compat
from kerascv_suite.registry import BACKBONES, MODELS

# The zoo's convolutional families: each builds a classifier whose feature maps a head can use.
FAMILIES = ("lenet5", "alexnet", "zfnet", "vgg", "googlenet", "resnet", "resnext", "se_resnet", "cifar_resnet",
            "wide_resnet", "densenet", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
            "shufflenet_v2", "efficientnet")

for _family in FAMILIES:
    BACKBONES.register(_family)(MODELS.get(_family))


def _on_main_path(network: keras.Model) -> set[int]:
    """ids of the tensors on a path from the input to the last 4-D feature map (the one that reaches the classifier)."""
    maps = [layer.output for layer in network.layers if _is_map(layer)]
    if not maps:
        raise ValueError(f"{network.name} has no 2-D feature maps to use as a backbone")
    needed, stack = set(), [maps[-1]]
    while stack:
        tensor = stack.pop()
        if id(tensor) in needed:
            continue
        needed.add(id(tensor))
        stack.extend(compat.input_tensors(tensor))
    return needed


def _is_map(layer) -> bool:
    output = getattr(layer, "output", None)
    return not isinstance(layer, keras.layers.InputLayer) and isinstance(output, keras.KerasTensor) and len(output.shape) == 4


def endpoints(network: keras.Model) -> dict[str, keras.KerasTensor]:
    """{"stride_S": the last feature map at output stride S} along the network's main path, shallowest first."""
    size = network.inputs[0].shape[1]
    main = _on_main_path(network)
    found: dict[int, keras.KerasTensor] = {}
    for layer in network.layers:
        if not (_is_map(layer) and id(layer.output) in main and layer.output.shape[1]):
            continue
        stride = size // layer.output.shape[1]
        # The stride only grows along the main path; a head that resizes (VGG's adaptive 7×7 pool) is no endpoint.
        if stride >= max(found, default=1) and size % layer.output.shape[1] == 0:
            found[stride] = layer.output
    return {f"stride_{stride}": found[stride] for stride in sorted(found)}


def feature_extractor(network: keras.Model, strides: tuple[int, ...] | None = None) -> keras.Model:
    """A functional model from the network's input to its endpoints (all, or those at `strides`), a dict of outputs.

    Raises ValueError naming the strides the network has when one asked for is missing.
    """
    points = endpoints(network)
    if strides is not None:
        missing = [s for s in strides if f"stride_{s}" not in points]
        if missing:
            raise ValueError(f"backbone {network.name} has no feature map at stride {missing[0]}; it has strides "
                             f"{', '.join(k.removeprefix('stride_') for k in points)}")
        points = {f"stride_{s}": points[f"stride_{s}"] for s in strides}
    return keras.Model(network.inputs, points, name=f"{network.name}_features")


__all__ = ["FAMILIES", "endpoints", "feature_extractor"]
