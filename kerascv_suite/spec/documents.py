"""Reading spec documents: YAML with line numbers, `base:` inheritance and `--set` overrides.

Every value keeps its origin — the file and line it was written on, or the `--set` that gave
it — so `kcv show` can say where each resolved value came from and every error can point at
the line to fix.

Inheritance rules: a spec's `base:` names one spec or a list of them, relative to the spec's
own folder (or ``package:NAME`` for a spec shipped inside kerascv_suite). Bases merge in
order, then the spec itself on top: mappings merge key by key, lists and scalars replace. A
mapping whose `name` differs from the base's is a different component and replaces the base's
mapping whole, so a model's parameters never leak into another model.

Example::

    data, origins = read_document(Path("pipelines/classification/softmax.yaml"))
    data, origins = apply_overrides(data, origins, ["optimizer.learning_rate=0.01"])
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from kerascv_suite.spec.errors import SpecError
from kerascv_suite.spec.schema import COMPONENT_SLOTS

PACKAGE_SPECS = Path(__file__).resolve().parent.parent / "specs"

Origins = dict[tuple, str]


# How many nodes all of a document's aliases may stand for, expanded. A spec uses a few aliases
# of small mappings at most; ten aliases of ten aliases nine levels deep ("billion laughs") stand
# for a billion, which every later walk over the spec would visit, for minutes.
ALIAS_EXPANSION_BUDGET = 10_000


class AliasExpansionError(yaml.composer.ComposerError):
    """A document whose aliases expand past `ALIAS_EXPANSION_BUDGET` nodes, or an alias inside the node it names."""


class SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-4`` as a number as YAML 1.2 does (YAML 1.1 wants ``1.0e-4``).

    It also counts, while composing, how many nodes the document's aliases stand for once
    expanded (an alias of an alias counts the inner one's expansion too), and refuses the
    alias that takes the count past `ALIAS_EXPANSION_BUDGET`, before any Python object is built.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._expanded_sizes: dict[int, int] = {}  # id(node) -> nodes in its expansion, for composed nodes
        self._alias_expansion = 0

    def compose_node(self, parent, index):
        if not self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [child for pair in node.value for child in pair]
            else:
                children = ()
            self._expanded_sizes[id(node)] = 1 + sum(self._expanded_sizes[id(child)] for child in children)
            return node
        event = self.peek_event()
        node = super().compose_node(parent, index)
        size = self._expanded_sizes.get(id(node))
        if size is None:  # its node is still being composed: the alias is inside it
            raise AliasExpansionError(None, None, f"alias *{event.anchor} is inside the node it names (a recursive "
                                      "alias); a spec cannot contain itself", event.start_mark)
        self._alias_expansion += size
        if self._alias_expansion > ALIAS_EXPANSION_BUDGET:
            raise AliasExpansionError(None, None, (
                f"alias *{event.anchor} ({size:,} nodes expanded) takes the document's aliases past "
                f"{ALIAS_EXPANSION_BUDGET:,} expanded nodes, the most a spec may repeat through aliases "
                "(write the values out, or share them through base: specs)"), event.start_mark)
        return node


SpecLoader.yaml_implicit_resolvers = {key: list(value) for key, value in yaml.SafeLoader.yaml_implicit_resolvers.items()}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def dotted(path: tuple) -> str:
    """('data', 'preprocess', 0, 'size') → 'data.preprocess[0].size'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk_marks(node, path: tuple, where: str, origins: Origins, problems: list[str]):
    origins[path] = f"{where}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(f"{where}:{key_node.start_mark.line + 1}: {dotted(path + (key,))}: duplicate key")
            seen.add(key)
            _walk_marks(value_node, path + (key,), where, origins, problems)
            origins[path + (key,)] = f"{where}:{key_node.start_mark.line + 1}"
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk_marks(item, path + (index,), where, origins, problems)


def parse_yaml(text: str, where: str) -> tuple[Any, Origins]:
    """Safe-load YAML text and record the line of every key and list item."""
    loader = SpecLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        kind = "refused YAML" if isinstance(error, AliasExpansionError) else "unreadable YAML"
        raise SpecError(f"{where}{line}: {kind}: {problem}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError(f"{where}:1: a spec must be a YAML mapping of sections, got {type(data).__name__}")
    origins: Origins = {}
    problems: list[str] = []
    if node is None:  # an empty file
        return data, {(): f"{where}:1"}
    _walk_marks(node, (), where, origins, problems)
    if problems:
        raise SpecError(problems)
    return data, origins


def _resolve_base(name: str, relative_to: Path, where: str) -> Path:
    if name.startswith("package:"):
        path = PACKAGE_SPECS / name[len("package:"):]
    else:
        path = (relative_to / name).resolve()
    if not path.is_file():
        raise SpecError(f"{where}: base spec not found: {name} (looked for {path})")
    return path


def _prune(origins: Origins, prefix: tuple) -> None:
    for key in [k for k in origins if k[: len(prefix)] == prefix]:
        del origins[key]


def _is_component_slot(path: tuple) -> bool:
    pattern = tuple("*" if isinstance(part, int) else part for part in path)
    return pattern in COMPONENT_SLOTS


def merge(base: Any, base_origins: Origins, child: Any, child_origins: Origins, path: tuple = ()) -> Any:
    """Deep-merge `child` over `base` (see module docstring); updates `base_origins` in place."""
    renamed_component = (
        _is_component_slot(path) and isinstance(base, dict) and isinstance(child, dict)
        and "name" in base and "name" in child and base["name"] != child["name"]
    )
    if isinstance(base, dict) and isinstance(child, dict) and not renamed_component:
        merged = dict(base)
        if path in child_origins:
            base_origins[path] = child_origins[path]  # the mapping is (also) written here: errors about it point here
        for key, value in child.items():
            sub = path + (key,)
            if key in base:
                merged[key] = merge(base[key], base_origins, value, child_origins, sub)
            else:
                merged[key] = value
                base_origins.update({k: v for k, v in child_origins.items() if k[: len(sub)] == sub})
        return merged
    _prune(base_origins, path)
    base_origins.update({k: v for k, v in child_origins.items() if k[: len(path)] == path})
    return child


def read_document(path: Path, normalise, _chain: tuple = ()) -> tuple[dict, Origins]:
    """Read a spec file with its bases merged in; `normalise(data)` expands shorthands per file."""
    path = Path(path)
    where = os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    if not path.is_file():
        raise SpecError(f"{where}: spec file not found")
    if path.resolve() in _chain:
        raise SpecError(f"{where}: base specs form a cycle: {' -> '.join(str(p) for p in _chain + (path.resolve(),))}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"{where}: cannot read spec: {error}") from None
    data, origins = parse_yaml(text, where)
    normalise(data, origins)
    bases = data.pop("base", None)
    if bases is None:
        return data, origins
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise SpecError(f"{origins[('base',)]}: base: must be a path or a list of paths, got {bases!r}")
    merged: dict = {}
    merged_origins: Origins = {}
    for name in bases:
        base_path = _resolve_base(name, path.parent, origins[("base",)])
        base_data, base_origins = read_document(base_path, normalise, _chain + (path.resolve(),))
        merged = merge(merged, merged_origins, base_data, base_origins)
    _prune(origins, ("base",))
    merged = merge(merged, merged_origins, data, origins)
    merged_origins[()] = origins[()]  # a problem with the whole spec points at this file, not a base
    return merged, merged_origins


def apply_overrides(data: dict, origins: Origins, overrides: list[str], normalise) -> dict:
    """Apply ``dotted.key=value`` overrides; values are parsed as YAML (``56``, ``true``, ``[32, 32]``)."""
    problems = []
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            problems.append(f"--set {override}: expected KEY=VALUE, e.g. --set model.depth=56")
            continue
        try:
            value = yaml.load(raw, Loader=SpecLoader)
        except yaml.YAMLError:
            value = raw
        parts: list = [int(p) if p.lstrip("-").isdigit() else p for p in key.split(".")]
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node[part] if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node) else (
                node.get(part) if isinstance(node, dict) else None
            )
            if child is None and isinstance(node, dict):
                if isinstance(parts[depth + 1], int):  # a list that is not there has no item to set
                    problems.append(f"--set {override}: unknown override path: no item {parts[depth + 1]} in '{dotted(tuple(parts[: depth + 1]))}'")
                    break
                child = node[part] = {}
            if isinstance(node, list) and not (isinstance(part, int) and -len(node) <= part < len(node)):
                problems.append(f"--set {override}: unknown override path: no item {part} in '{dotted(tuple(parts[:depth]))}'")
                break
            if not isinstance(child, (dict, list)):
                problems.append(f"--set {override}: unknown override path: '{dotted(tuple(parts[: depth + 1]))}' is not a section")
                break
            if isinstance(node, list):
                parts[depth] = part % len(node)  # data.preprocess.-1.size: record the item's own index
            node = child
        else:
            last = parts[-1]
            if isinstance(node, list):
                if not (isinstance(last, int) and -len(node) <= last < len(node)):
                    problems.append(f"--set {override}: unknown override path: no item {last} in '{dotted(tuple(parts[:-1]))}'")
                    continue
                last = last % len(node)
            node[last] = value
            full = tuple(parts[:-1]) + (last,)
            _prune(origins, full)
            _record(value, full, f"--set {override}", origins)
            for depth in range(1, len(full)):
                origins.setdefault(full[:depth], f"--set {override}")
    if problems:
        raise SpecError(problems)
    normalise(data, origins)
    return data


def _record(value, path: tuple, origin: str, origins: Origins) -> None:
    origins[path] = origin
    if isinstance(value, dict):
        for key, item in value.items():
            _record(item, path + (key,), origin, origins)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _record(item, path + (index,), origin, origins)
