"""What kind of data a node produced, and how many rows it has, without importing ``datasets``.

The checks look at the classes' modules (a ``datasets`` class anywhere in the type's MRO), so caching
or describing plain Python objects never pays for importing ``datasets``.

>>> is_hf_dataset([1, 2]), count_rows([1, 2]), count_rows(object())
(False, 2, None)
"""

from __future__ import annotations

from typing import Any

__all__ = ["count_rows", "is_dataset", "is_dataset_dict", "is_hf_dataset"]

_DATASETS = frozenset({"Dataset", "IterableDataset"})
_DATASET_DICTS = frozenset({"DatasetDict", "IterableDatasetDict"})


def _hf_classes(data: Any) -> set[str]:
    return {
        cls.__name__ for cls in type(data).__mro__ if (getattr(cls, "__module__", "") or "").split(".")[0] == "datasets"
    }


def is_dataset(data: Any) -> bool:
    """A ``datasets.Dataset`` or ``IterableDataset`` (or a subclass)."""
    return bool(_hf_classes(data) & _DATASETS)


def is_dataset_dict(data: Any) -> bool:
    """A ``datasets.DatasetDict`` or ``IterableDatasetDict`` (or a subclass)."""
    return bool(_hf_classes(data) & _DATASET_DICTS)


def is_hf_dataset(data: Any, *, iterable: bool = True) -> bool:
    """A Hugging Face dataset or dataset dict; ``iterable=False`` excludes the streaming (iterable) kinds,
    which cannot be saved to disk."""
    names = _hf_classes(data)
    if not iterable:
        names -= {"IterableDataset", "IterableDatasetDict"}
    return bool(names & (_DATASETS | _DATASET_DICTS))


def count_rows(data: Any) -> int | dict[str, int] | None:
    """Rows of ``data``: an int, ``{split: rows}`` for a dataset dict, ``None`` when it has no length.

    >>> count_rows({"a": 1, "b": 2})
    2
    """
    num_rows = getattr(data, "num_rows", None)
    if isinstance(num_rows, int):
        return num_rows
    if isinstance(num_rows, dict):
        return {str(k): int(v) for k, v in num_rows.items()}
    try:
        return len(data)
    except TypeError:
        return None
