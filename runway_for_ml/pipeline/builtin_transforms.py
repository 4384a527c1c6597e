"""Ready-to-use transforms, registered under their class names.

========================  ==============================================================
``LoadHFDataset``         local csv/json/jsonl/parquet/text files, ``save_to_disk`` folders, hub names
``LoadSklearnDigits``     scikit-learn's 8x8 digits (``pixels``: 64 floats, ``label``), no download
``SplitHFDataset``        seeded train/validation/test split
``FilterRows``            keep rows where ``column op value`` (declarative, never evaluated as code)
``SelectColumns``         keep the listed columns
``RenameColumns``         rename columns ``{"old": "new"}``
``ShuffleAndTake``        seeded shuffle, keep the first ``n`` rows (dummy-data mode uses it)
``NormalizeColumns``      ``(x - subtract) / divide_by`` on numeric (or list-of-number) columns
========================  ==============================================================

Example node::

    "process:KeepLong": {
      input_node: "input:Load",
      transform_name: "FilterRows",
      setup_kwargs: { column: "length", op: ">=", value: 10 },
    }

``datasets``, ``numpy`` and ``sklearn`` are imported inside the methods that use them.
"""

from __future__ import annotations

import operator
import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.datatypes import is_dataset, is_dataset_dict
from runway_for_ml.pipeline.transform import (
    TRANSFORMS,
    BaseTransform,
    HFDatasetTransform,
    register_transform_functor,
)

__all__ = [
    "FilterRows",
    "LoadHFDataset",
    "LoadSklearnDigits",
    "NormalizeColumns",
    "RenameColumns",
    "SelectColumns",
    "ShuffleAndTake",
    "SplitHFDataset",
]

# file extension -> datasets' packaged builder name
_FILE_BUILDERS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
    ".txt": "text",
    ".text": "text",
    ".arrow": "arrow",
}


@register_transform_functor
class LoadHFDataset(HFDatasetTransform):
    """Load a dataset: local files, a ``save_to_disk`` folder, or a hub name (needs network).

    setup_kwargs:
        dataset_path: file, folder, or hub name (relative paths: from the working directory).
        dataset_name: hub config name (hub datasets only).
        split: keep one split (a ``Dataset``) instead of a ``DatasetDict``.
        file_format: csv | json | parquet | text | arrow; default from the file extension.
        load_kwargs: extra keyword arguments for ``datasets.load_dataset``.

    >>> # setup_kwargs: {dataset_path: "data/train.csv", split: "train"}
    """

    def setup(
        self,
        dataset_path: str,
        dataset_name: str | None = None,
        split: str | None = None,
        file_format: str | None = None,
        load_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.dataset_path = str(dataset_path)
        self.dataset_name = dataset_name
        self.split = split
        self.file_format = file_format
        self.load_kwargs = dict(load_kwargs or {})

    @classmethod
    def fingerprint_extra(cls, setup_kwargs: Mapping[str, Any]) -> Any:
        """Size and modification time of local input files, so editing a data file re-runs the node."""
        path = Path(str(setup_kwargs.get("dataset_path", "")))
        if not path.exists():
            return None
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return {str(p): [p.stat().st_size, p.stat().st_mtime_ns] for p in files}

    def _call(self, data: Any) -> Any:
        import datasets

        path = Path(self.dataset_path)
        if path.is_dir() and _is_saved_dataset(path):
            loaded = datasets.load_from_disk(str(path))
            if self.split is not None:
                loaded = loaded[self.split]
            return loaded
        if path.is_file():
            builder = self.file_format or _FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise ValueError(
                    f"cannot tell the format of '{path}' from its extension; set setup_kwargs.file_format "
                    f"to one of {sorted(set(_FILE_BUILDERS.values()))}"
                )
            kwargs = dict(self.load_kwargs)
            if path.suffix.lower() == ".tsv":
                kwargs.setdefault("delimiter", "\t")
            return datasets.load_dataset(builder, data_files=str(path), split=self.split, **kwargs)
        if path.is_dir():
            return datasets.load_dataset(str(path), split=self.split, **self.load_kwargs)
        looks_like_hub_id = _HUB_ID.match(self.dataset_path) is not None  # "name" or "org/name"
        if not looks_like_hub_id or path.suffix.lower() in _FILE_BUILDERS:
            raise FileNotFoundError(f"dataset_path '{self.dataset_path}' does not exist (working dir {Path.cwd()})")
        # Anything else is a hub name; this needs network access (or the dataset in the local HF cache).
        return _load_from_hub(self.dataset_path, self.dataset_name, self.split, self.load_kwargs)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_LOCAL_FILES_HINT = (
    "point the node at local files instead: setup_kwargs.dataset_path: 'data/train.csv' (csv, tsv, json, jsonl, "
    "parquet, txt) or a folder written by save_to_disk; or run it once with network access (the download "
    "is then read from the Hugging Face cache, also offline)"
)
_HUB_PROBE_SECONDS = 3.0


def _load_from_hub(dataset_id: str, name: str | None, split: str | None, kwargs: Mapping[str, Any]) -> Any:
    """``datasets.load_dataset`` of a hub id, failing at once (no retries) when the hub cannot be used."""
    import datasets

    offline = _offline_variable()
    unreachable = None if offline else _hub_unreachable()
    if unreachable is None:
        try:
            return datasets.load_dataset(dataset_id, name, split=split, **kwargs)
        except ConnectionError as exc:  # offline mode and not in the local cache, or the hub went away
            reason = f"{offline} is set and it is not in the local Hugging Face cache" if offline else str(exc)
            raise RunwayError(
                f"cannot load hub dataset '{dataset_id}' (no local file or folder of that name either): {reason}",
                hint=_LOCAL_FILES_HINT,
            ) from exc
    raise RunwayError(
        f"cannot load hub dataset '{dataset_id}' (no local file or folder of that name either): "
        f"the Hugging Face Hub cannot be reached ({unreachable})",
        hint=_LOCAL_FILES_HINT,
    )


def _offline_variable() -> str | None:
    """The name of the set offline variable (``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``), if any."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return name
    return None


def _hub_unreachable() -> str | None:
    """Why the hub (or the https proxy in front of it) cannot be reached within a few seconds; None if it can."""
    import socket
    import threading
    from urllib.parse import urlparse

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=_HUB_PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port}: {exc.strerror or exc}")

    thread = threading.Thread(target=probe, daemon=True)  # name resolution has no timeout of its own
    thread.start()
    thread.join(_HUB_PROBE_SECONDS + 0.5)
    return outcome[0] if outcome else f"{host}:{port}: no answer within {_HUB_PROBE_SECONDS:.0f} s"


def _is_saved_dataset(path: Path) -> bool:
    return any((path / name).exists() for name in ("dataset_dict.json", "state.json", "dataset_info.json"))


@register_transform_functor
class LoadSklearnDigits(HFDatasetTransform):
    """scikit-learn's handwritten digits (1,797 images of 8x8 pixels), shipped with sklearn.

    Output columns: ``pixels`` (64 floats in 0..16) and ``label`` (0..9, a ``ClassLabel``).

    setup_kwargs:
        as_dataset_dict: return ``DatasetDict({"train": ...})`` instead of a ``Dataset`` (default False).
        max_rows: keep only the first rows (handy for tests).
    """

    VERSION = "1"

    def setup(self, as_dataset_dict: bool = False, max_rows: int | None = None) -> None:
        self.as_dataset_dict = bool(as_dataset_dict)
        self.max_rows = max_rows

    def _call(self, data: Any) -> Any:
        import datasets
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels, labels = digits.data, digits.target
        if self.max_rows is not None:
            pixels, labels = pixels[: self.max_rows], labels[: self.max_rows]
        features = datasets.Features(
            {
                "pixels": datasets.List(datasets.Value("float32"), length=64),
                "label": datasets.ClassLabel(names=[str(i) for i in range(10)]),
            }
        )
        ds = datasets.Dataset.from_dict(
            {"pixels": pixels.astype("float32").tolist(), "label": labels.tolist()}, features=features
        )
        return datasets.DatasetDict({"train": ds}) if self.as_dataset_dict else ds


@register_transform_functor
class SplitHFDataset(HFDatasetTransform):
    """Split a ``Dataset`` (or one split of a ``DatasetDict``) into train / validation / test, seeded.

    setup_kwargs:
        test_size: fraction (0 < x < 1) or number of rows for ``test`` (default 0.1).
        validation_size: fraction of the whole or number of rows for ``validation``; 0/None: no
            validation split (default 0.1).
        seed: shuffling seed (default 42).
        source_split: the split to divide when the input is a ``DatasetDict`` (default "train").
        stratify_by_column: keep label proportions (the column must be a ``ClassLabel``).
    """

    VERSION = "1"

    def setup(
        self,
        test_size: float | int = 0.1,
        validation_size: float | int | None = 0.1,
        seed: int = 42,
        source_split: str = "train",
        stratify_by_column: str | None = None,
    ) -> None:
        self.test_size = test_size
        self.validation_size = validation_size
        self.seed = seed
        self.source_split = source_split
        self.stratify_by_column = stratify_by_column

    def _check_input(self, data: Any) -> None:
        if is_dataset_dict(data) and self.source_split not in data:
            raise KeyError(f"source_split '{self.source_split}' is not a split of the input (splits: {list(data)})")
        if not (is_dataset(data) or is_dataset_dict(data)):
            raise TypeError(f"SplitHFDataset expects a Dataset or DatasetDict, got {type(data).__name__}")

    def _call(self, data: Any) -> Any:
        import datasets

        ds = data[self.source_split] if is_dataset_dict(data) else data
        n = len(ds)
        n_test = _count(self.test_size, n, "test_size")
        n_val = _count(self.validation_size or 0, n, "validation_size")
        if n_test + n_val >= n:
            raise ValueError(
                f"test_size ({n_test} rows) + validation_size ({n_val} rows) leave no training rows of {n}"
            )
        kwargs = {"seed": self.seed, "stratify_by_column": self.stratify_by_column}
        first = ds.train_test_split(test_size=n_test, **kwargs)
        out = {"train": first["train"], "test": first["test"]}
        if n_val:
            second = first["train"].train_test_split(test_size=n_val, **kwargs)
            out["train"], out["validation"] = second["train"], second["test"]
        return datasets.DatasetDict({k: out[k] for k in ("train", "validation", "test") if k in out})


def _count(size: float | int, n: int, name: str) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
        raise ValueError(f"{name} must be a fraction in [0, 1) or a row count, got {size!r}")
    if isinstance(size, float) and size < 1:
        return round(size * n)
    return int(size)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
}


@register_transform_functor
class FilterRows(HFDatasetTransform):
    """Keep the rows where ``row[column] <op> value``; ops: ``== != < <= > >= in not_in``.

    Several conditions (all must hold) go in ``conditions: [{column, op, value}, ...]``. Works on a
    ``Dataset``, every split of a ``DatasetDict``, or a list of dicts. Nothing is evaluated as code.

    >>> f = FilterRows(); f.configure(column="n", op=">", value=1); f([{"n": 1}, {"n": 2}])
    [{'n': 2}]
    """

    VERSION = "1"

    def setup(
        self,
        column: str | None = None,
        op: str = "==",
        value: Any = None,
        conditions: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        conds = [dict(c) for c in conditions or []]
        if column is not None:
            conds.insert(0, {"column": column, "op": op, "value": value})
        if not conds:
            raise ValueError("FilterRows needs setup_kwargs column/op/value or conditions: [{column, op, value}]")
        self.conditions: list[tuple[str, Callable[[Any, Any], bool], Any]] = []
        for c in conds:
            if c.get("op", "==") not in _OPS:
                raise ValueError(f"unknown op {c.get('op')!r}; use one of {list(_OPS)}")
            if "column" not in c:
                raise ValueError(f"condition {c} has no 'column'")
            value = c.get("value")
            if c.get("op") in ("in", "not_in"):
                value = set(value) if all(isinstance(v, (str, int, float, bool)) for v in value) else list(value)
            self.conditions.append((c["column"], _OPS[c.get("op", "==")], value))

    def _keep(self, row: Mapping[str, Any]) -> bool:
        return all(fn(row[col], value) for col, fn, value in self.conditions)

    def _call(self, data: Any) -> Any:
        if isinstance(data, list):
            return [row for row in data if self._keep(row)]
        columns = sorted({col for col, _, _ in self.conditions})

        def keep_batch(batch: Mapping[str, list[Any]]) -> list[bool]:
            n = len(batch[columns[0]])
            return [all(fn(batch[col][i], value) for col, fn, value in self.conditions) for i in range(n)]

        return data.filter(keep_batch, batched=True)


@register_transform_functor
class SelectColumns(HFDatasetTransform):
    """Keep only ``columns`` (a list), in every split."""

    VERSION = "1"

    def setup(self, columns: Sequence[str]) -> None:
        self.columns = [columns] if isinstance(columns, str) else list(columns)

    def _call(self, data: Any) -> Any:
        if isinstance(data, list):
            return [{c: row[c] for c in self.columns} for row in data]
        return data.select_columns(self.columns)


@register_transform_functor
class RenameColumns(HFDatasetTransform):
    """Rename columns: ``mapping: {"old": "new"}``, in every split."""

    VERSION = "1"

    def setup(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)

    def _call(self, data: Any) -> Any:
        if isinstance(data, list):
            return [{self.mapping.get(k, k): v for k, v in row.items()} for row in data]
        return data.rename_columns(self.mapping)


@register_transform_functor
class ShuffleAndTake(BaseTransform):
    """Shuffle with ``seed`` and keep the first ``n`` rows (per split); fewer rows are all kept.

    Works on a ``Dataset``, a ``DatasetDict`` and on lists. Dummy-data mode applies it to every
    ``input:`` node's output with ``n = meta.dummy_data_rows``.
    """

    VERSION = "1"

    def setup(self, n: int = 100, seed: int = 0) -> None:
        if int(n) < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n = int(n)
        self.seed = int(seed)

    def _call(self, data: Any) -> Any:
        if is_dataset_dict(data):
            return type(data)({split: self._call(ds) for split, ds in data.items()})
        if is_dataset(data):
            return data.shuffle(seed=self.seed).select(range(min(self.n, len(data)))).flatten_indices()
        if isinstance(data, (list, tuple)):
            items = list(data)
            random.Random(self.seed).shuffle(items)
            return type(data)(items[: self.n])
        raise TypeError(f"ShuffleAndTake expects a Dataset, DatasetDict or list, got {type(data).__name__}")


@register_transform_functor
class NormalizeColumns(HFDatasetTransform):
    """Feature scaling: ``x -> (x - subtract) / divide_by`` for numeric or list-of-number ``columns``.

    >>> # digits pixels 0..16 -> 0..1: setup_kwargs: {columns: ["pixels"], divide_by: 16}
    """

    VERSION = "1"

    def setup(self, columns: Sequence[str], divide_by: float = 1.0, subtract: float = 0.0) -> None:
        if float(divide_by) == 0:
            raise ValueError("divide_by must not be 0")
        self.columns = [columns] if isinstance(columns, str) else list(columns)
        self.divide_by = float(divide_by)
        self.subtract = float(subtract)

    def _call(self, data: Any) -> Any:
        import numpy as np

        def scale(batch: dict[str, Any]) -> dict[str, Any]:
            return {
                # numpy arrays keep float32 in the Arrow output (lists of Python floats would become float64)
                c: (np.asarray(batch[c], dtype=np.float32) - self.subtract) / np.float32(self.divide_by)
                for c in self.columns
            }

        if isinstance(data, list):
            return [
                {**row, **{k: v[0].tolist() for k, v in scale({c: [row[c]] for c in self.columns}).items()}}
                for row in data
            ]
        return data.map(scale, batched=True)


# Built-in transforms that live in a higher layer: named here, imported on first use.
TRANSFORMS.register_lazy("PredictWithExperiment", "runway_for_ml.experiment.chaining.PredictWithExperiment")
