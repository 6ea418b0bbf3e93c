"""Linear classifier and MLP: shapes, parameter counts, and the L2 penalty they add."""

import numpy as np

from kerascv_suite.models.linear import linear, mlp


def test_linear_is_one_dense_layer_on_the_flattened_image():
    model = linear((8, 8, 1), 10)
    assert model.count_params() == 64 * 10 + 10
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    kernel, bias = model.get_layer("logits").get_weights()
    np.testing.assert_allclose(model(x).numpy(), x.reshape(3, -1) @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_l2_penalty_is_lambda_times_the_squared_weights():
    model = linear((8, 8, 1), 10, l2=0.01)
    model(np.zeros((1, 8, 8, 1), "float32"))
    kernel = model.get_layer("logits").get_weights()[0]
    np.testing.assert_allclose(float(sum(model.losses)), 0.01 * np.sum(kernel**2), rtol=1e-5)


def test_mlp_layer_widths_and_parameter_count():
    model = mlp((8, 8, 1), 10, hidden=[128, 32], dropout=0.5)
    assert model.count_params() == (64 * 128 + 128) + (128 * 32 + 32) + (32 * 10 + 10)
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [128, 32, 10]
