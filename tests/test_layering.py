"""Imports inside kerascv_suite only go down the layers (DESIGN.md, "Layout for the whole syllabus").

Every module is parsed with `ast`, and every import of a kerascv_suite module counts: at module
level and inside functions alike, since the package imports lazily. A module may import its own
layer or any layer below it; an import of a higher layer fails this test unless it is on
`ALLOWED_UPWARD`, each entry with the reason it is still there. No TensorFlow is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kerascv_suite"

# Lowest first. A module belongs to the layer of the longest prefix below that names it; a module
# that no prefix names fails `test_every_module_has_a_layer`, so a new package must be placed here.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # run folders, the one atomic write, the Keras-loading lookup, compat (private APIs), and the one error type
    # (spec/errors.py imports nothing; DESIGN puts errors in core/, where it moves with its ~40 importers).
    ("core", ("kerascv_suite.core", "kerascv_suite.spec.errors")),
    # names → components, loaded lazily; imports nothing of the library.
    ("registry", ("kerascv_suite.registry",)),
    # the features-dict contract (key names only); the spec schema validates against it.
    ("data.examples", ("kerascv_suite.data.examples",)),
    # loading, merging, schema, provenance.
    ("spec", ("kerascv_suite.spec",)),
    # NumPy maths shared by tasks and tools (stable softmax).
    ("ops", ("kerascv_suite.ops",)),
    # shared Keras blocks.
    ("layers", ("kerascv_suite.layers",)),
    # model builders (families, backbones, heads on them, transfer learning).
    ("models", ("kerascv_suite.models",)),
    # pictures from NumPy arrays and histories (matplotlib only): tasks' reports and the trainer draw
    # with them, so they sit below tasks; viz's model-reading commands (activations, compare) stay on top.
    ("viz.plots", ("kerascv_suite.viz.plots",)),
    # the serving base (tf.Module, decoding, pixel units) that each task's serving signature builds on.
    ("export.serving", ("kerascv_suite.export.serving",)),
    # the Task protocol and the tasks: example keys, targets, losses, metrics, reports, serving.
    ("tasks", ("kerascv_suite.tasks",)),
    # sources, preprocessing, augmentation, the tf.data pipeline.
    ("data", ("kerascv_suite.data",)),
    # the loop: trainer, callbacks, optimizers, schedules, distribution, and today's tools in training/.
    ("training", ("kerascv_suite.training",)),
    # SavedModel, TFLite, verification, the public export API.
    ("export", ("kerascv_suite.export",)),
    # pictures that read runs and models (activations, compare).
    ("viz", ("kerascv_suite.viz",)),
    # the command line: may import anything.
    ("cli", ("kerascv_suite.cli",)),
]

# (importer, imported module): why this upward import is still here. Remove an entry once fixed;
# `test_the_allow_list_has_no_stale_entries` fails on entries that no longer occur.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("kerascv_suite.tasks.sample_quality", "kerascv_suite.training.trainer"):
        "a tool (DESIGN: tools/, above export) that judges finished runs with trainer.load_run; it moves to tools/",
    ("kerascv_suite.training.trainer", "kerascv_suite.export"):
        "train() exports at the end of a run (export_run); that orchestration belongs in the cli/ run command",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    """Index into LAYERS of the longest prefix naming `module`; None for the top-level package."""
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def imported_modules(module: str, path: Path) -> set[str]:
    """kerascv_suite modules `module` imports anywhere in its file (module level or inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from a import b` imports the module a.b when there is one, else a name from a.
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}
    return {name for name in found if name == "kerascv_suite" or name.startswith("kerascv_suite.")}


def upward_imports() -> dict[tuple[str, str], str]:
    """(importer, imported) → "layer → higher layer", for every import that goes up."""
    found = {}
    for module, path in MODULES.items():
        if module == "kerascv_suite":
            continue  # the top-level package re-exports the public API: it may import anything
        own = layer_of(module)
        for target in imported_modules(module, path):
            if target == "kerascv_suite":
                continue  # e.g. __version__: the top-level package is loaded before any submodule anyway
            theirs = layer_of(target)
            if theirs is not None and theirs > own:
                found[(module, target)] = f"{LAYERS[own][0]} → {LAYERS[theirs][0]}"
    return found


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "kerascv_suite" and layer_of(m) is None] == []


def test_imports_only_go_down_the_layers():
    new = {pair: how for pair, how in upward_imports().items() if pair not in ALLOWED_UPWARD}
    assert not new, "upward imports (import from a lower layer, or add to ALLOWED_UPWARD with a reason):\n" + "\n".join(
        f"  {a} imports {b} ({how})" for (a, b), how in sorted(new.items()))


def test_the_allow_list_has_no_stale_entries():
    assert sorted(set(ALLOWED_UPWARD) - set(upward_imports())) == []


def test_the_check_sees_function_level_imports(tmp_path, monkeypatch):
    """The checker itself: a lazy import of a higher layer inside a function is reported."""
    lower = tmp_path / "kerascv_suite" / "ops" / "softmax.py"
    lower.parent.mkdir(parents=True)
    lower.write_text("def f():\n    from kerascv_suite.training import trainer\n    from ..tasks import base\n")
    monkeypatch.setitem(MODULES, "kerascv_suite.training.trainer", Path("unused"))
    monkeypatch.setitem(MODULES, "kerascv_suite.tasks.base", Path("unused"))
    assert imported_modules("kerascv_suite.ops.softmax", lower) == {"kerascv_suite.training.trainer", "kerascv_suite.tasks.base"}
    assert layer_of("kerascv_suite.ops.softmax") < layer_of("kerascv_suite.tasks.base") < layer_of("kerascv_suite.training.trainer")
