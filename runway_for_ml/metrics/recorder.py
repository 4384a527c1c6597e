"""``EvalRecorder``: per-sample inference results plus dataset-level statistics.

Rows hold an ``index``, the ``prediction``, the ``target`` and any extra columns (inputs, scores,
images). ``save(dir)`` writes ``predictions.jsonl`` (the source of truth), ``predictions.csv`` (for
spreadsheets; lists are JSON-encoded cells) and ``stats.json``; columns marked as images are written
as PNG files under ``images/<column>/`` and referenced by their relative path.

>>> rec = EvalRecorder()
>>> rec.add_batch({"prediction": [1, 0], "target": [1, 1]})
>>> rec.column("prediction"), len(rec)
([1, 0], 2)
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runway_for_ml.atomic import atomic_path, write_text_atomic
from runway_for_ml.errors import RunwayError, did_you_mean

__all__ = ["PREDICTIONS_CSV", "PREDICTIONS_JSONL", "STATS_JSON", "EvalRecorder"]

PREDICTIONS_JSONL = "predictions.jsonl"
PREDICTIONS_CSV = "predictions.csv"
STATS_JSON = "stats.json"
IMAGES_DIR = "images"


class EvalRecorder:
    """Collects inference outputs row by row; saves and loads them; merges recorders column-wise.

    Args:
        rows: initial rows (dicts); an ``index`` is added to rows without one.
        stats: dataset-level statistics (JSON-serialisable dict), e.g. ``{"class_names": [...]}``.
        image_columns: columns whose values are images (PIL images or HxW / HxWxC / CxHxW arrays).
    """

    def __init__(
        self,
        rows: Iterable[Mapping[str, Any]] = (),
        stats: Mapping[str, Any] | None = None,
        image_columns: Iterable[str] = (),
    ) -> None:
        self._rows: list[dict[str, Any]] = []
        self.stats: dict[str, Any] = dict(stats or {})
        self.image_columns: set[str] = set(image_columns)
        self._source_dir: Path | None = None  # where saved image paths are relative to
        for row in rows:
            self.add_row(row)

    # --------------------------------------------------------------- adding

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Append one row; ``index`` defaults to its position."""
        new = {"index": len(self._rows)}
        for key, value in row.items():
            new[str(key)] = value if key in self.image_columns else _plain(value)
        self._rows.append(new)

    def add_batch(self, batch: Mapping[str, Any]) -> None:
        """Append the samples of one batch: a dict of equally long lists / tensors / arrays.

        >>> import torch
        >>> rec = EvalRecorder()
        >>> rec.add_batch({"prediction": torch.tensor([2, 3]), "probabilities": torch.eye(2)})
        >>> rec.rows[1]
        {'index': 1, 'prediction': 3, 'probabilities': [0.0, 1.0]}
        """
        columns: dict[str, list[Any]] = {}
        for key, value in batch.items():
            columns[str(key)] = _per_sample(value, keep_arrays=key in self.image_columns, column=str(key))
        lengths = {key: len(values) for key, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise RunwayError(
                "predict_step returned columns of different lengths: "
                + ", ".join(f"{k}={n}" for k, n in lengths.items()),
                hint="every value of the returned dict must have one entry per sample of the batch",
            )
        n = next(iter(lengths.values()), 0)
        for i in range(n):
            self.add_row({key: values[i] for key, values in columns.items()})

    def add_batches(self, batches: Iterable[Mapping[str, Any]]) -> None:
        """``add_batch`` for each element, e.g. the list returned by ``trainer.predict``."""
        for batch in batches:
            if batch is not None:
                self.add_batch(batch)

    def mark_image_column(self, name: str) -> None:
        """Save the values of column ``name`` as PNG files instead of inline values."""
        self.image_columns.add(name)

    # -------------------------------------------------------------- reading

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows (dicts); do not mutate."""
        return self._rows

    @property
    def columns(self) -> list[str]:
        """Column names in first-seen order."""
        seen: dict[str, None] = {}
        for row in self._rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def column(self, name: str) -> list[Any]:
        """All values of column ``name`` (``None`` where a row lacks it)."""
        columns = self.columns
        if name not in columns:
            raise RunwayError(
                f"the recorded predictions have no column '{name}'{did_you_mean(name, columns)}; "
                f"columns: {', '.join(columns) or 'none (no rows)'}",
                hint="predict_step must return it in its output dict",
            )
        return [row.get(name) for row in self._rows]

    def image_path(self, value: str) -> Path:
        """Absolute path of a saved image value (a path relative to the saved folder)."""
        return (self._source_dir or Path.cwd()) / value

    # --------------------------------------------------------------- saving

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``predictions.jsonl``, ``predictions.csv``, ``stats.json`` (and images) into ``directory``.

        Every file is written to a temporary name and renamed, so a crash leaves no half-written file.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        rows = [self._saved_row(row, directory) for row in self._rows]
        columns = self.columns
        jsonl = "".join(json.dumps(row, default=_json_default) + "\n" for row in rows)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
        meta = {
            "num_rows": len(rows),
            "columns": columns,
            "image_columns": sorted(self.image_columns),
            "stats": self.stats,
        }
        write_text_atomic(directory / PREDICTIONS_JSONL, jsonl)
        write_text_atomic(directory / PREDICTIONS_CSV, buffer.getvalue())
        write_text_atomic(directory / STATS_JSON, json.dumps(meta, indent=2, default=_json_default) + "\n")
        return directory

    def _saved_row(self, row: dict[str, Any], directory: Path) -> dict[str, Any]:
        out = dict(row)
        for name in self.image_columns:
            value = row.get(name)
            if value is None:
                continue
            relative = Path(IMAGES_DIR) / _safe(name) / f"{_safe(str(row['index']))}.png"
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, str):
                # Already a saved image (a loaded recorder): copy it when saving elsewhere.
                source = self.image_path(value)
                if source.resolve() != target.resolve():
                    _atomic_copy(source, target)
            else:
                _save_image(value, target, column=name)
            out[name] = relative.as_posix()
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> EvalRecorder:
        """Read a recorder saved by :meth:`save` (image columns hold relative paths)."""
        directory = Path(directory)
        jsonl = directory / PREDICTIONS_JSONL
        if not jsonl.is_file():
            raise RunwayError(
                f"no saved predictions in {directory}: {PREDICTIONS_JSONL} is missing",
                hint="run inference first (runway-infer), or point to an infer-<suffix> folder",
            )
        meta: dict[str, Any] = {}
        if (directory / STATS_JSON).is_file():
            meta = json.loads((directory / STATS_JSON).read_text())
        recorder = cls(stats=meta.get("stats"), image_columns=meta.get("image_columns", ()))
        with jsonl.open() as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    recorder._rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise RunwayError(f"{jsonl}:{line_no}: not valid JSON ({exc.msg})") from exc
        recorder._source_dir = directory
        return recorder

    # -------------------------------------------------------------- merging

    def merge(self, other: EvalRecorder) -> EvalRecorder:
        """A new recorder with the columns of both; they must have the same number of rows.

        Columns present in both must hold equal values (``index`` included).

        >>> a = EvalRecorder([{"prediction": 1}]); b = EvalRecorder([{"score": 0.5}])
        >>> a.merge(b).rows
        [{'index': 0, 'prediction': 1, 'score': 0.5}]
        """
        if len(self) != len(other):
            raise RunwayError(
                f"cannot merge eval recorders of different lengths: {len(self)} rows and {len(other)} rows",
                hint="merge only recorders of the same inference split",
            )
        merged = EvalRecorder(
            stats={**self.stats, **other.stats}, image_columns=self.image_columns | other.image_columns
        )
        merged._source_dir = self._source_dir or other._source_dir
        for position, (left, right) in enumerate(zip(self._rows, other._rows, strict=True)):
            row = dict(left)
            for key, value in right.items():
                if key in row and row[key] != value:
                    raise RunwayError(
                        f"cannot merge eval recorders: column '{key}' differs at row {position} "
                        f"({row[key]!r} vs {value!r})",
                        hint="rename the column in one recorder before merging",
                    )
                row[key] = value
            merged._rows.append(row)
        return merged


# ------------------------------------------------------------------- helpers


def _atomic_copy(source: Path, target: Path) -> None:
    atomic_path(target, lambda tmp: shutil.copyfile(source, tmp))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _plain(value: Any) -> Any:
    """Tensors / numpy values -> Python numbers and lists."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _per_sample(value: Any, keep_arrays: bool, column: str) -> list[Any]:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            raise RunwayError(f"column '{column}' of a batch is a scalar; expected one value per sample")
        return list(value) if keep_arrays else value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise RunwayError(
            f"column '{column}' of a batch is {type(value).__name__}; expected a list or tensor with one value per sample"
        )
    return list(value)


def _json_default(value: Any) -> Any:
    plain = _plain(value)
    if plain is value:
        return str(value)
    return plain


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_json_default)
    return value


def _save_image(value: Any, path: Path, column: str) -> None:
    from PIL import Image

    if not isinstance(value, Image.Image):
        array = np.asarray(value)
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = np.transpose(array, (1, 2, 0))  # CxHxW -> HxWxC
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim not in (2, 3):
            raise RunwayError(f"image column '{column}': expected HxW, HxWxC or CxHxW, found shape {array.shape}")
        if array.dtype != np.uint8:
            array = array.astype(np.float64)
            if array.size and array.max() <= 1.0 and array.min() >= 0.0:
                array = array * 255.0  # floats in [0, 1]
            array = np.clip(array, 0, 255).astype(np.uint8)
        value = Image.fromarray(array)
    atomic_path(path, lambda tmp: value.save(tmp, format="PNG"), suffix=".png")
