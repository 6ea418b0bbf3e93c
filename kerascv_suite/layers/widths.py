"""Channel widths: rounding a scaled channel count to hardware-friendly multiples."""

from __future__ import annotations


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round `value` to the nearest multiple of `divisor`, but never more than 10% below it.

    The rounding rule of TF-slim's MobileNets (and `keras.applications`, timm, torchvision):
    a width multiplier (0.35, 0.75, 1.3, ...) scales every layer's channel count, and the
    result is snapped to a multiple of 8 so that vectorised kernels use whole registers.
    Rounding half up could lose more than 10% of a small layer's channels (e.g. 11.2 → 8),
    so such a result is bumped up by one `divisor`.

    Args:
        value: the scaled channel count (any positive real number).
        divisor: the multiple to round to (8 for the MobileNets).
        min_value: smallest result allowed (default: `divisor`).

    Returns:
        An int multiple of `divisor`, at least `min_value` and at least 0.9·`value`.

    Example::

        make_divisible(32 * 0.35)   # 16: 8 would be 29% below 11.2
        make_divisible(24 * 1.3)    # 32
        make_divisible(96 * 6)      # 576: multiples of 8 are kept
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
