"""Heads of the fully connected era: pool to a fixed grid, flatten, dense layers (AlexNet, ZFNet, VGG).

AlexNet, ZFNet and VGG end with three dense layers on the flattened last feature map
(6×6×256 in AlexNet, 7×7×512 in VGG): 90% of their parameters. A flattened map fixes the
input size, so torchvision first average-pools the map to that grid whatever its size
(`AdaptiveAvgPool2d`): at 224×224 the pooling is the identity and the parameter counts are
the papers', and the same network builds at any input size. Network-in-Network and
GoogLeNet replaced this head by global average pooling and one dense layer.

- `AdaptiveAveragePool2D`: average-pool any H×W map to a fixed h×w grid (also when H < h).
- `dense_classifier`: adaptive pool → flatten → (dense + ReLU + dropout) × 2 → logits.
- `pooled_classifier`: global average pool → (dropout) → logits, the head of GoogLeNet and of
  every later family here (ResNet, DenseNet, MobileNet, ShuffleNet, EfficientNet).
- `classifier_features`: the features any of the library's classifiers reads (the input of
  its `logits` layer), for transfer learning and `kcv score`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


def adaptive_pooling_matrix(size: int, output_size: int) -> np.ndarray:
    """(output_size, size) averaging weights: row i averages input cells ⌊i·size/out⌋ … ⌈(i+1)·size/out⌉ − 1.

    PyTorch's adaptive pooling windows: they tile the input when it is larger than the output
    (overlapping by at most one cell) and repeat input cells when it is smaller.

    Example::

        adaptive_pooling_matrix(4, 2)   # [[.5, .5, 0, 0], [0, 0, .5, .5]]
        adaptive_pooling_matrix(1, 3)   # [[1], [1], [1]]: a 1×1 map becomes a constant 3×3 grid
    """
    matrix = np.zeros((output_size, size), "float32")
    for i in range(output_size):
        start, end = (i * size) // output_size, math.ceil((i + 1) * size / output_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="kerascv_suite")
class AdaptiveAveragePool2D(keras.layers.Layer):
    """Average-pool a (batch, H, W, C) map to (batch, h, w, C) for any H, W: `torch.nn.AdaptiveAvgPool2d`.

    Computed as two small matrix products with `adaptive_pooling_matrix` over rows and
    columns (the identity, skipped, when the map already has the output size). Keras's own
    `AdaptiveAveragePooling2D` fails inside a compiled training step on a 1-pixel map (its
    2-cell windows do not fit), which VGG without `small_input` meets at 32–63 pixels.

    Args:
        output_size: h, or (h, w).

    Example::

        x = AdaptiveAveragePool2D(7, name="avgpool")(x)   # VGG: 7×7×512 at any input size
    """

    def __init__(self, output_size: int | tuple[int, int], **kwargs):
        super().__init__(**kwargs)
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(int(s) for s in output_size)

    def build(self, input_shape):
        height, width = input_shape[1:3]
        if height is None or width is None:
            raise ValueError(f"{self.name}: adaptive pooling needs a known height and width, got {tuple(input_shape)}")
        self._rows = adaptive_pooling_matrix(height, self.output_size[0])
        self._columns = adaptive_pooling_matrix(width, self.output_size[1])
        self._identity = (height, width) == self.output_size

    def call(self, inputs):
        if self._identity:
            return inputs
        rows = ops.convert_to_tensor(self._rows, inputs.dtype)
        columns = ops.convert_to_tensor(self._columns, inputs.dtype)
        return ops.einsum("jw,bhwc->bhjc", columns, ops.einsum("ih,bhwc->biwc", rows, inputs))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


def dense_classifier(x, num_classes: int, pooled_size: int, hidden_units: int = 4096, dropout: float = 0.0):
    """AlexNet/VGG's head: adaptive average pool to pooled_size² → flatten → 2 × (dense + ReLU + dropout) → logits.

    Dropout follows each hidden layer's ReLU, as in the AlexNet paper (Caffe's drop6/drop7), VGG
    and torchvision's VGG (torchvision's AlexNet drops before each hidden layer instead: same
    parameters, same cost).

    Args:
        x: the last (batch, H, W, C) feature map.
        num_classes: outputs of the final dense layer (logits, no softmax).
        pooled_size: side of the grid the map is pooled to (6 for AlexNet, 7 for VGG).
        hidden_units: width of the two hidden layers (4096 in the papers); 0 puts the logits
            directly on the pooled features (the single linear layer of CIFAR VGGs).
        dropout: dropout rate after each hidden layer (0.5 in the papers); 0 for none.

    Returns:
        (batch, num_classes) logits. Layers: `avgpool`, `flatten`, `fc1`, `fc2`
        (`fc1_dropout`, `fc2_dropout`), `logits`.

    Example::

        logits = dense_classifier(features, 1000, pooled_size=7)   # VGG: 25,088 → 4096 → 4096 → 1000
    """
    x = AdaptiveAveragePool2D(pooled_size, name="avgpool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index in (1, 2) if hidden_units else ():
        x = keras.layers.Dense(hidden_units, activation="relu", name=f"fc{index}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


def pooled_classifier(x, num_classes: int, dropout: float = 0.0):
    """The global-average-pooling head: global average pool → (dropout) → logits.

    Averaging each channel over the whole map (Network-in-Network, GoogLeNet) replaces the
    flattened dense layers: the head has C·K + K weights whatever the input size.

    Args:
        x: the last (batch, H, W, C) feature map.
        num_classes: outputs of the dense layer (logits, no softmax).
        dropout: dropout rate on the pooled features; 0 for none.

    Returns:
        (batch, num_classes) logits. Layers: `pool`, (`dropout`), `logits` — transfer learning
        finds the pooled features and the classifier by these names.

    Example::

        logits = pooled_classifier(features, 10, dropout=0.2)   # ResNet: 2048 → 10
    """
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


# The name every classifier the library builds gives its final layer (`layers/classifier.py`'s
# heads, LeNet, the linear models, MobileNet) and the one a transfer model's new head has.
CLASSIFIER_LAYERS = ("logits", "transfer_logits")


def classifier_features(network: keras.Model) -> keras.KerasTensor:
    """The features a classifier's head reads: the input of its `logits` layer (DESIGN's "pooled" endpoint).

    Transfer learning and `kcv score` read these. A model without a layer of those names (one
    built outside the library) gets a ValueError: say which layer holds its features.
    """
    names = {layer.name for layer in network.layers}
    for name in CLASSIFIER_LAYERS:
        if name in names:
            return network.get_layer(name).input
    raise ValueError(f"{network.name} has no classifier layer named {' or '.join(CLASSIFIER_LAYERS)}; "
                     f"name the layer whose output is its features")
