"""Tasks: what a model predicts, how it is compiled, and what a run reports about it."""

from kerascv_suite.tasks import classification, generative, localization, segmentation  # noqa: F401  (registers the tasks)
