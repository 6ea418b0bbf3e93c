"""Data: sources (where examples come from), ops (preprocessing, augmentation) and the tf.data pipeline."""

from kerascv_suite.data.pipeline import (
    DataInfo,
    DataPipeline,
    build_dataset,
    split_indices,
)

__all__ = ["DataInfo", "DataPipeline", "build_dataset", "split_indices"]
