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



# Plain `keras.saving.load_model` finds the library's classes in a .keras file (see keras_loading.py):
# when Keras imports its object_registration module, `keras_loading.make_lazy` runs right after it.
# The hook lives here, not in keras_loading, so that `import kerascv_suite` loads no second module.
_KERAS_REGISTRATION = "keras.src.saving.object_registration"


class _KerasRegistrationLoader:
    """Runs Keras's object_registration module with its own loader, then makes its custom-object dict lazy."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        from kerascv_suite.keras_loading import make_lazy

        make_lazy(module)

    def __getattr__(self, name):  # get_source, get_filename, ...: the wrapped loader's
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)


class _KerasRegistrationFinder:
    """A one-shot meta-path finder that gives Keras's object_registration module the loader above."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _KERAS_REGISTRATION:
            return None
        import sys

        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _KerasRegistrationLoader(spec.loader)
                return spec
        return None


def _install_keras_registration_hook():
    import sys

    if _KERAS_REGISTRATION in sys.modules:
        from kerascv_suite.keras_loading import make_lazy

        make_lazy(sys.modules[_KERAS_REGISTRATION])
    elif not any(isinstance(finder, _KerasRegistrationFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasRegistrationFinder())


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
