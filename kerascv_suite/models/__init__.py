"""Model families, one per file, each registered by name in `MODELS`.

Example::

    model = build_model(spec, pipeline.info)     # a keras.Model, not yet compiled
"""

import contextlib

import keras

from kerascv_suite.models import (  # noqa: F401  (registers the families)
    alexnet,
    autoencoder,
    densenet,
    efficientnet,
    gan,
    googlenet,
    knn,
    lenet,
    linear,
    mobilenet,
    resnet,
    shufflenet,
    style_network,
    transfer,
    vgg,
)
from kerascv_suite.models import backbones, fcn, localizer  # noqa: F401  (heads on the families above)
from kerascv_suite.spec import build_component
from kerascv_suite.spec.errors import UserError


def build_model(spec, info):
    """Build the spec's model for the data described by `info` (a `DataInfo`).

    A builder's ValueError (an input too small for the architecture, say) is the user's to fix,
    so it becomes a one-line `UserError` naming the model.
    """
    with dtype_policy(spec.train.precision):
        try:
            model = _build(spec, info)
        except ValueError as error:
            raise UserError(f"model '{spec.model.name}': {str(error).splitlines()[0]}") from None
        return float32_outputs(model)


@contextlib.contextmanager
def dtype_policy(name: str):
    """Build layers under Keras's `name` dtype policy (float32, mixed_float16, mixed_bfloat16)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_outputs(model: keras.Model) -> keras.Model:
    """Under mixed precision, end a functional model with a float32 cast so logits and losses stay float32.

    Softmax and cross-entropy in float16 lose the small probabilities that carry the gradient;
    one mechanism here keeps every family's last layer float32 without each family repeating it.
    """
    outputs = getattr(model, "outputs", None)
    if not outputs or all(keras.backend.standardize_dtype(o.dtype) == "float32" for o in outputs):
        return model
    if isinstance(model.output, dict):  # named outputs (a class and a box head) keep their names
        cast = {key: keras.layers.Activation("linear", dtype="float32", name=key if key not in model.output_names
                                             else f"float32_{key}")(o) for key, o in model.output.items()}
        return keras.Model(model.inputs, cast, name=model.name)
    cast = [keras.layers.Activation("linear", dtype="float32", name=f"float32_{i}")(o) for i, o in enumerate(outputs)]
    return keras.Model(model.inputs, cast[0] if len(cast) == 1 else cast, name=model.name)


def _build(spec, info):
    return build_component(
        spec.model,
        input_shape=info.input_shape,
        num_classes=info.num_classes,
        class_names=info.class_names,
        train_size=info.split_sizes["train"],
        seed=spec.train.seed,
    )


__all__ = ["build_model"]
