"""Shared fixtures of the task tests."""

from kerascv_suite.spec import load_spec
from kerascv_suite.training.trainer import train


def exporting_smoke_run(spec_path, runs_dir):
    """A smoke run of a shapes pipeline (120 scenes) that exports a SavedModel and a float TFLite file, both checked."""
    spec = load_spec(spec_path, overrides=["data.source.num_images=120", "export.savedmodel=true",
                                           "export.tflite={quantization: none}"])
    return train(spec, runs_dir=runs_dir, smoke=True)
