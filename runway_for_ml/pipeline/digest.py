"""Content digests of node outputs (recorded in ``meta.json`` as ``digest``) and the first difference of two outputs.

A digest says *what the data is*, not how it is stored:

- a ``Dataset`` / ``DatasetDict``: per split, the row count and one SHA-256 per column, computed over
  the table's data in fixed windows of rows (Arrow IPC of each window), so it does not depend on
  chunking, file layout, an indices mapping or the dataset's format (``set_format``);
- a tokenizer: SHA-256 of the files ``save_pretrained`` wrote;
- any other (pickled) value: SHA-256 of a normalised form (dict keys and sets sorted, numpy arrays by
  dtype, shape and bytes, pandas frames by column), so two equal values give one digest in any process.

>>> content_digest({"b": [1, 2], "a": {3, 1}}) == content_digest({"a": {1, 3}, "b": [1, 2]})
True
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

from runway_for_ml.pipeline.datatypes import is_dataset, is_dataset_dict
from runway_for_ml.pipeline.fingerprint import canonical_json

__all__ = ["DIGEST_VERSION", "content_digest", "first_difference"]

DIGEST_VERSION = 1
_WINDOW = 65_536  # rows hashed together; fixed, so the digest does not depend on chunking


def content_digest(data: Any, tokenizer_dir: Path | None = None) -> dict:
    """The digest of ``data`` (see the module docstring); ``tokenizer_dir``: where a tokenizer was saved."""
    if is_dataset_dict(data):
        return {"v": DIGEST_VERSION, "kind": "arrow", "splits": {s: _dataset_digest(ds) for s, ds in data.items()}}
    if is_dataset(data):
        return {"v": DIGEST_VERSION, "kind": "arrow", "splits": {"": _dataset_digest(data)}}
    if tokenizer_dir is not None:
        h = hashlib.sha256()
        for path in sorted(p for p in Path(tokenizer_dir).rglob("*") if p.is_file()):
            h.update(path.relative_to(tokenizer_dir).as_posix().encode() + b"\0" + path.read_bytes())
        return {"v": DIGEST_VERSION, "kind": "tokenizer", "sha256": h.hexdigest()}
    return {"v": DIGEST_VERSION, "kind": "pickle", "sha256": _sha(_normal(data))}


def _dataset_digest(ds: Any) -> dict:
    import pyarrow as pa

    names = list(ds.column_names)
    hashers = {name: hashlib.sha256(str(ds.features[name]).encode()) for name in names}
    for start in range(0, ds.num_rows, _WINDOW):
        window = _rows(ds, start, _WINDOW)
        for name in names:
            column = window.column(name).combine_chunks()
            hashers[name].update(pa.record_batch([column], names=["c"]).serialize())
    return {"rows": ds.num_rows, "columns": {name: h.hexdigest() for name, h in hashers.items()}}


def _rows(ds: Any, start: int, count: int) -> Any:
    """Rows ``start .. start+count`` of ``ds`` as a ``pyarrow.Table`` (its indices mapping applied, vectorised)."""
    table = ds.data.table
    indices = getattr(ds, "_indices", None)
    if indices is None:
        return table.slice(start, count)
    return table.take(indices.table.column(0).slice(start, count))


def _sha(normal: Any) -> str:
    return hashlib.sha256(canonical_json(normal).encode("ascii")).hexdigest()


def _normal(obj: Any) -> Any:
    """A JSON-able form of ``obj`` that equal values share (used for pickled outputs)."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return {"float": obj.hex()}
    if isinstance(obj, dict):
        return {"dict": sorted(([_normal(k), _normal(v)] for k, v in obj.items()), key=canonical_json)}
    if isinstance(obj, (list, tuple)):
        return {type(obj).__name__: [_normal(v) for v in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"set": sorted((_normal(v) for v in obj), key=canonical_json)}
    if isinstance(obj, bytes):
        return {"bytes": hashlib.sha256(obj).hexdigest()}
    module = type(obj).__module__
    if module.startswith("numpy") and hasattr(obj, "dtype") and hasattr(obj, "tobytes"):
        if obj.dtype == object:
            return {"ndarray": str(obj.shape), "items": [_normal(v) for v in obj.ravel().tolist()]}
        import numpy

        raw = numpy.ascontiguousarray(obj).tobytes()
        return {"ndarray": [str(obj.dtype), list(getattr(obj, "shape", ()))], "sha": hashlib.sha256(raw).hexdigest()}
    if module.startswith("pandas") and type(obj).__name__ == "DataFrame":
        return {
            "DataFrame": [[str(c), _normal(obj[c].to_numpy())] for c in obj.columns],
            "index": _normal(list(obj.index)),
        }
    if module.startswith("pandas") and type(obj).__name__ == "Series":
        return {"Series": _normal(obj.to_numpy()), "name": str(obj.name), "index": _normal(list(obj.index))}
    if is_dataset(obj) or is_dataset_dict(obj):
        return {"datasets": content_digest(obj)}
    return {"pickle": type(obj).__qualname__, "sha": hashlib.sha256(pickle.dumps(obj, protocol=4)).hexdigest()}


# ------------------------------------------------------------------ where two outputs differ
def first_difference(old: Any, new: Any) -> dict:
    """Where ``new`` first differs from ``old``: ``{"split", "column", "row", "detail"}`` (keys that apply).

    >>> first_difference([1, 2, 3], [1, 5, 3])
    {'row': 1, 'detail': 'value 2 -> 5'}
    """
    if is_dataset_dict(old) or is_dataset(old) or is_dataset_dict(new) or is_dataset(new):
        return _arrow_difference(old, new)
    return _py_difference(old, new)


def _splits(data: Any) -> dict:
    if is_dataset_dict(data):
        return dict(data)
    if is_dataset(data):
        return {"": data}
    return {}


def _arrow_difference(old: Any, new: Any) -> dict:
    old_splits, new_splits = _splits(old), _splits(new)
    if list(old_splits) != list(new_splits):
        return {"detail": f"splits {list(old_splits)} -> {list(new_splits)}"}
    for split, old_ds in old_splits.items():
        new_ds = new_splits[split]
        where = {"split": split} if split else {}
        if old_ds.column_names != new_ds.column_names:
            return {**where, "detail": f"columns {old_ds.column_names} -> {new_ds.column_names}"}
        old_digest, new_digest = _dataset_digest(old_ds), _dataset_digest(new_ds)
        for name in old_ds.column_names:
            if old_digest["columns"][name] == new_digest["columns"][name]:
                continue
            if str(old_ds.features[name]) != str(new_ds.features[name]):
                return {**where, "column": name, "detail": f"type {old_ds.features[name]} -> {new_ds.features[name]}"}
            for start in range(0, max(old_ds.num_rows, new_ds.num_rows), _WINDOW):
                a = _rows(old_ds, start, _WINDOW).column(name).to_pylist()
                b = _rows(new_ds, start, _WINDOW).column(name).to_pylist()
                for i, (x, y) in enumerate(zip(a, b, strict=False)):
                    if x != y:
                        return {
                            **where,
                            "column": name,
                            "row": start + i,
                            "detail": f"value {_short(x)} -> {_short(y)}",
                        }
            # same values where both have rows: only the row count differs
        if old_ds.num_rows != new_ds.num_rows:
            return {
                **where,
                "row": min(old_ds.num_rows, new_ds.num_rows),
                "detail": f"rows {old_ds.num_rows} -> {new_ds.num_rows}",
            }
    return {"detail": "content differs"}


def _py_difference(old: Any, new: Any) -> dict:
    if type(old) is not type(new):
        return {"detail": f"type {type(old).__name__} -> {type(new).__name__}"}
    if type(old).__name__ == "DataFrame":
        for column in old.columns:
            if column not in new.columns:
                return {"column": str(column), "detail": "column removed"}
            a, b = old[column].tolist(), new[column].tolist()
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                if _sha(_normal(x)) != _sha(_normal(y)):
                    return {"column": str(column), "row": i, "detail": f"value {_short(x)} -> {_short(y)}"}
        return {"detail": f"shape {old.shape} -> {new.shape}"}
    if isinstance(old, dict):
        for key in list(old) + [k for k in new if k not in old]:
            if key not in new or key not in old or _sha(_normal(old[key])) != _sha(_normal(new[key])):
                return {"column": str(key), "detail": f"value of key {key!r} differs"}
    if isinstance(old, (list, tuple)) or hasattr(old, "tolist"):
        a, b = (old.tolist(), new.tolist()) if hasattr(old, "tolist") else (old, new)
        if isinstance(a, list) and isinstance(b, list):
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                if _sha(_normal(x)) != _sha(_normal(y)):
                    return {"row": i, "detail": f"value {_short(x)} -> {_short(y)}"}
            if len(a) != len(b):
                return {"row": min(len(a), len(b)), "detail": f"length {len(a)} -> {len(b)}"}
    return {"detail": "content differs"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
