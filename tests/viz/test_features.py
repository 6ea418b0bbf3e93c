"""What the network learned (`kerascv_suite.viz.features`) on tiny models whose answer is known.

A conv whose hand-set kernel copies one pixel (so its largest activation is the brightest pixel,
placed by the test), a dense "classifier" whose features NumPy computes (PCA must equal
scikit-learn's on them), random conv kernels read back from the filter grid, and random points
snapped to a grid (each image exactly once).
"""

import keras
import numpy as np
import pytest
from sklearn.decomposition import PCA

from kerascv_suite.viz import features


def _pixel_copier(pool: bool = False) -> keras.Model:
    """A 3×3 'valid' conv whose kernel is 1 at its centre: activation (i, j) = pixel (i+1, j+1); optionally a 2×2 max pool after."""
    inputs = keras.Input((12, 12, 1), name="images")
    conv = keras.layers.Conv2D(2, 3, name="conv")
    x = conv(inputs)
    kernel = np.zeros((3, 3, 1, 2), np.float32)
    kernel[1, 1, 0, 0] = 1.0          # channel 0 copies the centre pixel
    kernel[:, :, 0, 1] = -1.0         # channel 1 is something else
    conv.set_weights([kernel, np.zeros(2, np.float32)])
    if pool:
        x = keras.layers.MaxPooling2D(2, name="pool")(x)
    return keras.Model(inputs, x)


def _bright_spots(rng, spots) -> np.ndarray:
    images = rng.uniform(0, 0.5, (len(spots), 12, 12, 1)).astype(np.float32)
    for b, (row, column, value) in enumerate(spots):
        images[b, row, column, 0] = value
    return images


def test_max_activating_patches_are_where_the_unit_is_largest():
    rng = np.random.default_rng(0)
    spots = [(3, 4, 2.0), (6, 1, 5.0), (10, 10, 3.0), (1, 7, 4.0)]   # pixel (row, column, value) per image
    images = _bright_spots(rng, spots)
    model = _pixel_copier()
    patches = features.max_activating_patches(model, images, "conv", channel=0, k=3)
    assert [p.image for p in patches] == [1, 3, 2]                     # by value: 5, 4, 3
    for p in patches:
        row, column, value = spots[p.image]
        assert (p.row, p.column) == (row - 1, column - 1)              # the conv output is offset by the border
        assert p.activation == pytest.approx(value)
        assert p.box == (row - 1, column - 1, row + 2, column + 2)     # the 3×3 window centred on the pixel
        assert features.crop(images, p)[1, 1, 0] == value
    maps = features.layer_activations(model, images, "conv")[..., 0]
    for p in patches:
        assert maps[p.image].max() == maps[p.image, p.row, p.column]


def test_max_activating_positions_over_all_images():
    images = np.zeros((2, 12, 12, 1), np.float32)
    images[0, 2, 2], images[0, 8, 5], images[1, 4, 9] = 3.0, 2.0, 1.0
    patches = features.max_activating_patches(_pixel_copier(), images, "conv", 0, k=3, one_per_image=False)
    assert [(p.image, p.row, p.column) for p in patches] == [(0, 1, 1), (0, 7, 4), (1, 3, 8)]


def test_receptive_box_after_pooling_holds_the_pixel():
    # conv 3 then pool 2: receptive field 4, jump 2, the window of pool position p starts at 2p
    rng = np.random.default_rng(1)
    images = _bright_spots(rng, [(5, 8, 9.0), (1, 1, 9.0), (10, 10, 9.0)])   # pixels the valid conv centres on
    model = _pixel_copier(pool=True)
    for p in features.max_activating_patches(model, images, "pool", 0, k=3):
        top, left, bottom, right = p.box
        assert (top, left, bottom - top, right - left) == (2 * p.row, 2 * p.column, 4, 4)
        assert features.crop(images, p).max() == 9.0


def test_filter_grid_shows_each_kernel_scaled_to_its_range():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(5, 4, name="first")(keras.layers.Conv2D(5, 4)(inputs)))
    kernel = keras.ops.convert_to_numpy(features.first_conv_layer(model).kernel)
    grid = features.filter_grid(model, columns=3, border=1, border_value=0.25)
    assert grid.shape == (2 * 5 - 1, 3 * 5 - 1, 3)
    for f in range(5):
        top, left = (f // 3) * 5, (f % 3) * 5
        tile = kernel[..., f]
        np.testing.assert_allclose(grid[top : top + 4, left : left + 4], (tile - tile.min()) / (tile.max() - tile.min()), atol=1e-6)
    assert np.all(grid[4] == 0.25) and np.all(grid[:, 4] == 0.25)      # the borders
    assert np.all(grid[5:, 10:] == 0.25)                                # the unused sixth cell
    with pytest.raises(ValueError, match="5 input channels"):
        features.filter_grid(model, layer="first")


def test_pca_coordinates_equal_scikit_learns_on_the_same_features():
    rng = np.random.default_rng(2)
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Dense(6, activation="tanh", name="hidden")(flat)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(hidden))
    images = rng.normal(size=(40, 4, 4, 1)).astype(np.float32)
    w, b = (keras.ops.convert_to_numpy(v) for v in model.get_layer("hidden").weights)
    reference = np.tanh(images.reshape(40, -1) @ w + b)                # what the head reads, in NumPy
    expected = PCA(n_components=2, svd_solver="full").fit_transform(reference)
    np.testing.assert_allclose(features.embed_features(model, images, method="pca"), expected, atol=1e-4)
    tsne = features.embed_features(model, images, method="tsne", seed=0)
    assert tsne.shape == (40, 2) and np.all(np.isfinite(tsne))
    with pytest.raises(ValueError, match="method"):
        features.embed_features(model, images, method="umap")


def test_tsne_image_grid_places_each_image_once():
    rng = np.random.default_rng(3)
    coordinates = rng.normal(size=(23, 2))
    images = np.stack([np.full((3, 2, 1), i + 1.0, np.float32) for i in range(23)])   # image i is all i + 1
    canvas, cells = features.tsne_image_grid(coordinates, images)
    assert canvas.shape == (5 * 3, 5 * 2, 1)
    assert len({tuple(cell) for cell in cells}) == 23                   # distinct cells
    for i, (row, column) in enumerate(cells):
        assert np.all(canvas[3 * row : 3 * row + 3, 2 * column : 2 * column + 2] == i + 1)
    values = set(np.unique(canvas)) - {0.0}
    assert values == {float(i + 1) for i in range(23)}                 # nothing else is drawn, nothing twice
    assert np.sum(canvas > 0) == 23 * 6
    # the leftmost point lands in the left column, the topmost in the top row
    assert cells[np.argmin(coordinates[:, 0]), 1] == 0 and cells[np.argmax(coordinates[:, 1]), 0] == 0


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(4)
    images = _bright_spots(rng, [(3, 3, 2.0), (6, 6, 3.0), (9, 2, 1.5)])
    model = _pixel_copier()
    features.plot_filters(features.filter_grid(model), tmp_path / "filters.png")
    features.plot_activations(features.layer_activations(model, images[:1], "conv")[0], tmp_path / "maps.png")
    features.plot_embedding(rng.normal(size=(3, 2)), np.array([0, 1, 1]), tmp_path / "tsne.png", images=images)
    features.plot_patches({"conv #0": features.max_activating_patches(model, images, "conv", 0, k=2)}, images,
                          tmp_path / "patches.png")
    assert all((tmp_path / name).stat().st_size > 0 for name in ("filters.png", "maps.png", "tsne.png", "patches.png"))
