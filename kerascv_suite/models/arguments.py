"""Argument types and defaults shared by the model builders; a builder's annotations are its spec schema.

Example::

    def vgg(input_shape: tuple, num_classes: int, dropout: Fraction = 0.0): ...   # spec: dropout in [0, 1)
"""

from typing import Annotated

from pydantic import Field

Fraction = Annotated[float, Field(ge=0, lt=1)]
"""A rate in [0, 1): dropout, BatchNorm momentum."""

SMALL_INPUT_BELOW = 64
"""Images with a side under this many pixels (digits, MNIST, CIFAR) get the small-input stem."""


def resolve_small_input(small_input: bool | None, input_shape: tuple) -> bool:
    """A builder's `small_input` argument, with None meaning "decide from the image size".

    ImageNet stems downsample 4× to 32× before the first block (a strided 7×7 or 11×11
    convolution and a max pool); on an 8×8 digit or a 32×32 CIFAR image that leaves almost no map,
    so each family has a small-input stem (stride 1, no pool), as CIFAR papers use. None picks it
    when the smaller image side is under 64 pixels; True or False forces it.

    Args:
        small_input: True, False, or None (the default of every builder that has the argument).
        input_shape: (height, width, channels) of the model's images.

    Returns:
        Whether to build the small-input stem.

    Example::

        resolve_small_input(None, (32, 32, 3))     # True: CIFAR-sized
        resolve_small_input(None, (224, 224, 3))   # False: ImageNet stem
    """
    if small_input is None:
        return min(input_shape[:2]) < SMALL_INPUT_BELOW
    return small_input


__all__ = ["Fraction", "SMALL_INPUT_BELOW", "resolve_small_input"]
