"""The shared builder defaults: `small_input=None` decides from the smaller image side."""

import pytest

from kerascv_suite.models.arguments import resolve_small_input


@pytest.mark.parametrize("small_input, shape, expected", [
    (None, (8, 8, 1), True), (None, (63, 200, 3), True), (None, (64, 64, 3), False), (None, (224, 224, 3), False),
    (True, (224, 224, 3), True), (False, (32, 32, 3), False),
])
def test_resolve_small_input(small_input, shape, expected):
    assert resolve_small_input(small_input, shape) is expected
