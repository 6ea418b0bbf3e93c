"""Convolution arithmetic (`kerascv_suite.models.arithmetic`) against closed-form formulas and the papers' counts."""

import keras
import pytest

from kerascv_suite.cli import main
from kerascv_suite.models.arithmetic import (
    format_summary,
    layer_macs,
    output_size,
    padded_output_size,
    receptive_fields,
    stage_of,
    summary,
)
from kerascv_suite.registry import MODELS, load_components

load_components()


def called(layer, input_shape):
    """`layer` called once on a symbolic input, so its input and output shapes are known."""
    layer(keras.Input(input_shape))
    return layer


@pytest.mark.parametrize("padding, expected_side", [("valid", 15), ("same", 16)])
def test_conv2d_stride_2_is_output_pixels_times_window_times_channels(padding, expected_side):
    conv = called(keras.layers.Conv2D(16, 3, strides=2, padding=padding), (32, 32, 8))
    assert conv.output.shape[1:3] == (expected_side, expected_side)
    assert layer_macs(conv) == expected_side * expected_side * 3 * 3 * 8 * 16


def test_grouped_conv2d_divides_by_the_groups():
    conv = called(keras.layers.Conv2D(32, 3, padding="same", groups=4), (8, 8, 16))
    assert layer_macs(conv) == 8 * 8 * 3 * 3 * (16 // 4) * 32


def test_depthwise_conv2d_with_depth_multiplier():
    conv = called(keras.layers.DepthwiseConv2D(5, strides=2, padding="same", depth_multiplier=2), (14, 14, 12))
    assert layer_macs(conv) == 7 * 7 * 5 * 5 * 12 * 2


def test_separable_conv2d_is_depthwise_plus_pointwise():
    conv = called(keras.layers.SeparableConv2D(24, 3, depth_multiplier=2), (10, 10, 4))
    assert layer_macs(conv) == 8 * 8 * 9 * 4 * 2 + 8 * 8 * 4 * 2 * 24


def test_conv2d_transpose_scatters_a_kernel_per_input_pixel():
    conv = called(keras.layers.Conv2DTranspose(8, 4, strides=2, padding="same"), (7, 7, 16))
    assert layer_macs(conv) == 7 * 7 * 4 * 4 * 16 * 8


@pytest.mark.parametrize("input_shape, expected", [((400,), 400 * 120), ((5, 7, 400), 5 * 7 * 400 * 120)])
def test_dense_multiplies_inputs_by_units_at_every_position(input_shape, expected):
    assert layer_macs(called(keras.layers.Dense(120), input_shape)) == expected


@pytest.mark.parametrize("layer", [keras.layers.MaxPooling2D(2), keras.layers.BatchNormalization(), keras.layers.ReLU()])
def test_layers_without_multiply_accumulates_count_zero(layer):
    assert layer_macs(called(layer, (8, 8, 4))) == 0


@pytest.mark.parametrize("w, f, p, s", [(32, 5, 0, 1), (224, 3, 1, 2), (7, 3, 0, 2), (227, 11, 0, 4), (28, 3, 1, 1), (13, 4, 2, 3)])
def test_output_size_matches_keras_with_explicit_padding(w, f, p, s):
    x = keras.Input((w, w, 1))
    y = keras.layers.Conv2D(1, f, strides=s)(keras.layers.ZeroPadding2D(p)(x))
    assert output_size(w, f, p, s) == y.shape[1]


@pytest.mark.parametrize("w, f, s, padding, dilation", [(224, 3, 2, "same", 1), (15, 4, 3, "same", 1), (15, 5, 2, "valid", 1),
                                                         (33, 3, 1, "valid", 2), (32, 3, 1, "same", 1)])
def test_same_and_valid_padding_match_keras(w, f, s, padding, dilation):
    y = keras.layers.Conv2D(1, f, strides=s, padding=padding, dilation_rate=dilation)(keras.Input((w, w, 1)))
    assert padded_output_size(w, f, s, padding, dilation) == y.shape[1]
    if padding == "same" and s == 1 and f % 2:
        assert output_size(w, f, (f - 1) // 2, s) == w


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_stacked_3x3_stride_1_convs_see_1_plus_2L(depth):
    x = inputs = keras.Input((32, 32, 1))
    for _ in range(depth):
        x = keras.layers.Conv2D(2, 3, padding="same")(x)
    last = receptive_fields(keras.Model(inputs, x))[-1]
    assert last.receptive_field == (1 + 2 * depth,) * 2 and last.jump == (1, 1) and last.output_size == (32, 32)


def test_receptive_field_with_strides_pooling_and_dilation_follows_the_general_rule():
    x = inputs = keras.Input((64, 64, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", name="a")(x)                 # r 1 + 2·1 = 3,   j 1
    x = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="b")(x)      # r 3 + 2·1 = 5,   j 2
    x = keras.layers.Conv2D(2, 3, padding="same", name="c")(x)                 # r 5 + 2·2 = 9,   j 2
    x = keras.layers.MaxPooling2D(2, name="d")(x)                              # r 9 + 1·2 = 11,  j 4
    x = keras.layers.Conv2D(2, 3, dilation_rate=2, padding="same", name="e")(x)  # k_eff 5: r 11 + 4·4 = 27, j 4
    rows = {r.layer: r for r in receptive_fields(keras.Model(inputs, x))}
    assert [(rows[n].receptive_field[0], rows[n].jump[0], rows[n].output_size[0]) for n in "abcde"] == [
        (3, 1, 64), (5, 2, 32), (9, 2, 32), (11, 4, 16), (27, 4, 16)]


def test_residual_add_takes_the_larger_receptive_field():
    inputs = keras.Input((16, 16, 1))
    short = keras.layers.Conv2D(2, 1, name="short")(inputs)
    long = keras.layers.Conv2D(2, 3, padding="same", name="long2")(keras.layers.Conv2D(2, 3, padding="same", name="long1")(inputs))
    rows = {r.layer: r for r in receptive_fields(keras.Model(inputs, keras.layers.Add(name="add")([short, long])))}
    assert rows["short"].receptive_field == (1, 1) and rows["add"].receptive_field == (5, 5)


def test_lenet5_macs_are_the_hand_computed_sum():
    model = MODELS.get("lenet5")((32, 32, 1), 10)
    rows = {r.stage: r for r in summary(model)}
    assert rows["c1"].macs == 28 * 28 * 25 * 6 and rows["c3"].macs == 10 * 10 * 150 * 16
    assert rows["s2"].macs == rows["s4"].macs == 0  # pooling adds no multiply-accumulates
    expected = 28 * 28 * 25 * 6 + 10 * 10 * 150 * 16 + 400 * 120 + 120 * 84 + 84 * 10
    assert rows["total"].macs == expected == 416_520 and rows["total"].params == model.count_params() == 61_706
    assert receptive_fields(model)[-1].receptive_field == (32, 32)  # the logits see the whole image
    table = format_summary(summary(model))
    assert "61,706" in table and "416,520" in table and "117,600" in table


def test_mobilenet_v2_is_about_300m_macs_as_in_the_paper():
    model = MODELS.get("mobilenet_v2")((224, 224, 3), 1000)
    rows = summary(model)
    assert abs(rows[-1].macs - 300e6) <= 0.05 * 300e6
    assert rows[-1].params == model.count_params() == 3_538_984
    assert [r.stage for r in rows[:3]] == ["stem", "block0", "block1"] and rows[0].output_shape == (112, 112, 32)
    assert "300.8M" in format_summary(rows)


def test_stage_names():
    assert stage_of("block3_expand_conv") == "block3" and stage_of("conv2d_3") == "conv2d_3" and stage_of("c1") == "c1"


def test_cli_summary_prints_the_table_and_the_totals(capsys):
    assert main(["summary", "lenet5", "--input", "32x32x1", "--classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "c3" in out and "61,706 parameters, 416,520 multiply-accumulates" in out


def test_cli_receptive_field_prints_each_layer(capsys):
    assert main(["receptive-field", "lenet5", "--input", "32x32x1", "--classes", "10"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:4] == ["s4", "16×16", "4×4", "5×5"] for line in out.splitlines())
    assert "the output sees 32×32 input pixels" in out


@pytest.mark.parametrize("argv, message", [
    (["summary", "lenet5", "--input", "224x224"], "--input: expected HEIGHTxWIDTHxCHANNELS"),
    (["summary", "lenet55"], "unknown model 'lenet55' (did you mean 'lenet5'?)"),
    (["receptive-field", "lenet5", "--set", "activaton=relu"], "did you mean 'activation'?"),
    (["summary", "lenet5", "--input", "16x16x1"], "model 'lenet5': lenet5 needs at least 32×32 input"),
])
def test_cli_bad_inputs_are_one_line_user_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
