"""kerascv_suite: declarative computer vision on TensorFlow/Keras 3.

A YAML spec becomes a tf.data pipeline, a Keras model, a `model.fit` run and a run folder;
every piece is a plain Keras/TensorFlow object you can take into your own script::

    import kerascv_suite as kcv
    spec = kcv.load_spec("pipelines/classification/lenet5.yaml")
    train_ds = kcv.build_dataset(spec, "train")      # a tf.data.Dataset
    model = kcv.build_model(spec)                      # a compiled keras.Model
    model.fit(train_ds, epochs=3)
    kcv.export_savedmodel(model, spec, "savedmodels")  # TF Serving layout, checked in a fresh process

Names are imported on first use, so `import kerascv_suite` stays cheap.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "load_spec": ("kerascv_suite.spec", "load_spec"),
    "SpecError": ("kerascv_suite.spec.errors", "SpecError"),
    "build_dataset": ("kerascv_suite.data.pipeline", "build_dataset"),
    "DataPipeline": ("kerascv_suite.data.pipeline", "DataPipeline"),
    "train": ("kerascv_suite.training.trainer", "train"),
    "export_savedmodel": ("kerascv_suite.export.api", "export_savedmodel"),
    "export_tflite": ("kerascv_suite.export.api", "export_tflite"),
}



# Plain `keras.saving.load_model` finds the library's classes in a .keras file (core/keras_loading.py):
# the hook makes Keras's custom-object lookup import the module that defines a missing name.
from kerascv_suite.core.compat import install_keras_registration_hook as _install_keras_registration_hook  # noqa: E402

_install_keras_registration_hook()


def build_model(spec, info=None):
    """The spec's model, compiled (loss, metrics, optimizer from the spec) and ready for `fit`."""
    from kerascv_suite.data.pipeline import DataPipeline
    from kerascv_suite.training.trainer import compile_model

    return compile_model(spec, info or DataPipeline(spec).info)[0]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        module, attribute = _EXPORTS[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'kerascv_suite' has no attribute {name!r}")


__all__ = ["build_model", *_EXPORTS]
