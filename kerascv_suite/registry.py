"""One registry per kind of component, so a spec can name any component by a short name.

A component is a plain function or class with explicit, annotated arguments; registering it
is one decorator. The spec validator reads each component's signature to check the
parameters a spec gives it, and `kcv list` prints each name with the first line of its
docstring.

Example::

    from kerascv_suite.registry import MODELS

    @MODELS.register("tiny_mlp")
    def tiny_mlp(input_shape: tuple, num_classes: int, width: int = 32):
        '''A one-hidden-layer MLP.'''
        ...

Other installed packages add components through the ``kerascv_suite.plugins`` entry point
group: each entry point names a module that registers components when imported. A spec may
also name a component by import path (``"my_pkg.models:my_net"``), but only when the user
passes ``--allow-imports``: a spec that came from elsewhere must not run code by default.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from importlib.metadata import entry_points
from typing import Callable


class Component:
    """Annotation for a parameter that takes a component of another kind.

    ``learning_rate: float | Component["schedules"] = 0.01`` lets a spec give either a number
    or a schedule component (``{name: cosine, decay_steps: 1000}``); the spec validator checks
    the nested component like any other, and the builder instantiates it first.
    """

    kind = ""
    _by_kind: dict = {}

    def __class_getitem__(cls, kind: str):
        if kind not in cls._by_kind:
            cls._by_kind[kind] = type(f"Component[{kind}]", (cls,), {"kind": kind})
        return cls._by_kind[kind]


class UnknownComponentError(KeyError):
    """A spec named a component that is not registered."""

    def __str__(self):
        return self.args[0]


def did_you_mean(word: str, choices) -> str:
    """Return " (did you mean 'x'?)" for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def is_import_path(name: str) -> bool:
    """An import path names a module and an attribute: ``package.module:attribute``."""
    return ":" in name


class Registry:
    """Names → components of one kind (models, losses, ...).

    Registering a name twice is an error: two components must never silently shadow each
    other, whichever module happened to be imported last.
    """

    def __init__(self, kind: str, description: str):
        self.kind = kind
        self.description = description
        self._items: dict[str, Callable] = {}

    def register(self, name: str | None = None):
        """Decorator: register a function or class under `name` (default: its own name)."""

        def decorate(component):
            key = name or component.__name__
            target = component.__init__ if inspect.isclass(component) else component
            if "name" in inspect.signature(target).parameters:
                raise ValueError(f"{self.kind}: '{key}' has a parameter called 'name', which specs use for the component's own name")
            if key in self._items and self._items[key] is not component:
                raise ValueError(f"{self.kind}: '{key}' is registered twice")
            self._items[key] = component
            return component

        return decorate

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        return sorted(self._items)

    def get(self, name: str) -> Callable:
        if name not in self._items:
            raise UnknownComponentError(
                f"unknown {self.kind[:-1] if self.kind.endswith('s') else self.kind} '{name}'"
                f"{did_you_mean(name, self._items)}; allowed: {', '.join(self.names())}"
            )
        return self._items[name]

    def register_import_path(self, path: str) -> Callable:
        """Import ``module:attribute`` and register it under that path (needs --allow-imports)."""
        if path in self._items:
            return self._items[path]
        module_name, _, attribute = path.partition(":")
        try:
            component = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise UnknownComponentError(f"cannot import {self.kind} '{path}': {error}") from None
        self._items[path] = component
        return component

    def summary(self, name: str) -> str:
        """The first line of the component's docstring."""
        doc = inspect.getdoc(self._items[name]) or ""
        return doc.splitlines()[0] if doc else ""


DATASETS = Registry("datasets", "data sources that yield uint8 images and integer labels")
OPS = Registry("ops", "preprocessing and augmentation ops for tf.data")
MODELS = Registry("models", "model builders returning keras.Model")
BACKBONES = Registry("backbones", "CNN families whose feature maps other models' heads sit on (kerascv_suite.models.backbones)")
LOSSES = Registry("losses", "loss functions")
METRICS = Registry("metrics", "metrics reported during training and evaluation")
OPTIMIZERS = Registry("optimizers", "Keras optimizers")
SCHEDULES = Registry("schedules", "learning-rate schedules")
CALLBACKS = Registry("callbacks", "Keras callbacks added to fit")
TASKS = Registry("tasks", "tasks: what a model predicts, how it is compiled and reported")
REPORTS = Registry("reports", "pictures a finished run draws of its model into <run>/report/ (the spec's report list; chapter 8)")

REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (DATASETS, OPS, MODELS, BACKBONES, LOSSES, METRICS, OPTIMIZERS, SCHEDULES, CALLBACKS, TASKS, REPORTS)
}

_loaded = False


def load_components() -> None:
    """Import the built-in components and every installed plugin (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in ("data.sources", "data.shapes", "data.coco", "data.ops", "data.whitening", "models", "tasks", "tasks.losses", "tasks.metrics",
                   "training.optimizers", "training.lbfgs", "training.schedules", "training.callbacks", "training.execution_modes",
                   "viz.reports", "viz.style"):
        importlib.import_module(f"kerascv_suite.{module}")
    for entry_point in entry_points(group="kerascv_suite.plugins"):
        entry_point.load()
