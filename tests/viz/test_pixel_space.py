"""Pixel-space pictures: equal-distance copies, neighbours against scikit-learn, and linear templates against the weights."""

import keras
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from kerascv_suite.core.runs import FINISHED_MARKER
from kerascv_suite.models.knn import KNearestNeighbors
from kerascv_suite.models.linear import linear, mlp
from kerascv_suite.spec.errors import UserError
from kerascv_suite.viz.pixel_space import (
    equal_distance_copies,
    linear_templates,
    nearest_training_images,
    plot_equal_distances,
    plot_neighbours,
    plot_templates,
    shift_images,
)


def digit_like(size=16):
    """A bright ring on a black background, inside the frame: a stand-in for a digit."""
    rows, columns = np.mgrid[:size, :size]
    radius = np.hypot(rows - size / 2 + 0.5, columns - size / 2 + 0.5)
    return np.clip(1.0 - np.abs(radius - size / 4) / 1.5, 0.0, 1.0).astype("float32")[..., None]


@pytest.mark.parametrize("rows, columns", [(0, 1), (2, -1), (-3, 0), (1, 2)])
def test_shift_images_moves_each_pixel_and_fills_what_it_leaves_with_zero(rows, columns):
    images = np.random.default_rng(0).uniform(size=(2, 5, 6, 3)).astype("float32")
    reference = np.zeros_like(images)
    for i in range(5):
        for j in range(6):
            if 0 <= i - rows < 5 and 0 <= j - columns < 6:
                reference[:, i, j] = images[:, i - rows, j - columns]
    np.testing.assert_array_equal(shift_images(images, rows, columns), reference)


def test_the_three_copies_lie_at_the_shifted_copys_distance_each_changed_as_its_title_says():
    image = digit_like()
    copies = equal_distance_copies(image, shift=(2, 1), occluder=0.5)
    (shift_title, shifted), (bright_title, brightened), (occlusion_title, occluded) = copies.items()
    distance = np.linalg.norm(shift_images(image, 2, 1).astype("float64") - image)
    for copy in copies.values():
        assert np.linalg.norm(copy.astype("float64") - image) == pytest.approx(distance, rel=1e-5)
    np.testing.assert_array_equal(shifted, shift_images(image, 2, 1))
    assert shift_title == "shifted 2 px down, 1 px right"
    np.testing.assert_allclose(brightened - image, distance / np.sqrt(image.size), rtol=1e-5)
    assert bright_title == f"brightened by {distance / np.sqrt(image.size):.2f}"
    side = int(occlusion_title.split()[3].split("×")[0])
    top = (16 - side) // 2
    inside = np.zeros(image.shape, bool)
    inside[top : top + side, top : top + side] = True
    np.testing.assert_array_equal(occluded[~inside], image[~inside])          # nothing outside the square moves
    share = (occluded - image)[inside] / (0.5 - image)[inside]                # each pixel the same share of the way to grey
    np.testing.assert_allclose(share, share[0], rtol=1e-4)
    assert 0.0 < share[0] <= 1.0
    smaller = np.zeros_like(image)                                            # and no smaller centred square would reach
    low = (16 - side + 1) // 2
    smaller[low : low + side - 1, low : low + side - 1] = 0.5 - image[low : low + side - 1, low : low + side - 1]
    assert np.linalg.norm(smaller) < distance


def test_occlusion_that_cannot_reach_the_distance_is_refused():
    checkerboard = (np.indices((8, 8)).sum(axis=0) % 2).astype("float32")[..., None]   # shifted by 1, every pixel flips
    with pytest.raises(ValueError, match=r"a 0.5 square over the whole image is nearer \(4.00\) than the shifted copy"):
        equal_distance_copies(checkerboard, shift=(0, 1), occluder=0.5)


def test_plot_equal_distances_titles_each_copy_with_its_measured_distance(tmp_path):
    image = digit_like()
    copies = equal_distance_copies(image)
    distance = np.linalg.norm(next(iter(copies.values())) - image)
    figure = plot_equal_distances(image, copies, tmp_path / "d.png")
    titles = [axis.get_title() for axis in figure.axes]
    assert titles[0] == "original" and all(t.endswith(f"L2 = {distance:.2f}") for t in titles[1:])
    assert [t.split("\n")[0] for t in titles[1:]] == list(copies)
    assert (tmp_path / "d.png").stat().st_size > 0


@pytest.mark.parametrize("distance, p", [("l2", 2), ("l1", 1)])
def test_nearest_training_images_on_pixels_equal_scikit_learns(distance, p):
    rng = np.random.default_rng(1)
    references, queries = rng.uniform(size=(40, 4, 4, 1)).astype("float32"), rng.uniform(size=(6, 4, 4, 1)).astype("float32")
    knn = KNearestNeighbors(3, 40, distance=distance)
    knn.build((None, 4, 4, 1))
    reference = NearestNeighbors(n_neighbors=5, algorithm="brute", p=p).fit(references.reshape(40, -1))
    np.testing.assert_array_equal(nearest_training_images(knn, queries, references, 5),
                                  reference.kneighbors(queries.reshape(6, -1), return_distance=False))


def test_nearest_training_images_on_features_are_the_neighbours_of_the_extracted_features():
    rng = np.random.default_rng(2)
    references, queries = rng.uniform(size=(40, 4, 4, 1)).astype("float32"), rng.uniform(size=(6, 4, 4, 1)).astype("float32")
    inputs = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(3, activation="tanh", name="hidden")
    extractor = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    knn = KNearestNeighbors(3, 40, feature_extractor=extractor)
    knn.build((None, 4, 4, 1))
    kernel, bias = dense.get_weights()
    features = lambda x: np.tanh(x.reshape(len(x), -1) @ kernel + bias)  # noqa: E731
    reference = NearestNeighbors(n_neighbors=4, algorithm="brute").fit(features(references))
    np.testing.assert_array_equal(nearest_training_images(knn, queries, references, 4),
                                  reference.kneighbors(features(queries), return_distance=False))


def test_plot_neighbours_marks_each_neighbour_by_whether_its_class_is_the_querys(tmp_path):
    rng = np.random.default_rng(3)
    references, labels = rng.uniform(size=(10, 4, 4, 1)), np.arange(10) % 3
    queries, query_labels = references[:2], labels[:2]
    neighbours = {"pixel L2": np.array([[0, 1, 3], [1, 2, 4]]), "feature L2": np.array([[3, 6, 9], [4, 7, 2]])}
    figure = plot_neighbours(queries, query_labels, references, labels, neighbours, tmp_path / "n.png", class_names=list("abc"))
    drawn = [axis for axis in figure.axes if axis.images]    # row by row: the query, then each group's neighbours
    assert [axis.get_title() for axis in drawn] == ["query: a", "a", "b", "a", "a", "a", "a",
                                                    "query: b", "b", "c", "b", "b", "b", "c"]
    assert [axis.title.get_color() for axis in drawn if not axis.get_title().startswith("query")] == (
        ["tab:green", "tab:red", "tab:green"] + ["tab:green"] * 3 + ["tab:green", "tab:red", "tab:green"] + ["tab:green"] * 2 + ["tab:red"])
    np.testing.assert_array_equal(drawn[9].images[0].get_array(), references[2][..., 0])   # query b's second pixel neighbour
    assert [text.get_text() for text in figure.texts] == ["pixel L2", "feature L2"] and (tmp_path / "n.png").stat().st_size > 0


def hand_set_linear(shape, classes, seed=0):
    model = linear(shape, classes)
    kernel = np.random.default_rng(seed).normal(size=(int(np.prod(shape)), classes)).astype("float32")
    bias = np.arange(classes, dtype="float32")
    model.get_layer("logits").set_weights([kernel, bias])
    return model, kernel, bias


def test_templates_are_the_weight_columns_in_the_images_shape_and_score_as_dot_products(tmp_path):
    model, kernel, bias = hand_set_linear((4, 3, 1), 3)
    kernel[:, 1] = 0.0
    kernel[1 * 3 + 2, 1] = 5.0                          # class 1 looks at one pixel: row 1, column 2
    model.get_layer("logits").set_weights([kernel, bias])
    templates = linear_templates(model)
    assert templates.shape == (3, 4, 3, 1)
    expected = np.zeros((4, 3, 1), "float32")
    expected[1, 2, 0] = 5.0
    np.testing.assert_array_equal(templates[1], expected)
    for c in range(3):
        np.testing.assert_array_equal(templates[c], kernel[:, c].reshape(4, 3, 1))
    x = np.random.default_rng(1).uniform(size=(5, 4, 3, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), np.einsum("chwk,bhwk->bc", templates, x) + bias, rtol=1e-5, atol=1e-5)
    figure = plot_templates({"softmax": templates}, ["a", "b", "c"], tmp_path / "t.png")
    for axis, template in zip(figure.axes, templates):
        np.testing.assert_array_equal(axis.images[0].get_array(), template[..., 0])   # drawn as the weights themselves
        limit = np.abs(template).max()
        assert axis.images[0].get_clim() == pytest.approx((-limit, limit))            # on a scale centred on 0
    assert [axis.get_title() for axis in figure.axes] == ["a", "b", "c"] and figure.axes[0].get_ylabel() == "softmax"


def test_colour_templates_are_drawn_rescaled_to_their_own_range_one_row_per_model(tmp_path):
    first, _, _ = hand_set_linear((2, 2, 3), 2, seed=0)
    second, _, _ = hand_set_linear((2, 2, 3), 2, seed=1)
    rows = {"softmax": linear_templates(first), "svm": linear_templates(second)}
    figure = plot_templates(rows, ["x", "y"], tmp_path / "t.png")
    drawn = [axis.images[0].get_array() for axis in figure.axes]
    expected = [(t - t.min()) / (t.max() - t.min()) for templates in rows.values() for t in templates]
    for ours, theirs in zip(drawn, expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert [axis.get_ylabel() for axis in figure.axes[::2]] == ["softmax", "svm"]


def test_templates_read_a_finished_run_and_refuse_what_is_not_linear(tmp_path):
    model, kernel, _ = hand_set_linear((8, 8, 1), 10)
    run = tmp_path / "runs" / "softmax_digits" / "20260101-000000"
    run.mkdir(parents=True)
    model.save(run / "model.keras")
    (run / FINISHED_MARKER).write_text("{}")
    np.testing.assert_array_equal(linear_templates(tmp_path / "runs" / "softmax_digits"), kernel.T.reshape(10, 8, 8, 1))
    with pytest.raises(UserError, match=r"^templates: model 'mlp' is not a linear classifier: its weighted layers are "
                                        r"hidden1, logits; templates need one Dense layer on the flattened image \(model: linear\)$"):
        linear_templates(mlp((8, 8, 1), 10))
    with pytest.raises(UserError, match=r"^templates: source .*missing not found \(a \.keras file, a run folder, or a runs/<name> folder\)$"):
        linear_templates(tmp_path / "missing")
