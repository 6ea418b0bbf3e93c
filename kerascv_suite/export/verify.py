"""Check an exported SavedModel in a fresh process: ``python -m kerascv_suite.export.verify EXPORT CASES.pickle``.

Run by the exporter after every export, in a new interpreter so nothing of the training
process (Python objects, registered classes, caches) can hide a broken SavedModel: it loads
the export with `tf.saved_model.load`, calls each signature on the inputs in CASES (a pickled
``{signature: (inputs, expected outputs)}`` written by the exporter from the serving module's
`check_cases`), and prints one JSON line: for each signature and output, the largest absolute
difference from the Keras model's output (for string outputs, the number that differ).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np


def difference(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest absolute difference of numbers; for strings, how many differ."""
    if expected.dtype.kind in "OSU":
        return float(np.sum(actual.astype(object) != expected.astype(object)))
    return float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)), initial=0.0))


def main(export_dir: str, cases_path: str) -> dict:
    import tensorflow as tf

    loaded = tf.saved_model.load(export_dir)
    cases = pickle.loads(Path(cases_path).read_bytes())
    report = {}
    for name, (inputs, expected) in cases.items():
        outputs = loaded.signatures[name](**{key: tf.constant(value) for key, value in inputs.items()})
        report[name] = {key: difference(outputs[key].numpy(), np.asarray(value)) for key, value in expected.items()}
    return report


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3])))
