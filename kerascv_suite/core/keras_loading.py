"""Plain `keras.saving.load_model` finds the library's classes, without `import kerascv_suite` importing Keras.

The library's losses, metrics, schedules, layers and models are registered with
``@keras.saving.register_keras_serializable(package="kerascv_suite")``, which runs only when
their module is imported. `import kerascv_suite` imports none of them (it stays cheap), and
Keras 3 imports a config's ``module`` only for its own packages (keras, keras_hub, keras_cv,
keras_nlp), so a user's ``keras.saving.load_model("runs/.../model.keras")`` would fail with
"Could not locate class 'CrossEntropy'".

So registration happens on lookup instead:

- Keras looks every registered name up in ``keras.src.saving.object_registration.GLOBAL_CUSTOM_OBJECTS``
  (``name in ...`` then ``...[name]``). Once that module exists — at `import kerascv_suite` if
  Keras is already imported, else when Keras imports it, through a one-shot import hook that
  `kerascv_suite/__init__.py` installs with `core.compat.install_keras_registration_hook` (this
  module is not even imported until then) — `compat.make_custom_objects_lazy`
  replaces the dict by a `LazyCustomObjects`: the same entries in a dict that, asked for a
  ``kerascv_suite>Name`` it does not hold yet, imports the module defining ``Name`` (whose
  decorator then registers it) and answers again.
- Which module defines which name is read from the package's own source the first time a name
  is missed: every ``register_keras_serializable`` decorator and the class under it
  (`serializable_index`). A class added anywhere in the package is covered with no list to edit;
  a name the scan cannot place makes every module that registers anything be imported.

Loading a library model then imports only the modules its config names (losses, metrics, ...).

Example::

    import keras, kerascv_suite
    model = keras.saving.load_model("runs/lenet5_digits/<stamp>/model.keras")   # compiled, CrossEntropy and all
"""

from __future__ import annotations

PACKAGE = "kerascv_suite"
_DECORATOR = "register_keras_serializable"
_index: dict[str, str] | None = None
_registering: list[str] = []  # modules being imported by a lookup (a lookup from inside one must not recurse)


def serializable_index() -> dict[str, str]:
    """Every registered name the package's source declares, mapped to its module: {"kerascv_suite>CrossEntropy": "kerascv_suite.tasks.losses", ...}.

    Read once from the ``.py`` files (no module is imported). A decorator whose class or name the
    scan cannot read is listed under ``"<module>:?"`` so that the module is still imported as a last resort.
    """
    global _index
    if _index is None:
        import re
        from pathlib import Path

        decorated = re.compile(
            r"^[ \t]*@(?:[\w.]+\.)?" + _DECORATOR + r"\(([^)]*)\)[ \t]*\n(?:[ \t]*@.*\n)*[ \t]*class[ \t]+(\w+)", re.MULTILINE)
        argument = re.compile(r"""\b(package|name)\s*=\s*["']([^"']+)["']""")
        root = Path(__file__).resolve().parents[1]  # the package
        index = {}
        for path in sorted(root.rglob("*.py")):
            text = path.read_text(encoding="utf-8", errors="replace")
            if _DECORATOR + "(" not in text or path == Path(__file__).resolve():
                continue
            parts = path.relative_to(root).with_suffix("").parts
            module = ".".join((PACKAGE, *(parts[:-1] if parts[-1] == "__init__" else parts)))
            found = decorated.findall(text)
            for arguments, class_name in found:
                given = dict(argument.findall(arguments))
                index[f"{given.get('package', 'Custom')}>{given.get('name', class_name)}"] = module
            if len(found) < text.count(_DECORATOR + "("):
                index[f"{module}:?"] = module
        _index = index
    return _index


def _import_for(registered_name: str) -> None:
    """Import the module(s) that register `registered_name` (a ``kerascv_suite>`` name not registered yet)."""
    import importlib

    index = serializable_index()
    modules = [index[registered_name]] if registered_name in index else sorted(set(index.values()))
    for module in modules:
        if module in _registering:
            continue
        _registering.append(module)
        try:
            importlib.import_module(module)
        finally:
            _registering.remove(module)


class LazyCustomObjects(dict):
    """Keras's global custom-object dict that registers a missing ``kerascv_suite>`` name by importing its module."""

    def _found(self, key) -> bool:
        if dict.__contains__(self, key):
            return True
        if isinstance(key, str) and key.startswith(PACKAGE + ">"):
            _import_for(key)
            return dict.__contains__(self, key)
        return False

    def __contains__(self, key) -> bool:
        return self._found(key)

    def __missing__(self, key):
        if self._found(key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key, default=None):
        return dict.__getitem__(self, key) if self._found(key) else default
