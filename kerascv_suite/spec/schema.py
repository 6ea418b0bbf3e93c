"""The typed spec: pydantic models for every section, and component models made from signatures.

A registered component's parameters are its signature: `component_model` turns each
function or class into a pydantic model (``name`` plus one field per annotated argument,
unknown keys forbidden), and each component slot of the spec is a union of the models of
its kind, told apart by ``name``. So a parameter a spec gives a component is checked against
the component's own signature at load time, and `kcv schema` can print a JSON Schema that
knows every component's arguments.

Arguments the library fills in from the data (`INJECTED`: input shape, class count, ...) are
not spec keys.
"""

from __future__ import annotations

import contextvars
import inspect
import json
import typing
from types import UnionType
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    TypeAdapter,
    create_model,
    field_validator,
    model_validator,
)

from kerascv_suite.registry import REGISTRIES, Component, did_you_mean

INJECTED = frozenset({"input_shape", "num_classes", "class_names", "train_size", "seed", "run_dir", "pipeline"})

# Where components sit in a spec: path pattern ("*" = every list item) → registry kind.
COMPONENT_SLOTS: dict[tuple, str] = {
    ("task",): "tasks",
    ("data", "source"): "datasets",
    ("data", "preprocess", "*"): "ops",
    ("data", "augment", "*"): "ops",
    ("model",): "models",
    ("loss",): "losses",
    ("optimizer",): "optimizers",
    ("optimizer", "learning_rate"): "schedules",
    ("train", "callbacks", "*"): "callbacks",
    ("train", "metrics", "*"): "metrics",
    ("report", "*"): "reports",
}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _signature(component) -> inspect.Signature:
    target = component.__init__ if inspect.isclass(component) else component
    signature = inspect.signature(target, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name != "self"]
    return signature.replace(parameters=params)


def _resolve(annotation):
    """Replace `Component[kind]` markers inside an annotation with that kind's union."""
    if isinstance(annotation, type) and issubclass(annotation, Component):
        return component_union(annotation.kind)
    origin = typing.get_origin(annotation)
    if origin in (Union, UnionType):
        return Union[tuple(_resolve(a) for a in typing.get_args(annotation))]
    if origin is list:
        return list[_resolve(typing.get_args(annotation)[0])]
    return annotation


_COMPONENT_MODELS: dict[tuple, type[BaseModel]] = {}


def component_model(kind: str, name: str) -> type[BaseModel]:
    """A pydantic model of one registered component: `name` plus its signature's arguments.

    Cached per component, so specs validated at different times share their classes (and
    compare equal, and a default value is an instance of its field's own class).
    """
    component = REGISTRIES[kind].get(name)
    key = (kind, name, component)
    if key not in _COMPONENT_MODELS:
        _COMPONENT_MODELS[key] = _component_model(kind, name, component)
    return _COMPONENT_MODELS[key]


def _component_model(kind: str, name: str, component) -> type[BaseModel]:
    fields: dict[str, Any] = {"name": (Literal[name], ...)}
    for param in _signature(component).parameters.values():
        if param.name in INJECTED or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = Any if param.annotation is inspect.Parameter.empty else _resolve(param.annotation)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model = create_model(
        f"{kind}.{name}",
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=(), validate_default=True),
        __doc__=REGISTRIES[kind].summary(name),
        **fields,
    )
    model.__component_kind__ = kind
    return model


def component_union(kind: str):
    """The union of every component of `kind`, discriminated by `name`."""
    models = tuple(component_model(kind, name) for name in REGISTRIES[kind].names())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="name")]


def _component(kind: str, name: str):
    """A default value for a component slot."""
    return Field(default_factory=lambda: TypeAdapter(component_union(kind)).validate_python({"name": name}))


class Splits(Section):
    """Fractions of the source's examples in each split; seeded, stratified by class."""

    train: float = 0.7
    val: float = 0.15
    test: float = 0.15

    @model_validator(mode="after")
    def _check_fractions(self):
        values = {"train": self.train, "val": self.val, "test": self.test}
        bad = [f"{k}={v}" for k, v in values.items() if not 0 <= v < 1]
        if bad or self.train == 0 or self.test == 0 or abs(sum(values.values()) - 1) > 1e-6:
            raise ValueError(
                f"split fractions must each be in [0, 1), train and test above 0, and sum to 1; "
                f"got train={self.train}, val={self.val}, test={self.test} (sum {sum(values.values()):g})"
            )
        return self


_SPEC_MODELS: dict[tuple, type[BaseModel]] = {}


class TFLiteSpec(Section):
    """A TFLite file for phones, run in LiteRT on the test split before it is accepted."""

    quantization: Literal["none", "dynamic", "float16", "int8", "int8_full"] = Field(
        "none", description="int8 keeps float fallback ops; int8_full is integer-only with uint8 input and output"
    )
    min_agreement: Optional[float] = Field(
        None, ge=0, le=1, description="least top-1 agreement with the Keras model (default 0.999 for none/float16, else 0.98)"
    )
    calibration_examples: PositiveInt = Field(200, description="training images for the int8 representative dataset")
    per_channel: bool = Field(
        True, description="int8 weight scales per output channel; false: one per tensor, a smaller file (agreement is still checked)"
    )


# The other sections of the spec being validated, resolved, while its `search` section is
# validated: a search parameter's path is checked against them (see `Spec._search_paths_exist`).
_RESOLVED_SECTIONS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("resolved_sections", default=None)
_UNCHECKED = object()  # a section that failed its own validation: its problems are reported already


def _resolved_sections(spec_model: type[BaseModel], validated: dict) -> dict:
    """The sections validated so far as plain data; the ones that failed are `_UNCHECKED`."""
    sections = {}
    for name in spec_model.model_fields:
        if name == "search":
            continue
        value = validated.get(name, _UNCHECKED)
        sections[name] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return sections


def _check_search_path(path: str) -> str:
    """A search parameter's dotted path (as in ``--set``) must name a key of the resolved spec."""
    node = _RESOLVED_SECTIONS.get()
    if node is None:  # a SearchSpec validated on its own has no spec to check against
        return path
    walked: list[str] = []
    for part in path.split("."):
        where = ".".join(walked) or "the spec"
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            allowed = sorted(node)
            raise ValueError(f"no key '{part}' in {where}{did_you_mean(part, allowed)}; allowed: {', '.join(allowed)}")
        elif isinstance(node, list):
            indices = f"an index from 0 to {len(node) - 1}" if node else "no index: it is empty"
            raise ValueError(f"{where} is a list with {len(node)} item(s), no item '{part}' ({indices})")
        else:
            raise ValueError(f"{where} is a value, not a section with key '{part}'")
        if node is _UNCHECKED:
            return path
        walked.append(part)
    return path


def _is_none(value) -> bool:
    return value is None  # keys a search section leaves out stay out of dumps (and specs without one dump as before)


def _is_empty(value) -> bool:
    return not value  # an empty report list stays out of dumps, so specs without one dump (and hash) as before


class AdversarialTraining(Section):
    """Train on adversarial examples of each batch, made in the train step against the current weights (Madry et al., 2018).

    Each step perturbs the batch inside the L∞ ε-ball around it (in the units of the model's
    preprocessed input), then minimises clean_weight·loss(x) + (1 − clean_weight)·loss(x_adv).
    The test split is also attacked once at the end; metrics.json reports clean and adversarial
    accuracy side by side. Example: ``adversarial: {method: pgd, epsilon: 0.1, steps: 7}``.
    """

    method: Literal["fgsm", "pgd"] = Field("pgd", description="fgsm: one step of ε; pgd: `steps` projected steps of step_size from a random start")
    epsilon: PositiveFloat = Field(description="the L∞ budget, in the units of the preprocessed input (0.1 = 10% of the range after rescale)")
    steps: PositiveInt = Field(7, description="pgd: iterations, one gradient each")
    step_size: Optional[PositiveFloat] = Field(None, description="pgd: the step of each iteration (default: 2.5·ε/steps)")
    random_start: bool = Field(True, description="pgd: start from a uniform point of the ε-ball rather than from x")
    clean_weight: float = Field(0.0, ge=0.0, le=1.0, description="share of the clean loss (0: adversarial only, Madry; 0.5: Goodfellow's mix)")
    value_range: Optional[tuple[float, float]] = Field((0.0, 1.0), description="the range the preprocessed inputs can take (clipped to); null: no clipping")


class SearchParameter(Section):
    """The values one spec key takes in a search: a float or int range, or a list of choices.

    Example (YAML)::

        optimizer.learning_rate: {type: float, min: 1.0e-4, max: 1.0e-1, sampling: log}
        model.dropout: {type: float, min: 0.0, max: 0.5, step: 0.1}
        model.hidden: {type: choice, values: [[64], [128, 64]]}
    """

    type: Literal["float", "int", "choice"] = Field(description="float or int: a range from min to max; choice: one of values")
    min: Optional[Union[int, float]] = Field(None, exclude_if=_is_none, description="float/int: the lowest value")
    max: Optional[Union[int, float]] = Field(None, exclude_if=_is_none, description="float/int: the highest value (included)")
    sampling: Literal["linear", "log"] = Field(
        "linear", description="log: uniform in log(value), for scales such as learning rates and weight decay"
    )
    step: Optional[PositiveFloat] = Field(
        None, exclude_if=_is_none, description="float/int: spacing of the allowed values, added (linear) or multiplied (log, above 1); int: default 1"
    )
    values: Optional[list[Any]] = Field(None, exclude_if=_is_none, description="choice: the values, any YAML (numbers, strings, lists, mappings)")

    @model_validator(mode="after")
    def _check_range(self):
        if self.type == "choice":
            given = [key for key in ("min", "max", "step") if getattr(self, key) is not None]
            if given or self.sampling != "linear":
                raise ValueError(f"a choice takes values, not {', '.join(given or ['sampling'])}")
            if not self.values:
                raise ValueError("a choice needs at least one value")
            if len({json.dumps(v, sort_keys=True, default=str) for v in self.values}) < len(self.values):
                raise ValueError("a choice lists a value twice")
            return self
        if self.values is not None:
            raise ValueError(f"a {self.type} range takes min and max, not values (or use type: choice)")
        if self.min is None or self.max is None:
            raise ValueError(f"a {self.type} range needs min and max")
        if self.type == "int" and not all(float(v).is_integer() for v in (self.min, self.max, self.step or 1)):
            raise ValueError("an int range needs whole-number min, max and step")
        if self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        if self.sampling == "log" and self.min <= 0:
            raise ValueError(f"log sampling needs min above 0, got min {self.min:g}")
        if self.sampling == "log" and self.step is not None and self.step <= 1:
            raise ValueError(f"with log sampling the step multiplies, so it must be above 1, got step {self.step:g}")
        return self

    @property
    def discrete(self) -> bool:
        """Whether the values are a finite list (all but a float range without a step)."""
        return self.type != "float" or self.step is not None


class SearchSpec(Section):
    """A hyperparameter search over this spec's values (`kcv tune`), run by keras-tuner.

    Each trial trains the spec with its parameters set at their dotted paths, as ``--set``
    would, and is scored by the best epoch's value of `objective` — with `folds`, by the mean
    of that value over the k folds (k trainings per trial).
    """

    parameters: dict[Annotated[str, AfterValidator(_check_search_path)], SearchParameter] = Field(
        min_length=1, description="dotted spec path (as in --set, e.g. optimizer.learning_rate) → the values it takes"
    )
    strategy: Literal["random", "grid", "bayesian", "hyperband"] = Field(
        "random", description="how trials are chosen: keras-tuner's RandomSearch, GridSearch, BayesianOptimization or Hyperband oracle"
    )
    objective: str = Field(
        "val_loss", description="a Keras log key (val_loss, val_accuracy, loss, ...); a trial scores its best epoch's value"
    )
    direction: Literal["auto", "min", "max"] = Field(
        "auto", description="auto: min when the objective names a loss or an error, else max"
    )
    trials: PositiveInt = Field(
        10, description="most trials (random, grid, bayesian; grid also stops when every combination ran); hyperband ignores it"
    )
    max_epochs: Optional[PositiveInt] = Field(None, description="hyperband: the most epochs one model trains (default train.epochs)")
    factor: int = Field(3, ge=2, description="hyperband: each round keeps the best 1/factor of the models and trains them factor× longer")
    seed: NonNegativeInt = Field(0, description="seed of the strategy's sampling (each trial trains with train.seed)")
    folds: Optional[int] = Field(
        None, ge=2, exclude_if=_is_none,
        description="k-fold cross-validation for small data: each trial trains k times, validating on one of k seeded, "
                    "stratified folds of the training split (the same for every trial) and training on the others, and "
                    "scores the mean of the k objectives; the val split is set aside and the test split untouched",
    )

    # `strategy` follows `parameters` so that this check can see them and report on the one key.
    @field_validator("strategy")
    @classmethod
    def _grid_needs_discrete_values(cls, strategy, info):
        continuous = [path for path, p in (info.data.get("parameters") or {}).items() if not p.discrete]
        if strategy == "grid" and continuous:
            raise ValueError(
                f"grid search needs discrete parameters, and {', '.join(continuous)} "
                f"{'is a float range' if len(continuous) == 1 else 'are float ranges'} without a step: "
                f"give a step or use type: choice"
            )
        return strategy

    @property
    def minimize(self) -> bool:
        """Whether a lower objective is better."""
        if self.direction != "auto":
            return self.direction == "min"
        name = self.objective.lower()
        return "loss" in name or "error" in name


def build_spec_model() -> type[BaseModel]:
    """Build the `Spec` model from the registries as they are now (plugins included).

    Cached while the registries stay the same, so two specs loaded from equal text are equal.
    """
    key = tuple((kind, tuple((name, registry.get(name)) for name in registry.names())) for kind, registry in REGISTRIES.items())
    if key not in _SPEC_MODELS:
        _SPEC_MODELS[key] = _build_spec_model()
    return _SPEC_MODELS[key]


def _build_spec_model() -> type[BaseModel]:
    Source = component_union("datasets")
    Op = component_union("ops")

    class DataSpec(Section):
        """Where examples come from and how they become batches."""

        source: Source = _component("datasets", "digits")
        splits: Splits = Field(default_factory=Splits)
        seed: int = Field(0, description="seed of the train/val/test split and of shuffling")
        batch_size: PositiveInt = 64
        preprocess: list[Op] = Field(default_factory=list, description="ops applied to every split, in order")
        augment: list[Op] = Field(default_factory=list, description="random ops applied to training batches only")
        shuffle_buffer: PositiveInt = 10000
        cache: bool = Field(True, description="cache preprocessed examples in memory")
        drop_remainder: bool = Field(True, description="drop the last partial training batch (static shapes)")
        train_examples_per_class: Optional[PositiveInt] = Field(
            None, description="keep only the first N training examples of each class (few-label experiments); val and test stay whole"
        )

    class TrainSpec(Section):
        """How `model.fit` runs."""

        epochs: PositiveInt = 10
        seed: int = 0
        jit_compile: Literal["auto"] | bool = Field("auto", description="auto: XLA only when a GPU is visible")
        distribution: Literal["auto", "mirrored", "multi_worker"] = "auto"
        precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
            "float32", description="Keras dtype policy; mixed_float16 adds loss scaling, outputs stay float32"
        )
        callbacks: list[component_union("callbacks")] = Field(default_factory=list)
        metrics: list[component_union("metrics")] = Field(default_factory=list)
        monitor: str = Field("val_loss", description="quantity the best checkpoint is chosen by")
        steps_per_epoch: Optional[PositiveInt] = None
        adversarial: Optional[AdversarialTraining] = Field(
            None, exclude_if=_is_none, description="adversarial training (specs without it dump as before)"
        )

    class ExportSpec(Section):
        """What the run writes for use outside the library (also `kcv export RUN_DIR`)."""

        keras: bool = Field(True, description="write model.keras (the trained model) into the run folder")
        savedmodel: bool = Field(False, description="write a SavedModel for TF Serving to <directory>/<name>/<version>/")
        directory: str = Field("savedmodels", description="TF Serving base folder (relative to the working folder)")
        version: Optional[PositiveInt] = Field(None, description="SavedModel version (default: the next free number)")
        tflite: Optional[TFLiteSpec] = Field(None, description="also write a TFLite file, checked in LiteRT")

    class Spec(Section):
        """A whole pipeline: data → model → training → evaluation → export."""

        name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="run name; runs go to runs/<name>/")
        task: component_union("tasks") = _component("tasks", "classification")
        data: DataSpec = Field(default_factory=DataSpec)
        model: component_union("models")
        loss: Optional[component_union("losses")] = Field(None, description="default: the task's loss")
        optimizer: component_union("optimizers") = _component("optimizers", "adam")
        train: TrainSpec = Field(default_factory=TrainSpec)
        export: ExportSpec = Field(default_factory=ExportSpec)
        report: list[component_union("reports")] = Field(
            default_factory=list, exclude_if=_is_empty,
            description="pictures of the trained model written into <run>/report/ after training (`kcv run`, `kcv report`)",
        )
        # Keep `search` the last field: its paths are checked against the sections validated before it.
        search: Optional[SearchSpec] = Field(
            None, exclude_if=_is_none,
            description="a hyperparameter search over this spec's values (`kcv tune`); specs without one dump without it",
        )

        @field_validator("search", mode="wrap")
        @classmethod
        def _search_paths_exist(cls, value, handler, info):
            token = _RESOLVED_SECTIONS.set(_resolved_sections(cls, info.data))
            try:
                return handler(value)
            finally:
                _RESOLVED_SECTIONS.reset(token)

    return Spec
