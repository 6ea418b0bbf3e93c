"""make_divisible against the TF-slim rounding rule and its stated properties."""

import pytest

from kerascv_suite.layers import make_divisible


def slim_make_divisible(v, divisor=8, min_value=None):
    """The reference formula, as published in TF-slim's mobilenet.py (and keras.applications)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@pytest.mark.parametrize("divisor", [1, 4, 8, 16])
def test_matches_the_reference_formula(divisor):
    values = [c * alpha for c in (16, 24, 32, 40, 96, 320, 1280) for alpha in (0.1, 0.35, 0.5, 0.56, 0.75, 1.0, 1.3, 1.4, 2.3)]
    assert [make_divisible(v, divisor) for v in values] == [slim_make_divisible(v, divisor) for v in values]


@pytest.mark.parametrize("value, expected", [(11.2, 16), (8.4, 8), (31.2, 32), (12, 16), (576, 576), (1.0, 8), (19.9, 24)])
def test_known_values(value, expected):
    # 11.2 rounds to 8, 29% below, so it is bumped to 16; 12 rounds half up to 16
    assert make_divisible(value) == expected


def test_properties():
    for tenth in range(1, 5000):
        value = tenth / 10
        result = make_divisible(value)
        assert result % 8 == 0 and result >= 8
        assert result >= 0.9 * value            # never loses more than 10%
        assert result <= max(8, value + 8)      # never adds more than one divisor


def test_min_value():
    assert make_divisible(3, 8, min_value=16) == 16
    assert make_divisible(0.2, 1) == 1
