"""k-NN against scikit-learn: same memory, same metric, same predictions and the same CV choice, on pixels and on learned features."""

import keras
import numpy as np
import pytest
from sklearn.model_selection import PredefinedSplit, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

from kerascv_suite.core.runs import FINISHED_MARKER
from kerascv_suite.data.pipeline import DataInfo, DataPipeline
from kerascv_suite.models import build_model
from kerascv_suite.spec import load_spec, validate_spec
from kerascv_suite.spec.errors import UserError
from kerascv_suite.training.trainer import compile_model
from tests.conftest import PIPELINES

SPEC = PIPELINES / "classification" / "knn_l2.yaml"


def fitted(distance, k=1, k_candidates="[]", overrides=()):
    spec = load_spec(SPEC, overrides=[f"model.distance={distance}", f"model.k={k}", f"model.k_candidates={k_candidates}", *overrides])
    pipeline = DataPipeline(spec)
    model, _ = compile_model(spec, pipeline.info)
    model.fit(pipeline.dataset("train"), epochs=1, verbose=0, callbacks=model.fit_callbacks())
    return pipeline, model


@pytest.fixture(scope="module", params=[("l2", 2), ("l1", 1)], ids=["l2", "l1"])
def knn(request):
    distance, p = request.param
    pipeline, model = fitted(distance, k=8)  # k sets the largest neighbour count the graph computes
    return pipeline, model, p


def test_fit_memorises_exactly_the_training_split(knn):
    pipeline, model, _ = knn
    n = pipeline.info.split_sizes["train"]
    assert int(model.filled.numpy()) == n
    images, labels = pipeline.examples("train")
    memory = model.memory.numpy()
    ours = sorted(map(tuple, np.c_[memory, model.memory_labels.numpy()]))
    reference = sorted(map(tuple, np.c_[images.reshape(n, -1), labels]))
    assert ours == reference


@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_predictions_equal_scikit_learn(knn, k):
    pipeline, model, p = knn
    model.k.assign(k)
    images, labels = pipeline.examples("test")
    ours = np.argmax(model.predict(images, verbose=0), axis=1)
    reference = KNeighborsClassifier(n_neighbors=k, p=p, algorithm="brute")
    reference.fit(model.memory.numpy(), model.memory_labels.numpy())
    np.testing.assert_array_equal(ours, reference.predict(images.reshape(len(images), -1)))
    assert np.mean(ours == labels) > 0.95


def test_cross_validation_matches_scikit_learn_and_picks_the_best_k():
    pipeline, model = fitted("l2", k_candidates="[1, 3, 5, 7]")
    n = int(model.filled.numpy())
    memory, labels = model.memory.numpy()[:n], model.memory_labels.numpy()[:n]
    folds = PredefinedSplit(np.arange(n) % model.folds)
    for k, accuracy in model.selection.items():
        predicted = cross_val_predict(KNeighborsClassifier(n_neighbors=k, algorithm="brute"), memory, labels, cv=folds)
        assert accuracy == pytest.approx(np.mean(predicted == labels))
    best = max(model.selection, key=lambda k: (model.selection[k], -k))
    assert int(model.k.numpy()) == best


# k-NN on learned features: a small network trained for two steps, saved as a finished run.

RESCALED = "data.preprocess=[rescale]"   # pixels in [0, 1], so the tanh features are not saturated (and tied)


def tiny_network():
    inputs = keras.Input((8, 8, 1), name="images")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    hidden = keras.layers.Dense(16, activation="tanh", name="hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(hidden), name="tiny")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A runs/tiny folder with one finished run of `tiny_network` after two training steps, and the network."""
    pipeline = DataPipeline(load_spec(SPEC, overrides=[RESCALED]))
    keras.utils.set_random_seed(0)
    network = tiny_network()
    network.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    network.fit(pipeline.dataset("train"), epochs=1, steps_per_epoch=2, verbose=0)
    run = tmp_path_factory.mktemp("runs") / "tiny" / "20260101-000000"
    run.mkdir(parents=True)
    network.save(run / "model.keras")
    (run / FINISHED_MARKER).write_text("{}")
    return run.parent, network


def features_of(network, layer, images):
    """The reference features: the network's own `layer` output, flattened."""
    return keras.Model(network.input, network.get_layer(layer).output).predict(images, verbose=0).reshape(len(images), -1)


@pytest.fixture(scope="module")
def feature_knn(trained_run):
    runs, network = trained_run
    pipeline, model = fitted("l2", k=5, overrides=[RESCALED, f"model.source={runs}", "model.features=hidden"])
    return pipeline, model, network


def rows_sorted(rows):
    return rows[np.lexsort(rows.T)]


def test_fit_memorises_the_features_of_the_training_split(feature_knn):
    pipeline, model, network = feature_knn
    images, labels = pipeline.examples("train")
    reference = features_of(network, "hidden", images)
    n = len(images)
    assert model.memory.shape == (n, 16) and int(model.filled.numpy()) == n
    memory = model.memory.numpy()
    np.testing.assert_allclose(rows_sorted(memory), rows_sorted(reference), atol=1e-6)
    np.testing.assert_array_equal(np.sort(model.memory_labels.numpy()), np.sort(labels))


@pytest.mark.parametrize("k", [1, 5])
def test_predictions_on_features_equal_scikit_learn_on_the_same_features(feature_knn, k):
    pipeline, model, network = feature_knn
    model.k.assign(k)
    train_images, train_labels = pipeline.examples("train")
    test_images, _ = pipeline.examples("test")
    reference = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(features_of(network, "hidden", train_images), train_labels)
    ours = np.argmax(model.predict(test_images, verbose=0), axis=1)
    np.testing.assert_array_equal(ours, reference.predict(features_of(network, "hidden", test_images)))
    pixels = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(train_images.reshape(len(train_images), -1), train_labels)
    assert np.any(ours != pixels.predict(test_images.reshape(len(test_images), -1)))   # the check would catch pixels used instead


def test_the_extractor_is_frozen_keeps_the_source_weights_and_is_reported(feature_knn):
    _, model, network = feature_knn
    assert model.trainable_weights == []
    for name in ("conv", "hidden"):
        for ours, theirs in zip(model.feature_extractor.get_layer(name).get_weights(), network.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    assert "logits" not in {layer.name for layer in model.feature_extractor.layers}
    assert model.report()["features"] == "hidden"


def test_features_default_to_the_input_of_the_source_classifier(trained_run):
    spec = validate_spec({"name": "t", "model": {"name": "knn", "source": str(trained_run[0])}})
    model = build_model(spec, DataInfo(input_shape=(8, 8, 1), num_classes=10, class_names=list("0123456789"), split_sizes={"train": 7}))
    assert model.feature_extractor.layers[-1].name == "hidden" and model.memory.shape == (7, 16)


def test_a_saved_knn_on_features_reloads_with_its_extractor(feature_knn, tmp_path):
    pipeline, model, _ = feature_knn
    model.save(tmp_path / "knn.keras")
    loaded = keras.saving.load_model(tmp_path / "knn.keras")
    images, _ = pipeline.examples("test", limit=40)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    assert loaded.report() == model.report()


@pytest.mark.parametrize("arguments, message", [
    ({"source": "{missing}"}, r"model 'knn': source .*nothing not found \(a \.keras file, a run folder, or a runs/<name> folder\)"),
    ({"source": "{runs}", "features": "fc7"}, r"model 'knn': features: no layer 'fc7' in the source model; its layers: images, conv, flatten, hidden"),
    ({"features": "hidden"}, r"model 'knn': features: 'hidden' names a layer of a trained model; give its source too"),
], ids=["missing-source", "unknown-layer", "features-without-source"])
def test_bad_source_or_layer_is_a_one_line_user_error(trained_run, tmp_path, arguments, message):
    given = {key: value.format(missing=tmp_path / "nothing", runs=trained_run[0]) for key, value in arguments.items()}
    spec = validate_spec({"name": "t", "model": {"name": "knn", **given}})
    info = DataInfo(input_shape=(8, 8, 1), num_classes=10, class_names=list("0123456789"), split_sizes={"train": 7})
    with pytest.raises(UserError, match=message) as error:
        build_model(spec, info)
    assert "\n" not in str(error.value)


def test_the_features_pipeline_reads_the_runs_of_the_lenet5_pipeline():
    spec = load_spec(PIPELINES / "classification" / "knn_features.yaml")
    lenet5 = load_spec(PIPELINES / "classification" / "lenet5.yaml")
    assert spec.model.source == f"runs/{lenet5.name}" and spec.data.preprocess == lenet5.data.preprocess
