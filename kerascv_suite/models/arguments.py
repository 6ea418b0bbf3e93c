"""Argument types shared by the model builders; a builder's annotations are its spec schema.

Example::

    def vgg(input_shape: tuple, num_classes: int, dropout: Fraction = 0.0): ...   # spec: dropout in [0, 1)
"""

from typing import Annotated

from pydantic import Field

Fraction = Annotated[float, Field(ge=0, lt=1)]
"""A rate in [0, 1): dropout, BatchNorm momentum."""

__all__ = ["Fraction"]
