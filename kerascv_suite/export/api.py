"""Export a model you trained in your own script, as `kcv export` exports a finished run.

`kcv export RUN_DIR` reads the run's spec and model.keras; these take the model and the spec
from your script instead, build the spec's data pipeline (the same preprocessing, adapted
statistics included, that the signatures bake in) and task exactly as `kcv export` does, and
call the same functions. Both are also `kerascv_suite.export_savedmodel` / `export_tflite`.

Example::

    import kerascv_suite as kcv
    spec = kcv.load_spec("pipelines/classification/softmax.yaml", overrides=["train.epochs=5"])
    model = kcv.build_model(spec)
    model.fit(kcv.build_dataset(spec, "train"), epochs=5)
    saved = kcv.export_savedmodel(model, spec, "savedmodels")     # savedmodels/softmax_digits/1/
    lite = kcv.export_tflite(model, spec, "softmax.tflite", quantization="int8")
    saved["path"], lite["agreement"]
"""

from __future__ import annotations

from pathlib import Path


def _pipeline_and_task(spec, pipeline):
    from kerascv_suite.data.pipeline import DataPipeline
    from kerascv_suite.spec import build_component

    return pipeline or DataPipeline(spec), build_component(spec.task)


def export_savedmodel(model, spec, directory=None, *, version=None, overwrite=False, report_dir=None, pipeline=None) -> dict:
    """Write `model` as a versioned SavedModel for TF Serving: ``<directory>/<spec.name>/<version>/``.

    The same export as `kcv export`: the task's serving signatures (a classifier's
    ``serving_default`` on uint8 images, ``serving_bytes``, ``serving_examples``; a generative
    model's generator), warm-up requests, ``<directory>/models.config``; built in a temporary
    folder, loaded and compared with `model` in a fresh Python process, and only then renamed
    into place.

    Args:
        model: the trained Keras model (as `kcv.build_model(spec)` built it).
        spec: the spec it was built from (`kcv.load_spec`).
        directory: the TF Serving base folder (default: the spec's ``export.directory``).
        version: the version number (default: the spec's ``export.version``, else the next free one).
        overwrite: replace an existing version.
        report_dir: also write ``saved_model_cli show --all`` output there.
        pipeline: the spec's `DataPipeline`, if you built one already (default: built here).

    Returns:
        The report: ``path``, ``version``, ``signatures``, ``models_config``, and ``verification``
        (the largest differences from `model` in the fresh process, and their tolerances).

    Raises:
        UserError: the version exists (without `overwrite`), or the fresh-process check fails.
    """
    from kerascv_suite.export.savedmodel import export_savedmodel as write_savedmodel

    pipeline, task = _pipeline_and_task(spec, pipeline)
    return write_savedmodel(model, pipeline, task, spec, directory=directory, version=version, overwrite=overwrite,
                            report_dir=report_dir)


def export_tflite(model, spec, path, *, quantization=None, pipeline=None) -> dict:
    """Write `model` as a TFLite file at `path` (and labels.txt beside it), checked in LiteRT.

    The same file as `kcv export --tflite`: uint8 pixels [1, H, W, C] in, ``probabilities`` out,
    the preprocessing inside; run in LiteRT on the test split and removed (UserError) if its
    top-1 agreement with `model` is below the floor.

    Args:
        model: the trained image classifier.
        spec: the spec it was built from (`kcv.load_spec`).
        path: the ``.tflite`` file to write (atomically).
        quantization: ``none``, ``dynamic``, ``float16``, ``int8`` or ``int8_full``, with the
            default settings, as ``kcv export --tflite MODE`` (default: the spec's
            ``export.tflite`` section, else ``none``).
        pipeline: the spec's `DataPipeline`, if you built one already (default: built here).

    Returns:
        The report: ``quantization``, ``path``, ``size_bytes``, ``agreement``, ``max_abs_difference``,
        ``median_latency_ms``, ``test_examples``, ``threshold``.

    Raises:
        UserError: the model is not an image classifier, conversion failed, or agreement is too low.
    """
    from kerascv_suite.export import require_image_serving, write_tflite
    from kerascv_suite.export.tflite import MODES
    from kerascv_suite.spec.errors import UserError
    from kerascv_suite.spec.schema import TFLiteSpec

    if quantization is not None and quantization not in MODES:
        raise UserError(f"export_tflite: unknown quantization {quantization!r}; allowed: {', '.join(MODES)}")
    pipeline, task = _pipeline_and_task(spec, pipeline)
    serving = task.serving_module(model, pipeline)
    require_image_serving(serving, spec, "(use export_savedmodel)")
    if quantization is not None:
        tflite_spec = TFLiteSpec(quantization=quantization)
    else:
        tflite_spec = spec.export.tflite or TFLiteSpec()
    return write_tflite(serving, pipeline, tflite_spec, Path(path))
