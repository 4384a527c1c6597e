"""The original ``runway_for_ml.data_module.data_transforms`` names, re-exported from the pipeline.

>>> from runway_for_ml.data_module.data_transforms import HFDatasetTransform, register_transform_functor
>>> from runway_for_ml import HFDatasetTransform as Same
>>> HFDatasetTransform is Same
True
"""

from runway_for_ml.pipeline.builtin_transforms import (
    FilterRows,
    LoadHFDataset,
    RenameColumns,
    SelectColumns,
    ShuffleAndTake,
    SplitHFDataset,
)
from runway_for_ml.pipeline.tokenize import HFDatasetTokenizeTransform
from runway_for_ml.pipeline.tokenizer_training import TrainTokenizer
from runway_for_ml.pipeline.transform import BaseTransform, HFDatasetTransform, register_transform_functor

__all__ = [
    "BaseTransform",
    "FilterRows",
    "HFDatasetTokenizeTransform",
    "HFDatasetTransform",
    "LoadHFDataset",
    "RenameColumns",
    "SelectColumns",
    "ShuffleAndTake",
    "SplitHFDataset",
    "TrainTokenizer",
    "register_transform_functor",
]
