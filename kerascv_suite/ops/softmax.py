"""Softmax and log-softmax in NumPy, shifted by the maximum so large scores do not overflow.

log softmax(s)_c = (s_c − m) − log Σ_k exp(s_k − m) for m = max_k s_k: the shift changes nothing
mathematically, but keeps every exp(·) ≤ 1, so logits of 1000 give probabilities, not NaN.
Reports, ensembles and sample-quality judges score model outputs with these; inside models and
losses use `keras.ops.softmax` / `keras.ops.log_softmax`.

    >>> stable_softmax(np.array([[1000.0, 1000.0]]))
    array([[0.5, 0.5]])
"""

from __future__ import annotations

import numpy as np


def stable_log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax of `logits` along `axis` (any shape; the dtype is kept)."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def stable_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax of `logits` along `axis`, computed in float64 (probabilities for reports and averaging)."""
    return np.exp(stable_log_softmax(np.asarray(logits, np.float64), axis=axis))


__all__ = ["stable_log_softmax", "stable_softmax"]
