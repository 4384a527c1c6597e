"""The original ``runway_for_ml.data_module.data_transforms`` names, re-exported from the pipeline.

>>> from runway_for_ml.data_module.data_transforms import HFDatasetTransform, register_transform_functor
>>> from runway_for_ml import HFDatasetTransform as Same
>>> HFDatasetTransform is Same
True

Three names of the original that have no twin in the pipeline are defined here, with the original's
behaviour: :class:`DummyTransform` (passes its input through), :func:`keep_ds_columns` and
:class:`SplitHFDatasetToTrainTestValidation` (the original's two-step split, so that a migrated
config gets the same rows). They are not registered by name (a project may define its own
``DummyTransform``); a config names them by dotted path, which is what ``runway migrate`` writes::

    transform_name: 'runway_for_ml.data_module.data_transforms.SplitHFDatasetToTrainTestValidation'

The original's other names (``RowWiseTransform``, ``register_transform``, ``GetEvaluationRecorder`` ...)
raise an ImportError naming their new home (:mod:`runway_for_ml.original_paths`).
"""

from collections.abc import Iterable, Mapping
from typing import Any

from runway_for_ml.original_paths import module_getattr
from runway_for_ml.pipeline.builtin_transforms import (
    FilterRows,
    LoadHFDataset,
    RenameColumns,
    SelectColumns,
    ShuffleAndTake,
    SplitHFDataset,
)
from runway_for_ml.pipeline.datatypes import is_dataset_dict
from runway_for_ml.pipeline.tokenize import HFDatasetTokenizeTransform
from runway_for_ml.pipeline.tokenizer_training import TrainTokenizer
from runway_for_ml.pipeline.transform import BaseTransform, HFDatasetTransform, register_transform_functor

__all__ = [
    "BaseTransform",
    "DummyTransform",
    "FilterRows",
    "HFDatasetTokenizeTransform",
    "HFDatasetTransform",
    "LoadHFDataset",
    "RenameColumns",
    "SelectColumns",
    "ShuffleAndTake",
    "SplitHFDataset",
    "SplitHFDatasetToTrainTestValidation",
    "TrainTokenizer",
    "keep_ds_columns",
    "register_transform_functor",
]


def keep_ds_columns(ds: Any, keep_cols: Iterable[str]) -> Any:
    """``ds`` without the columns not in ``keep_cols`` (the kept ones stay in their order).

    >>> import datasets
    >>> keep_ds_columns(datasets.Dataset.from_dict({"a": [1], "b": [2], "c": [3]}), ["c", "a"]).column_names
    ['a', 'c']
    """
    keep = set(keep_cols)
    return ds.remove_columns([c for c in ds.column_names if c not in keep])


class DummyTransform(BaseTransform):
    """Returns its input unchanged (a placeholder node, as in the original framework)."""

    def setup(self) -> None:
        pass

    def _call(self, data: Any) -> Any:
        return data


class SplitHFDatasetToTrainTestValidation(HFDatasetTransform):
    """The original framework's split, step for step, so that the same rows land in the same splits.

    The ``train`` split of the input is cut once into train and a held-out part of
    ``test_size + valid_size``; the held-out part is cut again, ``valid_size / (test_size + valid_size)``
    of it becoming ``validation`` and the rest ``test``. Both cuts are ``Dataset.train_test_split``
    with ``train_test_split_kwargs`` (``seed``, ``shuffle``, ``stratify_by_column`` ... unchanged).
    Without ``valid_size`` the output has train and test only (the original stopped with an error).
    The native transform is ``SplitHFDataset``, which cuts differently (other rows in each split).
    """

    def setup(
        self,
        test_size: float | int,
        train_test_split_kwargs: Mapping[str, Any] | None = None,
        valid_size: float | int | None = None,
    ) -> None:
        self.test_size = test_size
        self.valid_size = valid_size
        self.train_test_split_kwargs = dict(train_test_split_kwargs or {})

    def _call(self, data: Any) -> Any:
        import datasets

        source = data["train"] if is_dataset_dict(data) else data
        held_out = self.test_size + self.valid_size if self.valid_size else self.test_size
        first = source.train_test_split(held_out, **self.train_test_split_kwargs)
        out = {"train": first["train"], "test": first["test"]}
        if self.valid_size is not None:
            second = first["test"].train_test_split(self.valid_size / held_out, **self.train_test_split_kwargs)
            out["test"], out["validation"] = second["train"], second["test"]
        return datasets.DatasetDict(out)


def __getattr__(name: str) -> Any:
    return module_getattr(__name__, name)
