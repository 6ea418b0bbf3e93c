"""Check an exported SavedModel in a fresh process: ``python -m kerascv_suite.export.verify EXPORT INPUTS.npz``.

Run by the exporter after every export, in a new interpreter so nothing of the training
process (Python objects, registered classes, caches) can hide a broken SavedModel: it loads
the export with `tf.saved_model.load`, calls each signature on the same uint8 test images
(as pixels, PNG bytes and tf.Examples), and prints one JSON line comparing the outputs with
the Keras model's (``probabilities`` and ``class_ids`` in INPUTS.npz).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(export_dir: str, inputs_path: str) -> dict:
    import tensorflow as tf

    from kerascv_suite.export.savedmodel import signature_inputs

    loaded = tf.saved_model.load(export_dir)
    data = np.load(inputs_path)
    worst, equal, per_signature = 0.0, True, {}
    for name, inputs in signature_inputs(data["images"]).items():
        outputs = loaded.signatures[name](**inputs)
        difference = float(np.max(np.abs(outputs["probabilities"].numpy() - data["probabilities"])))
        same = bool(np.array_equal(outputs["class_ids"].numpy(), data["class_ids"]))
        per_signature[name] = {"max_abs_difference": difference, "class_ids_equal": same}
        worst, equal = max(worst, difference), equal and same
    return {"max_abs_difference": worst, "class_ids_equal": equal, "examples": int(len(data["images"])),
            "signatures": per_signature}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3])))
