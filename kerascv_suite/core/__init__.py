"""The lowest layer: what every other part of the library may use, and which uses none of them.

- `runs`: run folders (create, find the unfinished one, check a resume), a finished run's saved
  model, and `write_atomic`, the one atomic file write (text or bytes).
- `compat`: every private Keras/TensorFlow API the library touches, with `check()` against the
  verified versions (a canary test runs it).
- `keras_loading`: plain `keras.saving.load_model` finds the library's classes (the lookup that
  `compat`'s import hook installs).

Nothing here imports another kerascv_suite subpackage except the error type in spec/errors.py;
tests/test_layering.py keeps the import order.
"""
