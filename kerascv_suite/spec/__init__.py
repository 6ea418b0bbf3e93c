"""Load, validate, show and save specs.

Example::

    spec = load_spec("pipelines/classification/lenet5.yaml", overrides=["train.epochs=3"])
    spec.model.name            # 'lenet5'
    print(show_spec(spec))     # every resolved value with the file:line, --set or default it came from
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from kerascv_suite.registry import (
    REGISTRIES,
    did_you_mean,
    is_import_path,
    load_components,
)
from kerascv_suite.spec.documents import (
    Origins,
    apply_overrides,
    dotted,
    parse_yaml,
    read_document,
)
from kerascv_suite.spec.errors import SpecError
from kerascv_suite.spec.schema import COMPONENT_SLOTS, INJECTED, build_spec_model

__all__ = ["SpecError", "load_spec", "validate_spec", "show_spec", "dump_spec", "spec_hash", "spec_schema"]

DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "specs" / "lenet5_digits.yaml"


def _slots(data: Any, pattern: tuple, path: tuple = ()):
    """Yield (path, container, key) for every place in `data` matching a COMPONENT_SLOTS pattern."""
    if not pattern:
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        keys = range(len(data)) if isinstance(data, list) else []
    else:
        keys = [head] if isinstance(data, dict) and head in data else []
    for key in keys:
        if rest:
            yield from _slots(data[key], rest, path + (key,))
        else:
            yield path + (key,), data, key


def normalise(data: dict, origins: Origins) -> None:
    """Expand component shorthands in place: ``model: lenet5`` means ``model: {name: lenet5}``."""
    for pattern in COMPONENT_SLOTS:
        for path, container, key in _slots(data, pattern):
            if isinstance(container[key], str):
                container[key] = {"name": container[key]}
                if path in origins:
                    origins[path + ("name",)] = origins[path]


def _register_import_paths(data: dict, origins: Origins, allow_imports: bool) -> tuple[list[str], list[tuple]]:
    """Register the import paths a spec names; return the problems and the refused slots."""
    problems, refused = [], []
    for pattern, kind in COMPONENT_SLOTS.items():
        for path, container, key in _slots(data, pattern):
            name = container[key].get("name") if isinstance(container[key], dict) else None
            if isinstance(name, str) and is_import_path(name):
                where = origins.get(path + ("name",), origins.get(path, "spec"))
                if not allow_imports:
                    problems.append(
                        f"{where}: {dotted(path + ('name',))}: '{name}' is an import path; "
                        f"a spec may run code from imports only with --allow-imports"
                    )
                    refused.append(path)
                    continue
                try:
                    REGISTRIES[kind].register_import_path(name)
                except KeyError as error:
                    problems.append(f"{where}: {dotted(path + ('name',))}: {error}")
                    refused.append(path)
    return problems, refused


def _user_path(data: Any, loc: tuple, missing: bool = False) -> tuple[tuple, tuple | None]:
    """Map a pydantic error location to the spec's own key path.

    Drops the discriminator tags pydantic adds for a component and the labels of union
    members ('bool', "literal['auto']", 'tagged-union[...]'): neither is a key of the spec.
    Returns the path and, when a union member's label was dropped, the path of that union.
    """
    path, node, union_at = [], data, None
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and node.get("name") == part:
            continue  # the discriminator tag pydantic adds for a component
        elif missing and index == len(loc) - 1:
            path.append(part)  # the required key that is missing
            node = None
        else:
            union_at = tuple(path) if union_at is None else union_at
    return tuple(path), union_at


_MAPPING_ERRORS = ("model_type", "dict_type", "model_attributes_type")


def _relevant(errors: list[dict], data: dict) -> list[tuple[dict, tuple]]:
    """Pair each error with its user path, dropping union members that don't fit the input's shape.

    ``learning_rate: {name: cosine_decay}`` fails both as a number and as a schedule; only the
    schedule's complaint helps. ``learning_rate: -1`` fails both too; only the number's helps.
    """
    mapped = []
    for error in errors:
        path, union_at = _user_path(data, tuple(error["loc"]), error["type"] == "missing")
        noise = False
        if union_at is not None:
            if isinstance(_get(data, union_at), dict):
                noise = path == union_at and error["type"] not in _MAPPING_ERRORS and not error["type"].startswith("union_tag")
            else:
                noise = error["type"] in _MAPPING_ERRORS
        mapped.append((error, path, union_at, noise))
    return [
        (error, path) for error, path, union_at, noise in mapped
        if not (noise and any(m[2] == union_at and not m[3] for m in mapped))
    ]


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part] if _has(data, part) else None
    return data


def _model_at(spec_model: type[BaseModel], data: Any, path: tuple) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `path` (to list its allowed keys)."""
    import typing

    types = [spec_model]
    node = data
    for part in path:
        next_types = []
        for tp in _flatten(types):
            if isinstance(part, int) and typing.get_origin(tp) is list:
                next_types.append(typing.get_args(tp)[0])
            elif isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
                next_types.append(tp.model_fields[part].annotation)
        node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None
        types = next_types
        if isinstance(node, dict) and "name" in node:
            named = [t for t in _flatten(types) if _tag(t) == node["name"]]
            types = named or types
    models = [t for t in _flatten(types) if isinstance(t, type) and issubclass(t, BaseModel)]
    return models[0] if len(models) == 1 else None


def _has(node, part) -> bool:
    return (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int) and part < len(node))


def _tag(tp) -> str | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel) and "name" in tp.model_fields:
        args = getattr(tp.model_fields["name"].annotation, "__args__", ())
        return args[0] if args else None
    return None


def _flatten(types):
    import typing

    out = []
    for tp in types:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            out.extend(_flatten([typing.get_args(tp)[0]]))
        elif origin is typing.Union or type(tp).__name__ == "UnionType":
            out.extend(_flatten(typing.get_args(tp)))
        else:
            out.append(tp)
    return out


def _where(origins: Origins, path: tuple) -> str:
    for depth in range(len(path), -1, -1):
        if path[:depth] in origins:
            return origins[path[:depth]]
    return "spec"


def _format_error(error: dict, path: tuple, data: dict, origins: Origins, spec_model) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    key = dotted(path) or "spec"
    if kind == "extra_forbidden":
        model = _model_at(spec_model, data, path[:-1])
        allowed = sorted(model.model_fields) if model else []
        owner = _component_label(model)
        message = f"unknown key '{path[-1]}'{owner}{did_you_mean(path[-1], allowed)}; allowed: {', '.join(allowed)}"
    elif kind in ("union_tag_invalid", "literal_error") and path and (path[-1] == "name" or kind == "union_tag_invalid"):
        slot = path if kind == "union_tag_invalid" else path[:-1]
        pattern = tuple("*" if isinstance(p, int) else p for p in slot)
        registry = REGISTRIES.get(COMPONENT_SLOTS.get(pattern, ""))
        name = ctx.get("tag", value)
        if registry is None:
            message = f"{value!r} is not allowed: {error['msg']}"
        else:
            message = f"unknown {registry.kind[:-1]} '{name}'{did_you_mean(name, registry.names())}; allowed: {', '.join(registry.names())}"
        key = dotted(slot + ("name",))
        path = slot + ("name",)
    elif kind == "union_tag_not_found":
        message = "a component needs a 'name'"
    elif kind == "missing":
        model = _model_at(spec_model, data, path[:-1])
        message = f"required key '{path[-1]}'{_component_label(model)} is missing"
    elif kind == "path_not_directory":
        message = f"directory not found: {value}"
    elif kind == "path_not_file":
        message = f"file not found: {value}"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        message = f"expected a mapping of keys, got {value!r}"
    elif isinstance(value, dict) and _created_by_override(origins.get(path, ""), path):
        message = f"unknown override path: '{key}' is not a section"
    else:
        message = f"{value!r} is not allowed: {error['msg'].removeprefix('Value error, ')}"
    return f"{_where(origins, path)}: {key}: {message}"


def _created_by_override(origin: str, path: tuple) -> bool:
    """Whether `--set a.b.c=1` made the mapping at `path` (a.b) because nothing was there."""
    if not origin.startswith("--set "):
        return False
    key = origin[len("--set "):].partition("=")[0]
    return len(key.split(".")) > len(path)


def _merge_alternatives(problems: list[str]) -> list[str]:
    """One line per value: "'x' is not allowed: A" and "...: B" become "...: A, or B"."""
    merged: dict[str, str] = {}
    for line in problems:
        head, sep, reason = line.partition(" is not allowed: ")
        if sep and head in merged and reason not in merged[head]:
            merged[head] += f", or {reason}"
        else:
            merged.setdefault(head if sep else line, line)
    return list(merged.values())


def _component_label(model) -> str:
    kind = getattr(model, "__component_kind__", None)
    return f" of {kind[:-1]} '{_tag(model)}'" if kind else ""


def _feature_problems(spec, origins: Origins) -> list[str]:
    """A task that needs example features (boxes, masks, ...) the spec's data source does not provide: one line."""
    from kerascv_suite.data.examples import missing_features, provides

    task = REGISTRIES["tasks"].get(spec.task.name)
    source = REGISTRIES["datasets"].get(spec.data.source.name)
    missing = missing_features(getattr(task, "requires", ()), provides(source))
    if not missing:
        return []
    return [f"{_where(origins, ('task',))}: task: task '{spec.task.name}' needs the example features "
            f"{', '.join(missing)}, which data source '{spec.data.source.name}' does not provide (it provides "
            f"{', '.join(sorted(provides(source)))}); choose a source that does, e.g. shapes or coco"]


def validate_spec(data: dict, origins: Origins | None = None, allow_imports: bool = False, path: str | None = None):
    """Validate a merged spec mapping into a typed Spec, reporting every problem at once."""
    load_components()
    origins = origins or {}
    normalise(data, origins)
    problems, refused = _register_import_paths(data, origins, allow_imports)
    spec_model = build_spec_model()
    try:
        spec = spec_model.model_validate(data)
    except ValidationError as error:
        problems += _merge_alternatives([
            _format_error(e, path, data, origins, spec_model)
            for e, path in _relevant(error.errors(), data)
            if not any(path[: len(slot)] == slot for slot in refused)
        ])
    else:
        problems += _feature_problems(spec, origins)
    if problems:
        raise SpecError(sorted(set(problems), key=problems.index))
    spec.__dict__["_origins"] = origins
    spec.__dict__["_path"] = path
    return spec


def load_spec(path: str | Path | None = None, overrides: list[str] = (), allow_imports: bool = False):
    """Read, merge, override and validate a spec file (default: the packaged LeNet-5 pipeline)."""
    path = Path(path) if path is not None else DEFAULT_SPEC
    data, origins = read_document(path, normalise)
    data = apply_overrides(data, origins, list(overrides), normalise)
    return validate_spec(data, origins, allow_imports=allow_imports, path=str(path))


def resolved(spec) -> dict:
    """The spec as plain JSON-compatible data, every default filled in."""
    return spec.model_dump(mode="json")


def dump_spec(spec) -> str:
    """The resolved spec as YAML text; loading it back gives an equal spec."""
    return yaml.safe_dump(resolved(spec), sort_keys=False)


def spec_hash(spec) -> str:
    """A short hash of the resolved spec: equal specs, equal hashes."""
    return hashlib.sha256(json.dumps(resolved(spec), sort_keys=True).encode()).hexdigest()[:16]


def load_resolved(text: str, where: str):
    """Load a spec written by `dump_spec` (e.g. a run folder's spec.yaml)."""
    data, origins = parse_yaml(text, where)
    return validate_spec(data, origins, allow_imports=True, path=where)


def origin_of(spec, path: tuple) -> str:
    """Where the value at `path` came from: 'file:line', '--set ...', or 'default'."""
    origins = spec.__dict__.get("_origins", {})
    # Every value a file or a --set gave is recorded (a --set's whole value included); anything
    # else was filled in by the schema, even beneath a section a --set created.
    return origins.get(path, "default")


def show_spec(spec) -> str:
    """Render the resolved spec as YAML with each value's origin as a trailing comment."""
    lines: list[tuple[str, str]] = []

    def emit(value, path: tuple, indent: int, prefix: str):
        pad = "  " * indent
        if isinstance(value, dict) and value:
            if prefix:
                lines.append((f"{pad}{prefix}", ""))
            for key, item in value.items():
                emit(item, path + (key,), indent + (1 if prefix else 0), f"{key}:")
        elif isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
            lines.append((f"{pad}{prefix}", origin_of(spec, path)))
            for index, item in enumerate(value):
                body = {k: v for k, v in item.items()} if isinstance(item, dict) else item
                emit(body, path + (index,), indent + 1, "-")
        else:
            text = json.dumps(value)
            lines.append((f"{pad}{prefix} {text}", origin_of(spec, path)))

    emit(resolved(spec), (), 0, "")
    width = max(len(text) for text, _ in lines) + 2
    return "\n".join(f"{text:<{width}}# {origin}" if origin else text for text, origin in lines)


def spec_schema() -> dict:
    """The JSON Schema of specs, every registered component included (for editors)."""
    load_components()
    return build_spec_model().model_json_schema()


def build_component(spec_component, **available):
    """Call a validated component's registered builder with its spec parameters.

    Nested components (a schedule given as an optimizer's learning rate, a backbone given to a
    detector) are built first; arguments named in `available` (input_shape, num_classes, seed,
    ...) are passed to the builders whose signatures ask for them, nested ones included.
    """
    kind = type(spec_component).__component_kind__
    builder = REGISTRIES[kind].get(spec_component.name)
    params = {}
    for key in type(spec_component).model_fields:
        value = getattr(spec_component, key)
        if key != "name":
            params[key] = build_component(value, **available) if hasattr(type(value), "__component_kind__") else value
    wanted = inspect.signature(builder.__init__ if inspect.isclass(builder) else builder).parameters
    params.update({k: v for k, v in available.items() if k in wanted and k in INJECTED})
    return builder(**params)


__all__ += ["DEFAULT_SPEC", "resolved", "load_resolved", "origin_of", "build_component", "INJECTED"]
