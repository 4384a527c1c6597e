"""Summaries of a node's output for ``inspect: true``: type, splits, rows, columns, samples, stats.

>>> info = inspect_data([{"a": 1}, {"a": 3}])
>>> info["rows"], info["stats"]["a"]["mean"]
(2, 2.0)

The runner saves the summary as ``inspect.json`` beside the node's cache entry and prints it with
:func:`render_inspection` (a rich table).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic

__all__ = ["inspect_data", "render_inspection", "text_scatter", "write_inspection"]

SAMPLE_ROWS = 3
_STATS_ROWS = 10_000  # numeric stats on at most this many rows: inspecting must stay cheap
_PROJECTION_ROWS = 1_000  # a vector column's 2-D picture (PCA) uses at most this many rows


def inspect_data(data: Any, samples: int = SAMPLE_ROWS) -> dict[str, Any]:
    """Describe ``data`` as a JSON-able dict (works on Dataset, DatasetDict, lists, dicts, anything)."""
    kind = type(data).__name__
    names = getattr(data, "keys", None)
    if type(data).__module__.startswith("datasets") and kind == "DatasetDict" and callable(names):
        splits = {split: _inspect_dataset(ds, samples) for split, ds in data.items()}
        return {"type": kind, "rows": sum(s["rows"] for s in splits.values()), "splits": splits}
    if type(data).__module__.startswith("datasets") and kind == "Dataset":
        return {"type": kind, **_inspect_dataset(data, samples)}
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        columns = sorted({k for r in data[:_STATS_ROWS] for k in r})
        table = {c: [r.get(c) for r in data[:_STATS_ROWS]] for c in columns}
        return {
            "type": kind,
            "rows": len(data),
            "columns": {c: type(data[0].get(c)).__name__ for c in columns},
            "samples": [_jsonable(r) for r in data[:samples]],
            "stats": _numeric_stats(table),
        }
    info: dict[str, Any] = {"type": kind}
    try:
        info["rows"] = len(data)
    except TypeError:
        info["rows"] = None
    if isinstance(data, (list, tuple)):
        info["samples"] = [_jsonable(x) for x in list(data)[:samples]]
    else:
        info["repr"] = repr(data)[:200]
    return info


def _inspect_dataset(ds: Any, samples: int) -> dict[str, Any]:
    head = ds.select(range(min(len(ds), _STATS_ROWS))).to_dict() if len(ds) else {c: [] for c in ds.column_names}
    info = {
        "rows": len(ds),
        "columns": {name: str(feature) for name, feature in ds.features.items()},
        "samples": [_jsonable({c: head[c][i] for c in head}) for i in range(min(samples, len(ds)))],
        "stats": _numeric_stats(head),
    }
    projections = _projections(head)
    if projections:
        info["projections"] = projections
    return info


def _projections(table: Mapping[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """A 2-D PCA projection of a sample of each column that holds vectors (embeddings, pixel rows)."""
    from runway_for_ml.pipeline.projection import is_vector_column, project_2d

    out = {}
    for column, values in table.items():
        sample = values[:_PROJECTION_ROWS]
        if not is_vector_column(sample):
            continue
        try:
            points = project_2d(sample, method="pca")
        except Exception:  # ragged or non-finite vectors: no picture, the rest of the summary stands
            continue
        out[column] = {
            "method": "pca",
            "rows": len(sample),
            "dim": len(sample[0]),
            "points": [[round(float(x), 4), round(float(y), 4)] for x, y in points],
        }
    return out


def _numeric_stats(table: Mapping[str, list[Any]]) -> dict[str, dict[str, float]]:
    stats = {}
    for column, values in table.items():
        # Lists of numbers (e.g. pixels) are flattened: their stats describe the values inside.
        flat = [x for v in values for x in (v if isinstance(v, (list, tuple)) else [v])]
        nums = [float(v) for v in flat if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not nums or len(nums) != len(flat):
            continue
        mean = sum(nums) / len(nums)
        std = math.sqrt(sum((x - mean) ** 2 for x in nums) / len(nums))
        stats[column] = {"min": min(nums), "max": max(nums), "mean": round(mean, 6), "std": round(std, 6)}
    return stats


def _jsonable(value: Any, limit: int = 120) -> Any:
    """Make a sample JSON-able and short (long lists and strings are cut)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_jsonable(v, limit) for v in value[:8]]
        return [*items, f"... ({len(value)} items)"] if len(value) > 8 else items
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "..."
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return repr(value)[:limit]


def write_inspection(path: Path, info: Mapping[str, Any]) -> None:
    """Write ``info`` to ``path`` atomically (temp file + rename)."""

    write_text_atomic(path, json.dumps(info, indent=2, default=str))


def render_inspection(node: str, info: Mapping[str, Any], console: Any = None) -> None:
    """Print ``info`` as rich tables: one row per column (feature, min/mean/max, first samples), per split."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    parts = info.get("splits") or {None: info}
    for split, part in parts.items():
        where = f"{node} / split {split}" if split else f"{node}: {info.get('type')}"
        table = Table(title=escape(f"inspect {where}, {part.get('rows')} rows"), title_justify="left")
        samples = (part.get("samples") or [])[:1]
        table.add_column("column", no_wrap=True)
        table.add_column("feature", overflow="ellipsis", no_wrap=True, max_width=18)
        table.add_column("min / mean / max", no_wrap=True)
        for i in range(len(samples)):
            table.add_column(f"sample {i}", overflow="ellipsis", no_wrap=True, max_width=24)
        columns = part.get("columns") or {}
        stats = part.get("stats") or {}
        for column, ctype in columns.items():
            s = stats.get(column)
            stat = f"{s['min']:.4g} / {s['mean']:.4g} / {s['max']:.4g}" if s else ""
            cells = [json.dumps(row.get(column), default=str) for row in samples]
            table.add_row(escape(column), escape(str(ctype)), stat, *map(escape, cells))
        if not columns:
            table.add_row("(value)", escape(str(info.get("type"))), "", *[escape(str(x)) for x in samples])
        console.print(table)
        for column, projection in (part.get("projections") or {}).items():
            console.print(
                escape(
                    f"{column}: PCA of {projection['rows']} vectors of {projection['dim']} values "
                    "(runway embed plots a model's embeddings)"
                )
            )
            console.print(escape(text_scatter(projection["points"])), highlight=False)


def text_scatter(points: list[list[float]], width: int = 60, height: int = 14) -> str:
    """A terminal picture of 2-D points: darker characters where more points fall.

    >>> print(text_scatter([[0, 0], [1, 1]], width=4, height=2))
    |   @|
    |@   |
    """
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    grid = [[0] * width for _ in range(height)]
    for x, y in zip(xs, ys, strict=True):
        col = min(width - 1, int((x - x0) / ((x1 - x0) or 1) * width))
        row = min(height - 1, int((y1 - y) / ((y1 - y0) or 1) * height))
        grid[row][col] += 1
    shades = " .:oO@"
    top = max(max(r) for r in grid)
    return "\n".join(
        "|" + "".join(shades[min(len(shades) - 1, -(-c * (len(shades) - 1) // top))] for c in r) + "|" for r in grid
    )
