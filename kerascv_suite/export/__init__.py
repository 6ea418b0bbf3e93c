"""Exports that deploy: versioned SavedModels for TF Serving and TFLite files for phones.

`export_run` is what `kcv run` (when the spec's `export` section asks) and `kcv export RUN_DIR`
call: it writes the SavedModel and/or the TFLite file for a trained model and a report folder
``RUN_DIR/export/<timestamp>/`` (export_report.json, saved_model_cli.txt, request files, the
.tflite file). A smoke run exports too, but into its run folder, and only reports the TFLite
agreement instead of enforcing it (a few smoke steps train no model worth agreeing with).

A model trained in your own script exports the same way through `kerascv_suite.export_savedmodel`
and `kerascv_suite.export_tflite` (`export/api.py`).
"""

from __future__ import annotations

import json
from pathlib import Path


def require_image_serving(serving, spec, how_to_avoid: str) -> None:
    """Refuse (UserError) a TFLite file or REST request files for a model not served from images (a GAN's generator).

    Models served from uint8 images — classifiers, localisers, segmenters — have a `ServingModule` whose
    task names the outputs a TFLite file keeps (`Task.tflite_outputs`).
    """
    from kerascv_suite.export.serving import ServingModule
    from kerascv_suite.spec.errors import UserError

    if not isinstance(serving, ServingModule) or not serving.tflite_outputs:
        raise UserError(f"export: TFLite files and REST request files are written for models served from images; "
                        f"{spec.name} ({spec.task.name}) exports a SavedModel only {how_to_avoid}")


def write_tflite(serving, pipeline, tflite_spec, path) -> dict:
    """`tflite.export_tflite` (convert, write atomically, check in LiteRT), and labels.txt beside the file for `kcv predict`."""
    from kerascv_suite.export.tflite import export_tflite

    report = export_tflite(serving, pipeline, tflite_spec, path)
    (Path(path).parent / "labels.txt").write_text("\n".join(pipeline.info.class_names) + "\n")
    return report


def export_run(model, pipeline, task, spec, run_dir, *, smoke=False, savedmodel=None, tflite=None, directory=None,
               version=None, overwrite=False, request_json=False) -> dict:
    """Export a trained model as the spec says (arguments override the spec); returns the report."""
    from kerascv_suite.export.savedmodel import (
        VERIFY_EXAMPLES,
        export_savedmodel,
        write_request_files,
    )
    from kerascv_suite.core.runs import new_run_dir, write_atomic

    savedmodel = spec.export.savedmodel if savedmodel is None else savedmodel
    tflite = spec.export.tflite if tflite is None else tflite
    serving = task.serving_module(model, pipeline)
    if tflite is not None or request_json:
        require_image_serving(serving, spec, "(export.tflite: null, no --tflite/--request-json)")
    report_dir = new_run_dir(Path(run_dir), "export")  # export/<timestamp>/: earlier reports are kept
    report: dict = {"model": spec.name}
    if smoke:
        directory = Path(run_dir) / "export" / "savedmodels"
    if savedmodel:
        report["savedmodel"] = export_savedmodel(model, pipeline, task, spec, directory=directory, version=version,
                                                 overwrite=overwrite, report_dir=report_dir, serving=serving)
    if request_json:
        images, _ = pipeline.raw_examples("test", 4)
        report["requests"] = [str(p) for p in write_request_files(report_dir / "requests", images)]
    if tflite is not None:
        if smoke:
            tflite = tflite.model_copy(update={"min_agreement": 0.0})
        report["tflite"] = write_tflite(serving, pipeline, tflite, report_dir / f"{spec.name}.{tflite.quantization}.tflite")
    report["verify_examples"] = VERIFY_EXAMPLES
    write_atomic(report_dir / "export_report.json", json.dumps(report, indent=2))
    report["report_dir"] = str(report_dir)
    return report
