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

import inspect
import typing
from types import UnionType
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    TypeAdapter,
    create_model,
    model_validator,
)

from kerascv_suite.registry import REGISTRIES, Component

INJECTED = frozenset({"input_shape", "num_classes", "class_names", "train_size", "seed", "run_dir"})

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

    return Spec
