"""The shifted softmax and log-softmax against the closed form and at extreme logits."""

import numpy as np

from kerascv_suite.ops.softmax import stable_log_softmax, stable_softmax


def test_matches_the_closed_form_on_small_logits():
    logits = np.random.default_rng(0).normal(size=(5, 7))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(stable_softmax(logits), expected, rtol=1e-12)
    np.testing.assert_allclose(stable_log_softmax(logits), np.log(expected), rtol=1e-12)
    np.testing.assert_allclose(stable_softmax(logits.T, axis=0), expected.T, rtol=1e-12)


def test_is_stable_for_large_logits():
    logits = np.array([[1000.0, 1000.0], [0.0, -1000.0]])
    np.testing.assert_allclose(stable_softmax(logits), [[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(stable_log_softmax(logits), [[-np.log(2), -np.log(2)], [0.0, -1000.0]])
    assert stable_softmax(logits.astype(np.float32)).dtype == np.float64
    assert stable_log_softmax(logits.astype(np.float32)).dtype == np.float32
