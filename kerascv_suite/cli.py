"""The `kcv` command.

    kcv run [SPEC] [--set KEY=VALUE ...] [--smoke] [--check-init] [--overfit N]
    kcv validate SPEC      load the spec, build the data and the model, trace one batch
    kcv show SPEC          the resolved spec, each value with the file:line/--set/default it came from
    kcv schema             the spec's JSON Schema
    kcv list [KIND]        registered components with a one-line description
    kcv data SPEC          a PNG grid of augmented training samples
    kcv graph SPEC         the traced train step: op counts before/after Grappler, graph for TensorBoard
    kcv export RUN_DIR     SavedModel for TF Serving (and TFLite), checked in a fresh process
    kcv predict EXPORT IN  top-k classes from a SavedModel or .tflite for image files or .npy arrays
    kcv eval RUN_DIR       re-evaluate a finished run on its test split
    kcv generate RUN_DIR [--n 64] [--seed 0] [--out PNG]
                           samples of a finished generative run (VAE, GAN) as a PNG grid and a uint8 .npy
    kcv score RUN_DIR --judge CLASSIFIER_RUN [--n N] [--seed 0]
                           sample quality of a generative run measured by a trained classifier (confident
                           share, class coverage, requested-class share, Fréchet distance)
    kcv activations SPEC [--init NAME ...] [--set KEY=VALUE ...] [--out DIR]
                           per-layer activation histograms and statistics at initialisation, per initialiser
    kcv compare RUN_DIR... [--out PNG] [--label TEXT ...] [--force]
                           loss, accuracy and learning-rate curves of several runs overlaid in one PNG
    kcv ensemble RUN_DIR... [--out DIR]
                           test accuracy of the runs' averaged probabilities against each run's
    kcv tune SPEC [--smoke] [--out DIR]
                           keras-tuner search over the spec's `search:` section: ranked trials, plot, best spec
    kcv explain METHOD RUN_DIR [--image FILE ...] [--n N] [--out PNG]
                           which pixels a classifier looks at (occlusion, gradient, guided_backprop, cam,
                           grad_cam, integrated_gradients, smoothgrad, all) drawn over test images or files
    kcv lr-find SPEC [--min LR] [--max LR] [--steps N] [--set KEY=VALUE ...] [--out DIR]
                           the learning-rate range test: loss against an exponentially rising rate, a suggested rate
    kcv summary MODEL [--input HxWxC] [--classes N] [--set KEY=VALUE ...]
                           parameters and multiply-accumulates (MACs) per stage of a registered model
    kcv receptive-field MODEL [--input HxWxC] [--classes N] [--set KEY=VALUE ...]
                           each layer's receptive field, jump (cumulative stride) and output size

A problem the user can fix (a bad spec, a missing file, unreadable data) prints one line per
problem and exits with status 2, without a traceback and without creating a run folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _spec_arguments(parser: argparse.ArgumentParser, optional_spec: bool = False) -> None:
    if optional_spec:
        parser.add_argument("spec", nargs="?", help="YAML spec (default: the packaged LeNet-5 digits pipeline)")
    else:
        parser.add_argument("spec", help="YAML spec")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a value, e.g. --set model.activation=relu (repeatable)")
    parser.add_argument("--allow-imports", action="store_true", help="let the spec name components by import path (runs their code)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kcv", description="Declarative computer vision on TensorFlow/Keras.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train a pipeline and write its run folder")
    _spec_arguments(run, optional_spec=True)
    run.add_argument("--smoke", action="store_true", help="a few batches and one epoch, end to end")
    run.add_argument("--check-init", action="store_true", help="report the untrained loss against its expected value, then stop")
    run.add_argument("--overfit", type=int, metavar="N", help="train on N examples and report whether training accuracy reaches 100%%")
    run.add_argument("--runs-dir", default="runs", help="where runs/<name>/<timestamp>/ folders go (default: ./runs)")
    run.add_argument("--run-dir", help="use this run folder (every multi-worker worker names the same one)")
    run.add_argument("--force", action="store_true", help="resume even if the resolved spec changed")
    run.add_argument("--new", action="store_true", help="start a new run folder instead of resuming an unfinished one")
    run.add_argument("--xla", action="store_true", help="force jit_compile=True")

    validate = commands.add_parser("validate", help="check a spec, build its data and model, trace one batch")
    _spec_arguments(validate)
    show = commands.add_parser("show", help="print the resolved spec with each value's origin")
    _spec_arguments(show)
    commands.add_parser("schema", help="print the spec's JSON Schema")
    listing = commands.add_parser("list", help="list registered components")
    listing.add_argument("kind", nargs="?", help="one kind (models, losses, ...); default: all")
    data = commands.add_parser("data", help="write a PNG grid of augmented training samples")
    _spec_arguments(data)
    data.add_argument("--out", help="PNG path (default: <name>_samples.png)")
    data.add_argument("--count", type=int, default=32, help="number of samples (default 32)")
    coco = commands.add_parser("data-export-coco", help="write a spec's data source as COCO JSON + PNGs (kcv data export-coco SPEC OUT)")
    _spec_arguments(coco)
    coco.add_argument("out", help="folder to write (must not exist, or be empty)")
    coco.add_argument("--per-split", action="store_true", help="one annotation file per split (the spec's seeded split)")
    graph = commands.add_parser("graph", help="trace the train step, count its ops before/after Grappler, write it for TensorBoard")
    _spec_arguments(graph)
    graph.add_argument("--logdir", help="TensorBoard log folder (default: graphs/<name>)")
    export = commands.add_parser("export", help="export a finished run: SavedModel for TF Serving (+ TFLite)")
    export.add_argument("run_dir")
    export.add_argument("--directory", help="TF Serving base folder (default: the spec's export.directory)")
    export.add_argument("--version", type=int, help="version number (default: the next free one)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing version")
    export.add_argument("--tflite", choices=["none", "dynamic", "float16", "int8", "int8_full"],
                        help="also write a TFLite file with this quantization (default: the spec's export.tflite)")
    export.add_argument("--request-json", action="store_true", help="write TF Serving REST request bodies (both formats)")
    predict = commands.add_parser("predict", help="top-k classes from a SavedModel folder or a .tflite file")
    predict.add_argument("export", help="SavedModel version folder, TF Serving base path, or .tflite file")
    predict.add_argument("inputs", nargs="+", help="image files or .npy arrays of uint8 pixels")
    predict.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    evaluate = commands.add_parser("eval", help="re-evaluate a finished run on its test split")
    evaluate.add_argument("run_dir")
    generate = commands.add_parser("generate", help="samples of a finished generative run as a PNG grid and a uint8 .npy")
    generate.add_argument("run_dir")
    generate.add_argument("--n", type=int, default=64, help="how many samples (default 64)")
    generate.add_argument("--seed", type=int, default=0, help="seed of the latent draws (default 0)")
    generate.add_argument("--out", help="PNG path (default: RUN_DIR/generated/samples-<n>-seed<seed>.png; the .npy goes beside it)")
    score = commands.add_parser("score", help="sample quality of a generative run, measured by a trained classifier run")
    score.add_argument("run_dir")
    score.add_argument("--judge", required=True, help="a finished classification run on the same kind of images")
    score.add_argument("--n", type=int, help="how many samples (default and least: as many as the test split has)")
    score.add_argument("--seed", type=int, default=0, help="seed of the latent draws (default 0)")
    activations = commands.add_parser("activations", help="histograms of each hidden layer's activations at initialisation, per weight initialiser")
    _spec_arguments(activations)
    activations.add_argument("--init", dest="initializers", action="append", metavar="NAME",
                             help="an initialiser to compare (repeatable; default: all of kerascv_suite.layers.initializers)")
    activations.add_argument("--batch", type=int, default=500, help="training images pushed through (default 500)")
    activations.add_argument("--out", help="new or empty folder for the report (default: <runs-dir>/<name>/activations/<timestamp>)")
    activations.add_argument("--runs-dir", default="runs", help="where the default report folder goes (default: ./runs)")
    compare = commands.add_parser("compare", help="overlay the loss, accuracy and learning-rate curves of one or more runs in one PNG")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders with a history.csv (one or more)")
    compare.add_argument("--out", default="compare.png", help="PNG path (default: ./compare.png)")
    compare.add_argument("--label", dest="labels", action="append", metavar="TEXT",
                         help="a run's legend label, one per run in order (default: spec name and optimizer)")
    compare.add_argument("--force", action="store_true", help="overwrite an existing PNG")
    ensemble = commands.add_parser("ensemble", help="test accuracy of two or more finished runs' averaged probabilities")
    ensemble.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run folders on the same data split (two or more)")
    ensemble.add_argument("--out", help="new or empty folder for ensemble.json/.md (default: <runs-dir>/ensemble/<timestamp>)")
    ensemble.add_argument("--runs-dir", default="runs", help="where the default report folder goes (default: ./runs)")
    tune = commands.add_parser("tune", help="search the spec's `search:` hyperparameters with keras-tuner; writes ranked trials and the best spec")
    _spec_arguments(tune)
    tune.add_argument("--smoke", action="store_true", help="a few batches, one epoch, at most two trials")
    tune.add_argument("--out", help="search folder (default: <runs-dir>/<name>/tune-<timestamp>, or the unfinished search to resume)")
    tune.add_argument("--runs-dir", default="runs", help="where search folders go (default: ./runs)")
    report = commands.add_parser("report", help="draw a finished run's report list (its spec's report:) into a new <run>/report*/ folder")
    report.add_argument("run_dir", help="a finished run folder")
    explain = commands.add_parser("explain", help="saliency maps of a finished classification run over test images or image files")
    explain.add_argument("method", help="occlusion, gradient, guided_backprop, cam, grad_cam, integrated_gradients, smoothgrad or all")
    explain.add_argument("run_dir", help="a finished run folder")
    explain.add_argument("--image", dest="images", action="append", metavar="FILE",
                         help="an image file or uint8 .npy to explain (repeatable; default: the first --n test images)")
    explain.add_argument("--n", type=int, default=8, help="test images to explain when no --image is given (default 8)")
    explain.add_argument("--out", help="the PNG to write (default: <run>/explain/<method>-<timestamp>.png; never overwritten)")
    lr_find = commands.add_parser("lr-find", help="learning-rate range test: the loss against an exponentially rising rate, a suggested rate")
    _spec_arguments(lr_find)
    lr_find.add_argument("--min", dest="min_lr", type=float, default=1e-6, help="first learning rate (default 1e-6)")
    lr_find.add_argument("--max", dest="max_lr", type=float, default=1.0, help="last learning rate (default 1)")
    lr_find.add_argument("--steps", type=int, default=100, help="training steps, the rate rising geometrically (default 100)")
    lr_find.add_argument("--out", help="new or empty folder for the report (default: <runs-dir>/<name>/lr-find/<timestamp>)")
    lr_find.add_argument("--runs-dir", default="runs", help="where the default report folder goes (default: ./runs)")
    for command, help_text in (("summary", "parameters and multiply-accumulates (MACs) per stage of a registered model"),
                               ("receptive-field", "each layer's receptive field, jump and output size")):
        arithmetic = commands.add_parser(command, help=help_text)
        arithmetic.add_argument("model", help="a registered model name (see kcv list models)")
        arithmetic.add_argument("--input", default="224x224x3", metavar="HxWxC", help="input shape (default 224x224x3)")
        arithmetic.add_argument("--classes", type=int, default=1000, help="number of classes (default 1000)")
        arithmetic.add_argument("--set", dest="params", action="append", default=[], metavar="KEY=VALUE",
                                help="a builder argument, e.g. --set width_multiplier=0.5 (repeatable)")
    return parser


def _load(args):
    from kerascv_suite.spec import load_spec

    return load_spec(args.spec, overrides=args.overrides, allow_imports=args.allow_imports)


def _run(args) -> int:
    spec = _load(args)
    from kerascv_suite.training import trainer

    if args.check_init:
        measured, expected, formula, off, with_penalties = trainer.check_init(spec)
        print(f"regularisation off for the check: {', '.join(off) or 'none in this model'}")
        penalties_ok = True
        if with_penalties is not None:
            penalties_ok = with_penalties > measured
            print(f"with the L1/L2 penalties on: {with_penalties:.4f}, "
                  f"{'higher, as it must be: OK' if penalties_ok else 'NOT higher: the penalties do not reach the loss'}")
        if expected is None:
            print(f"initial loss {measured:.4f} ({formula})")
            return 0 if penalties_ok else 1
        ok = abs(measured - expected) <= 0.25 * expected
        print(f"initial loss {measured:.4f}, expected ≈ {formula} = {expected:.4f} for small weights: {'OK' if ok else 'SUSPICIOUS'}")
        return 0 if ok and penalties_ok else 1
    if args.overfit is not None:
        if args.overfit < 1:
            raise_user(f"--overfit: N must be at least 1, got {args.overfit}")
        if spec.task.name != "classification":
            raise_user(f"--overfit: the check trains until 100% training accuracy, which only classifiers have; "
                       f"{spec.name} is a {spec.task.name} pipeline")
        reached, epochs, accuracy, off = trainer.overfit(spec, args.overfit)
        print(f"regularisation off for the check: {', '.join(off) or 'none in this model'}")
        verdict = "reached" if reached else "did NOT reach"
        print(f"overfit {args.overfit} examples: {verdict} 100% training accuracy after {epochs} epochs (accuracy {accuracy:.4f})")
        return 0 if reached else 1
    result = trainer.train(spec, runs_dir=args.runs_dir, run_dir=args.run_dir, smoke=args.smoke, force=args.force,
                           new=args.new, xla=args.xla)
    test = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics["test"].items())
    print(f"test: {test}")
    written = sorted(p.name for p in result.run_dir.iterdir() if p.is_file() and p.suffix in (".yaml", ".csv", ".json", ".png", ".keras"))
    print(f"wrote {result.run_dir}/ ({', '.join(written)})")
    if spec.report:
        _print_reports(result.run_dir)
    return 0


def _print_reports(run_dir) -> None:
    from kerascv_suite.viz.reports import write_reports

    paths = write_reports(run_dir)
    print(f"wrote {paths[0].parent}/ ({', '.join(p.name for p in paths)})")


def _report(args) -> int:
    from kerascv_suite.training.trainer import load_run

    if not load_run(args.run_dir)[0].report:
        raise_user(f"{args.run_dir}: its spec has no report list; add one (kcv list reports) and train, or use kcv explain")
    _print_reports(args.run_dir)
    return 0


def raise_user(message: str):
    from kerascv_suite.spec.errors import UserError

    raise UserError(message)


def _validate(args) -> int:
    spec = _load(args)
    from kerascv_suite.data.pipeline import DataPipeline
    from kerascv_suite.training.trainer import compile_model

    pipeline = DataPipeline(spec, smoke=True)
    model, _ = compile_model(spec, pipeline.info)
    images, labels = next(iter(pipeline.dataset("train")))
    # a class-conditional model (a conditional GAN's discriminator) reads the labels too
    outputs = model(images, labels, training=False) if getattr(model, "conditional", False) else model(images, training=False)
    # the model's test step: the compiled loss, or the objective of a model that computes its own (a VAE's −ELBO)
    loss = model.evaluate(images, labels, batch_size=len(images), verbose=0, return_dict=True)["loss"]
    print(f"{args.spec}: OK — model '{spec.model.name}' ({model.count_params():,} parameters) maps a batch "
          f"{tuple(images.shape)} to {tuple(outputs.shape)}, loss {loss:.4f}")
    return 0


def _show(args) -> int:
    from kerascv_suite.spec import show_spec

    print(show_spec(_load(args)))
    return 0


def _schema(args) -> int:
    from kerascv_suite.spec import spec_schema

    print(json.dumps(spec_schema(), indent=2))
    return 0


def _list(args) -> int:
    from kerascv_suite.registry import REGISTRIES, did_you_mean, load_components

    load_components()
    if args.kind and args.kind not in REGISTRIES:
        raise_user(f"unknown kind '{args.kind}'{did_you_mean(args.kind, REGISTRIES)}; allowed: {', '.join(REGISTRIES)}")
    for kind, registry in REGISTRIES.items():
        if args.kind in (None, kind):
            print(f"{kind}: {registry.description}")
            for name in registry.names():
                print(f"  {name:<22} {registry.summary(name)}")
    return 0


def _data(args) -> int:
    spec = _load(args)
    from kerascv_suite.data.pipeline import DataPipeline
    from kerascv_suite.viz.plots import image_grid

    from kerascv_suite.data.examples import FEATURES

    pipeline = DataPipeline(spec, feature_keys=FEATURES)
    out = Path(args.out or f"{spec.name}_samples.png")
    if pipeline.structured:
        return _structured_grid(pipeline, args.count, out)
    images, labels = [], []
    for batch_images, batch_labels in pipeline.dataset("train"):
        images.extend(batch_images.numpy())
        labels.extend(batch_labels.numpy())
        if len(images) >= args.count:
            break
    names = pipeline.info.class_names
    image_grid(images[: args.count], [names[int(y)] for y in labels[: args.count]], out)
    print(f"wrote {out} ({min(len(images), args.count)} augmented training samples)")
    return 0


def _structured_grid(pipeline, count: int, out: Path) -> int:
    """`kcv data` on a structured source: augmented training samples with their boxes, class map, keypoints and caption."""
    from kerascv_suite.data import examples as ex
    from kerascv_suite.spec.errors import UserError
    from kerascv_suite.viz.plots import annotated_grid

    batches = list(pipeline.feature_dataset("train").unbatch().take(count).batch(count))
    if not batches:
        raise UserError(f"data: the training split ({pipeline.info.split_sizes['train']} examples) holds no full batch of "
                        f"{pipeline.data.batch_size}; lower data.batch_size or add examples")
    batch = {key: value.numpy() for key, value in batches[0].items()}
    names = pipeline.info.class_names
    titles = []
    for index in range(len(batch[ex.IMAGES])):
        if ex.CAPTIONS in batch:
            titles.append(batch[ex.CAPTIONS][index].decode())
        elif ex.CLASSES in batch:
            titles.append(", ".join(names[c] for c in batch[ex.CLASSES][index] if c >= 0))
        else:
            titles.append(names[int(batch[ex.LABELS][index])])
    annotated_grid(batch[ex.IMAGES], titles, out, boxes=batch.get(ex.BOXES), masks=batch.get(ex.SEMANTIC_MASK),
                   keypoints=batch.get(ex.KEYPOINTS), mask_classes=len(names) + 1)
    drawn = [key for key in (ex.BOXES, ex.SEMANTIC_MASK, ex.KEYPOINTS, ex.CAPTIONS) if key in batch]
    print(f"wrote {out} ({len(batch[ex.IMAGES])} augmented training samples with {', '.join(drawn)})")
    return 0


def _export_coco(args) -> int:
    spec = _load(args)
    from kerascv_suite.data.coco import export_coco
    from kerascv_suite.data.pipeline import DataPipeline

    pipeline = DataPipeline(spec)
    written = export_coco(pipeline.source, args.out, split_indices=pipeline.indices if args.per_split else None)
    files = ", ".join(f"{name} ({count} annotations)" for name, count in written["files"].items())
    print(f"wrote {written['images']} images and {files} to {written['out_dir']}")
    return 0


def _graph(args) -> int:
    spec = _load(args)
    from kerascv_suite.training.graph import graph_report

    report = graph_report(spec, args.logdir or f"graphs/{spec.name}")
    print(f"train step of '{spec.model.name}' on a batch {tuple(report['batch_shape'])}: {report['ops']} ops as traced, "
          f"{report['ops_after_grappler']} after Grappler")
    print(f"wrote the graph to {report['logdir']} (tensorboard --logdir {report['logdir']}, Graphs tab)")
    return 0


def _export(args) -> int:
    from kerascv_suite.export import export_run
    from kerascv_suite.spec.schema import TFLiteSpec
    from kerascv_suite.training.trainer import load_run

    spec, pipeline, model, task = load_run(args.run_dir)
    tflite = TFLiteSpec(quantization=args.tflite) if args.tflite else None
    report = export_run(model, pipeline, task, spec, args.run_dir, savedmodel=True, tflite=tflite, directory=args.directory,
                        version=args.version, overwrite=args.overwrite, request_json=args.request_json)
    saved = report["savedmodel"]
    largest = ", ".join(f"{k} {v:.2g}" for k, v in saved["verification"]["largest_differences"].items())
    print(f"wrote {saved['path']} (signatures: {', '.join(saved['signatures'])}; fresh-process check, largest "
          f"differences from Keras: {largest}) and {saved['models_config']}")
    if "tflite" in report:
        t = report["tflite"]
        print(f"wrote {t['path']} ({t['size_bytes']:,} bytes, top-1 agreement {t['agreement']:.4f} in LiteRT)")
    print(f"report: {report['report_dir']}/export_report.json")
    return 0


def _predict(args) -> int:
    from kerascv_suite.export.predict import predict

    for label, top in predict(args.export, args.inputs, top_k=args.top):
        print(f"{label}: " + ", ".join(f"{name} {p:.4f}" for name, p in top))
    return 0


def _eval(args) -> int:
    from kerascv_suite.training.trainer import evaluate_run

    result = evaluate_run(args.run_dir)
    print("test: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return 0


def _generate(args) -> int:
    from kerascv_suite.tasks.generative import generate

    if args.n < 1:
        raise_user(f"--n: give at least 1 sample, got {args.n}")
    path = generate(args.run_dir, n=args.n, seed=args.seed, out=args.out)
    print(f"wrote {path} and {path.with_suffix('.npy')}")
    return 0


def _score(args) -> int:
    from kerascv_suite.tasks.sample_quality import score_run, write_scores

    try:
        scores = score_run(args.run_dir, args.judge, n=args.n, seed=args.seed)
    except ValueError as error:
        raise_user(str(error))
    path = write_scores(args.run_dir, scores)
    print(f"{scores['samples']} samples: confident {scores['confident_share']:.3f}, class entropy "
          f"{scores['class_entropy']:.3f} of {scores['max_class_entropy']:.3f}, rarest class {scores['min_class_share']:.3f}"
          + (f", requested class {scores['requested_share']:.3f}" if "requested_share" in scores else "")
          + f", Fréchet distance {scores['frechet_distance']:.2f} (real against real: {scores['frechet_distance_real']:.2f})")
    print(f"wrote {path}")
    return 0


def _check_out_folder(out: str | None) -> None:
    """Fail before the work, not after it, when --out names a folder that already holds files."""
    if out and Path(out).exists() and (not Path(out).is_dir() or any(Path(out).iterdir())):
        raise_user(f"--out {out}: already exists and is not an empty folder; results are never overwritten")


def _activations(args) -> int:
    from kerascv_suite.viz.activations import (
        activation_statistics,
        write_activation_report,
    )

    spec = _load(args)
    _check_out_folder(args.out)
    stats = activation_statistics(spec, args.initializers, batch=args.batch)
    out = write_activation_report(stats, args.out, runs_dir=args.runs_dir)
    print(stats.table())
    print(f"wrote {out}/ (activations.png, activations.md, activations.json)")
    return 0


def _explain(args) -> int:
    from kerascv_suite.viz.explain import explain_run

    path = explain_run(args.run_dir, args.method, images=args.images, n=args.n, out=args.out)
    print(f"wrote {path}")
    return 0


def _lr_find(args) -> int:
    from kerascv_suite.training.lr_finder import lr_range_test, write_lr_range_report

    spec = _load(args)
    _check_out_folder(args.out)
    result = lr_range_test(spec, args.min_lr, args.max_lr, args.steps)
    out = write_lr_range_report(result, args.out, runs_dir=args.runs_dir)
    print(result.summary())
    print(f"wrote {out}/ (lr_find.png, lr_find.json)")
    return 0


def _compare(args) -> int:
    from kerascv_suite.viz.compare import compare_runs, format_summary, load_runs

    out = compare_runs(args.run_dirs, args.out, labels=args.labels, overwrite=args.force)
    print(format_summary(load_runs(args.run_dirs, args.labels)))
    print(f"wrote {out}")
    return 0


def _ensemble(args) -> int:
    from kerascv_suite.training.ensemble import (
        ensemble_runs,
        format_ensemble,
        write_ensemble_report,
    )

    _check_out_folder(args.out)
    result = ensemble_runs(args.run_dirs)
    out = write_ensemble_report(result, args.out, runs_dir=args.runs_dir)
    print(format_ensemble(result))
    print(f"wrote {out}/ (ensemble.json, ensemble.md)")
    return 0


def _tune(args) -> int:
    from kerascv_suite.training.tuning import tune

    result = tune(_load(args), out_dir=args.out, runs_dir=args.runs_dir, smoke=args.smoke)
    print(f"wrote {result.out_dir}/ (trials.md, trials.csv, objective.png, best_spec.yaml)")
    return 0


def _registered_model(args):
    """Build `args.model` at `--input`/`--classes` with the `--set` arguments; every mistake is a one-line UserError.

    The `--set` arguments are validated by the same typed component model a spec's `model:`
    section goes through, so the command accepts exactly what a spec would.
    """
    import inspect

    import yaml
    from pydantic import ValidationError

    from kerascv_suite.models.arithmetic import parse_input_shape
    from kerascv_suite.registry import MODELS, UnknownComponentError, did_you_mean
    from kerascv_suite.spec import build_component
    from kerascv_suite.spec.documents import SpecLoader
    from kerascv_suite.spec.schema import component_model

    try:
        input_shape = parse_input_shape(args.input)
    except ValueError as error:
        raise_user(f"--input: {error}")
    if args.classes < 1:
        raise_user(f"--classes: must be at least 1, got {args.classes}")
    try:
        schema = component_model("models", args.model)
    except UnknownComponentError as error:
        raise_user(str(error))
    params = {}
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise_user(f"--set: expected KEY=VALUE, got '{item}'")
        params[key] = yaml.load(value, Loader=SpecLoader)
    allowed = [k for k in schema.model_fields if k != "name"]
    try:
        component = schema.model_validate({"name": args.model, **params})
    except ValidationError as error:
        problem = error.errors()[0]
        key = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            raise_user(f"--set: model '{args.model}' has no argument '{key}'{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
        raise_user(f"--set {key}: {problem['input']!r} is not allowed: {problem['msg']}")
    if "train_size" in inspect.signature(MODELS.get(args.model)).parameters:
        raise_user(f"model '{args.model}' needs train_size, which only a training pipeline provides")
    try:
        return build_component(component, input_shape=input_shape, num_classes=args.classes)
    except (ValueError, TypeError) as error:
        raise_user(f"model '{args.model}': {str(error).splitlines()[0]}")


def _summary(args) -> int:
    from kerascv_suite.models.arithmetic import format_count, format_summary, summary

    model = _registered_model(args)
    rows = summary(model)
    print(format_summary(rows))
    macs = rows[-1].macs
    short = f" ({format_count(macs)})" if macs >= 1e6 else ""
    print(f"{model.name} at {args.input}: {rows[-1].params:,} parameters, {macs:,} multiply-accumulates{short} per example")
    return 0


def _receptive_field(args) -> int:
    from kerascv_suite.models.arithmetic import (
        format_receptive_fields,
        receptive_fields,
    )

    model = _registered_model(args)
    rows = receptive_fields(model)
    print(format_receptive_fields(rows))
    last = rows[-1]
    print(f"{model.name} at {args.input}: the output sees {'×'.join(map(str, last.receptive_field))} input pixels")
    return 0


COMMANDS = {"run": _run, "validate": _validate, "show": _show, "schema": _schema, "list": _list, "data": _data,
            "data-export-coco": _export_coco,
            "graph": _graph, "export": _export, "predict": _predict, "eval": _eval, "generate": _generate, "score": _score,
            "summary": _summary, "receptive-field": _receptive_field,
            "activations": _activations, "lr-find": _lr_find, "explain": _explain, "report": _report, "compare": _compare, "ensemble": _ensemble, "tune": _tune}


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and the components with stderr silenced at the file-descriptor level.

    TensorFlow's C++ start-up lines (oneDNN notice, CUDA probing) are printed before absl logging
    can be configured, so TF_CPP_MIN_LOG_LEVEL does not reach them; without this, they would
    bury the one-line errors this command promises. Set TF_CPP_MIN_LOG_LEVEL=0 to see them.
    """
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2") in ("0", "1"):
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        from kerascv_suite.registry import load_components

        if "TF_CONFIG" not in os.environ:  # multi-worker collectives must be configured before devices start
            tf.config.list_logical_devices()  # device start-up probes CUDA and logs its absence
        load_components()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kcv` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["data", "export-coco"]:  # `kcv data export-coco SPEC OUT`: a sub-command of `kcv data SPEC`
        argv = ["data-export-coco", *argv[2:]]
    args = _parser().parse_args(argv)
    _import_tensorflow_quietly()
    from kerascv_suite.spec.errors import UserError

    try:
        return COMMANDS[args.command](args)
    except UserError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
