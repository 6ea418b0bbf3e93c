"""Model families, one per file, each registered by name in `MODELS`.

Example::

    model = build_model(spec, pipeline.info)     # a keras.Model, not yet compiled
"""

from kerascv_suite.models import knn, lenet, linear  # noqa: F401  (registers the families)
from kerascv_suite.spec import build_component
from kerascv_suite.spec.errors import UserError


def build_model(spec, info):
    """Build the spec's model for the data described by `info` (a `DataInfo`).

    A builder's ValueError (an input too small for the architecture, say) is the user's to fix,
    so it becomes a one-line `UserError` naming the model.
    """
    try:
        return _build(spec, info)
    except ValueError as error:
        raise UserError(f"model '{spec.model.name}': {str(error).splitlines()[0]}") from None


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
