"""FractionalMaxPooling2D: shapes as TensorFlow computes them, window maxima against NumPy, random cells in training only."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.layers.fractional_pooling import (
    FractionalMaxPooling2D,
    fractional_output_size,
)


def window_ends(layer, height, width, training=False):
    """The last input row and column of each output cell, read off an input that increases along rows and columns.

    On x[r, c] = r·width + c the max of a cell is its bottom-right corner.
    """
    ramp = np.arange(height * width, dtype="float32").reshape(1, height, width, 1)
    corners = np.asarray(layer(ramp, training=training))[0, :, :, 0].astype(int)
    return corners[:, 0] // width, corners[0, :] % width


def numpy_pool(x, row_ends, col_ends, overlapping):
    """Max over the cells given by their last rows/columns; a cell starts at the previous cell's end (+1 if disjoint)."""
    def starts(ends):
        return [0] + [end + (0 if overlapping else 1) for end in ends[:-1]]

    rows = list(zip(starts(row_ends), row_ends))
    cols = list(zip(starts(col_ends), col_ends))
    return np.array([[[x[b, r0:r1 + 1, c0:c1 + 1].max(axis=(0, 1)) for c0, c1 in cols] for r0, r1 in rows]
                     for b in range(x.shape[0])])


@pytest.mark.parametrize("size, ratio", [(10, 1.414), (32, 1.414), (7, 1.5), (9, 1.25), (33, 1.1), (18, 1.2), (12, 2.5)])
def test_output_shape_is_tensorflows_float32_floor(size, ratio):
    layer = FractionalMaxPooling2D(ratio)
    expected = layer.compute_output_shape((2, size, size + 1, 3))
    assert expected == (2, fractional_output_size(size, ratio), fractional_output_size(size + 1, ratio), 3)
    x = np.zeros((2, size, size + 1, 3), "float32")
    assert tuple(layer(x).shape) == tuple(layer(x, training=True).shape) == expected
    # TensorFlow divides in float32: 33 / 1.1 gives 30 and 18 / 1.2 gives 14 where float64 gives 29 and 15
    assert {(33, 1.1): 30, (18, 1.2): 14}.get((size, ratio), expected[1]) == expected[1]


def test_functional_api_shapes_and_rectangular_ratios():
    out = FractionalMaxPooling2D((1.5, 1.25), name="fmp")(keras.Input((12, 10, 4)))
    assert tuple(out.shape) == (None, 8, 8, 4)
    assert tuple(FractionalMaxPooling2D(1.414)(keras.Input((None, None, 4))).shape) == (None, None, None, 4)
    with pytest.raises(ValueError, match="smaller than the pooling ratio"):
        FractionalMaxPooling2D(2.5)(keras.Input((2, 8, 1)))
    with pytest.raises(ValueError, match="pooling_ratio"):
        FractionalMaxPooling2D(0.5)


@pytest.mark.parametrize("overlapping", [False, True])
@pytest.mark.parametrize("pseudo_random", [False, True])
def test_every_output_is_the_max_of_its_cell(overlapping, pseudo_random):
    layer = FractionalMaxPooling2D(1.414, pseudo_random=pseudo_random, overlapping=overlapping, seed=5)
    row_ends, col_ends = window_ends(layer, 15, 12)
    # the boundaries 0 = a_0 < a_1 < … < a_n = size cut intervals of ⌊√2⌋ = 1 or 2 rows; a disjoint cell ends at
    # a_{i+1} − 1, an overlapping one at a_{i+1} (clipped to the border for the last)
    for ends, size in ((row_ends, 15), (col_ends, 12)):
        assert len(ends) == fractional_output_size(size, 1.414) and ends[-1] == size - 1
        boundaries = [0, *ends[:-1], size] if overlapping else [0, *(ends + 1)]
        assert set(np.diff(boundaries)) <= {1, 2}
    x = np.random.default_rng(0).permutation(2 * 15 * 12 * 3).reshape(2, 15, 12, 3).astype("float32")
    np.testing.assert_array_equal(layer(x), numpy_pool(x, row_ends, col_ends, overlapping))


def test_inference_cells_are_fixed_and_training_cells_are_redrawn():
    layer = FractionalMaxPooling2D(1.414, seed=3)
    inference = window_ends(layer, 20, 20)
    assert all(np.array_equal(a, b) for a, b in zip(inference, window_ends(layer, 20, 20)))
    # another layer with the same seed pools the same cells; another seed, other cells
    assert all(np.array_equal(a, b) for a, b in zip(inference, window_ends(FractionalMaxPooling2D(1.414, seed=3), 20, 20)))
    assert not np.array_equal(np.concatenate(inference), np.concatenate(window_ends(FractionalMaxPooling2D(1.414, seed=4), 20, 20)))
    # 14 cells of 1 or 2 rows over 20 rows: C(14, 6) = 3003 random arrangements per axis
    draws = {tuple(np.concatenate(window_ends(layer, 20, 20, training=True))) for _ in range(5)}
    assert len(draws) > 1


def test_gradient_reaches_each_cells_maximum_only():
    layer = FractionalMaxPooling2D(1.414, seed=1)
    x = tf.constant(np.random.default_rng(1).permutation(2 * 10 * 10 * 2).reshape(2, 10, 10, 2).astype("float32"))
    for training in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y)
        grad = tape.gradient(loss, x).numpy()
        assert set(np.unique(grad)) <= {0.0, 1.0} and grad.sum() == np.prod(y.shape)
        assert np.array_equal(np.sort(x.numpy()[grad == 1]), np.sort(y.numpy().ravel()))   # the selected inputs are the outputs


def test_mixed_precision_pools_float16_inputs():
    x = np.random.default_rng(2).normal(size=(1, 8, 8, 2)).astype("float16")
    layer = FractionalMaxPooling2D(1.5, seed=2, dtype="mixed_float16")
    y = layer(x)
    assert y.dtype == tf.float16
    assert set(np.asarray(y).ravel()) <= set(x.ravel())


def test_config_round_trips():
    layer = FractionalMaxPooling2D((1.3, 1.6), pseudo_random=True, overlapping=True, seed=9, name="fmp")
    clone = FractionalMaxPooling2D.from_config(layer.get_config())
    assert (clone.pooling_ratio, clone.pseudo_random, clone.overlapping, clone.seed, clone.name) == ((1.3, 1.6), True, True, 9, "fmp")
    assert clone.supports_jit is False


def test_model_saves_reloads_and_trains(tmp_path):
    inputs = keras.Input((12, 12, 2))
    x = FractionalMaxPooling2D(1.414, overlapping=True, seed=7, name="fmp")(keras.layers.Conv2D(4, 3, padding="same")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x)))
    images = np.random.default_rng(3).normal(size=(8, 12, 12, 2)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6)
    model.compile(optimizer="sgd", loss="mse")   # jit_compile="auto": the layer's supports_jit keeps XLA off
    assert not model.jit_compile
    history = model.fit(images, np.zeros((8, 1), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
