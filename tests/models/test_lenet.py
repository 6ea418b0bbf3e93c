"""LeNet-5 against the paper's arithmetic."""

import pytest

from kerascv_suite.data.pipeline import DataInfo
from kerascv_suite.models import build_model
from kerascv_suite.models.lenet import lenet5
from kerascv_suite.spec import validate_spec
from kerascv_suite.spec.errors import UserError


def test_parameter_count_matches_the_paper_arithmetic():
    model = lenet5((32, 32, 1), 10)
    # c1 (5·5·1+1)·6, c3 (5·5·6+1)·16, c5 (400+1)·120, f6 (120+1)·84, output (84+1)·10
    expected = 156 + 2416 + 48120 + 10164 + 850
    assert model.count_params() == expected == 61706
    assert model.output_shape == (None, 10)
    assert [layer.output.shape[1:] for layer in model.layers if layer.name in ("c1", "s2", "c3", "s4")] == [
        (28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16)
    ]


def test_too_small_input_is_a_one_line_user_error():
    spec = validate_spec({"name": "t", "model": {"name": "lenet5"}})
    info = DataInfo(input_shape=(8, 8, 1), num_classes=10, class_names=list("0123456789"), split_sizes={"train": 10})
    with pytest.raises(UserError, match="lenet5.*at least 32×32.*resize"):
        build_model(spec, info)
