"""k-NN against scikit-learn: same memory, same metric, same predictions and the same CV choice."""

import numpy as np
import pytest
from sklearn.model_selection import PredefinedSplit, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import compile_model
from tests.conftest import PIPELINES

SPEC = PIPELINES / "classification" / "knn_l2.yaml"


def fitted(distance, k=1, k_candidates="[]"):
    spec = load_spec(SPEC, overrides=[f"model.distance={distance}", f"model.k={k}", f"model.k_candidates={k_candidates}"])
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
