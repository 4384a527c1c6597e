"""``runway embed``: a trained version's embeddings of a split, projected to 2-D and plotted.

Writes ``<version>/embed-<split>/``:

- ``embeddings.parquet``: ``id``, ``vector`` (the executor's ``embed_step``), ``label``,
  ``prediction``, ``text`` (when the data has a text column), ``x`` / ``y`` (the projection) and the
  ``--color-by`` column;
- ``projection.png``: the scatter, coloured by label, prediction or any column;
- ``projection.html``: the same scatter, interactive and self-contained (pan, zoom, hover shows the
  example's text or label; no network needed); ``projection.html#point=12`` highlights row 12;
- ``embed.json``: what was run (method, checkpoint, rows, seconds).

The projection is computed here, by the model side, not in the browser (see ``pipeline/projection.py``).

>>> out = write_embeddings(Experiment.load("digits_V0"), split="test", method="tsne")  # doctest: +SKIP
>>> sorted(p.name for p in out.iterdir())  # doctest: +SKIP
['embed.json', 'embeddings.parquet', 'projection.html', 'projection.png']
"""

from __future__ import annotations

import html
import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.model_outputs import run_model, to_arrow
from runway_for_ml.pipeline.projection import check_method, project_2d
from runway_for_ml.progress import Heartbeat

__all__ = ["EMBED_PREFIX", "EmbeddingTable", "compute_embeddings", "render_projection_html", "write_embeddings"]

EMBED_PREFIX = "embed-"
TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "question")
# Categorical colours (matplotlib's tab10 then tab20's light shades): the PNG and the HTML agree.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
    "#dbdb8d", "#9edae5",
)  # fmt: skip
_MAX_CATEGORIES = len(PALETTE)
_HOVER_CHARS = 400


@dataclass
class EmbeddingTable:
    """One row per example: ``ids``, ``vectors`` ``[N, D]``, and optional ``label`` / ``prediction`` / ``text``."""

    ids: list[Any]
    vectors: Any
    label: list[Any] | None = None
    prediction: list[Any] | None = None
    text: list[str] | None = None
    columns: dict[str, list[Any]] = field(default_factory=dict)  # other columns (for --color-by)
    label_names: list[str] | None = None


def compute_embeddings(
    model: Any,
    dataset: Any,
    *,
    batch_size: int | None = None,
    keep_columns: Sequence[str] = (),
) -> EmbeddingTable:
    """Run ``embed_step`` (and ``predict_step`` for the prediction) over ``dataset``, in order.

    ``model``: a :class:`LoadedModel` (``Experiment.loaded()``): the executor and its data module.
    """
    executor = model.executor
    model_config = getattr(executor, "model_config", None) or {}
    columns = list(getattr(dataset, "column_names", []) or [])
    label_column = getattr(executor, "label_column", None) or model_config.get("label_column") or "label"
    text_column = _text_column(dataset, columns)
    outputs = run_model(
        model,
        dataset,
        ["embedding", "prediction"],
        batch_size=batch_size,
        where=f"executor {type(executor).__name__}",
        optional=("prediction",),
        progress_label="embed",
    )
    table = EmbeddingTable(
        ids=list(dataset["id"]) if "id" in columns else list(range(len(dataset))),
        vectors=outputs["embedding"],
        prediction=_plain(outputs["prediction"]) if "prediction" in outputs else None,
    )
    if label_column in columns:
        table.label = list(dataset[label_column])
        feature = dataset.features.get(label_column) if hasattr(dataset, "features") else None
        names = getattr(feature, "names", None)
        table.label_names = list(names) if names else None
    if text_column is not None:
        table.text = [str(t) for t in dataset[text_column]]
    for column in keep_columns:
        if column in columns and column not in (label_column, text_column):
            table.columns[column] = list(dataset[column])
    return table


def _plain(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _text_column(dataset: Any, columns: list[str]) -> str | None:
    for name in TEXT_COLUMNS:
        if name in columns:
            return name
    features = getattr(dataset, "features", None) or {}
    for name in columns:
        if getattr(features.get(name), "dtype", None) in ("string", "large_string"):
            return name
    return None


# --------------------------------------------------------------------- colouring


@dataclass
class Colouring:
    """How points are coloured: ``kind`` ``categorical`` (``categories``) or ``continuous`` (``vmin``/``vmax``)."""

    name: str
    values: list[Any]
    kind: str
    categories: list[str] = field(default_factory=list)
    vmin: float = 0.0
    vmax: float = 1.0

    def index(self) -> list[int]:
        """Per point: the category index (categorical) or a 0..255 shade (continuous)."""
        if self.kind == "categorical":
            lookup = {c: i for i, c in enumerate(self.categories)}
            return [lookup[_category(v)] for v in self.values]
        span = (self.vmax - self.vmin) or 1.0
        return [round(255 * (float(v) - self.vmin) / span) if _finite(v) else 0 for v in self.values]


def _category(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def colouring(table: EmbeddingTable, color_by: str) -> Colouring:
    """The values of ``label``, ``prediction`` or a column, and whether they are categories or numbers."""
    available = {
        "label": table.label,
        "prediction": table.prediction,
        **({"text": table.text} if table.text is not None else {}),
        **table.columns,
    }
    values = available.get(color_by)
    if values is None:
        present = [k for k, v in available.items() if v is not None]
        raise RunwayError(
            f"--color-by {color_by}: no such values in this data{did_you_mean(color_by, present)}",
            hint=f"choose one of: {', '.join(present) or '(none: the data has no label and the model no prediction)'}",
        )
    if any(isinstance(v, (list, tuple, dict)) for v in values[:100]):
        raise RunwayError(
            f"--color-by {color_by}: the column holds lists, not one label or number per example",
            hint="colour by label, prediction, or a column of labels or numbers",
        )
    names = table.label_names if color_by in ("label", "prediction") else None
    if names:
        values = [names[v] if isinstance(v, int) and 0 <= v < len(names) else v for v in values]
    distinct = {_category(v) for v in values}
    numeric = all(_finite(v) or v is None for v in values)
    if len(distinct) <= _MAX_CATEGORIES or not numeric:
        categories = _sorted_categories(distinct, values)
        if len(categories) > _MAX_CATEGORIES:
            # Many distinct strings: the most frequent ones keep a colour, the rest share "(other)".
            counts: dict[str, int] = {}
            for v in values:
                counts[_category(v)] = counts.get(_category(v), 0) + 1
            keep = set(sorted(counts, key=lambda c: -counts[c])[: _MAX_CATEGORIES - 1])
            values = [v if _category(v) in keep else "(other)" for v in values]
            categories = [*_sorted_categories(keep, values), "(other)"]
        return Colouring(color_by, values, "categorical", categories=categories)
    numbers = [float(v) for v in values if _finite(v)]
    return Colouring(color_by, values, "continuous", vmin=min(numbers), vmax=max(numbers))


def _sorted_categories(distinct: set[str], values: list[Any]) -> list[str]:
    numeric = {_category(v): v for v in values if _finite(v)}
    if len(numeric) == len(distinct):
        return sorted(distinct, key=lambda c: numeric[c])
    return sorted(distinct)


# --------------------------------------------------------------------- outputs


def write_embeddings(
    exp: Any,
    *,
    split: str = "test",
    method: str = "tsne",
    color_by: str | None = None,
    limit: int | None = None,
    checkpoint: str = "best",
    batch_size: int | None = None,
) -> Path:
    """Compute, project and write ``<version>/embed-<split>/``; returns that folder.

    The folder is assembled under a temporary name and swapped in whole, so a failed run leaves the
    previous one (or nothing) in place.
    """
    import torch

    check_method(method)
    if limit is not None and limit < 1:
        raise RunwayError(f"--limit must be a positive number of rows, got {limit}")
    started = time.perf_counter()
    ckpt = exp.checkpoint(checkpoint)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = exp.loaded(checkpoint, device=device)
    dataset, total, keep = _rows_to_embed(model.datamodule, split, limit, color_by, exp.version_name)
    table = compute_embeddings(model, dataset, batch_size=batch_size, keep_columns=keep)
    if color_by is None:
        color_by = "label" if table.label is not None else "prediction"
    colours = colouring(table, color_by)
    seed = int(((exp.config.get("meta") or {}).get("seed")) or 0)
    with Heartbeat("embed", f"{method} projection of {len(table.vectors)} vectors"):
        projected = project_2d(table.vectors, method, seed=seed)

    out_dir = exp.path / f"{EMBED_PREFIX}{split}"
    staging = exp.path / f".{EMBED_PREFIX}{split}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write_parquet(staging / "embeddings.parquet", table, projected, colours)
        _write_png(staging / "projection.png", projected, colours, title=f"{exp.version_name} / {split} ({method})")
        title = f"{exp.version_name}: {split} split, {method}, coloured by {colours.name}"
        (staging / "projection.html").write_text(render_projection_html(projected, table, colours, title), "utf-8")
        info = {
            "version": exp.version_name,
            "split": split,
            "method": method,
            "color_by": colours.name,
            "rows": len(dataset),
            "split_rows": total,
            "dim": int(table.vectors.shape[1]),
            "checkpoint": str(ckpt),
            "checkpoint_choice": checkpoint,
            "seconds": round(time.perf_counter() - started, 3),
        }
        (staging / "embed.json").write_text(json.dumps(info, indent=2), "utf-8")
        _swap_in(staging, out_dir, exp.path / f".{EMBED_PREFIX}{split}.old")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _rows_to_embed(
    datamodule: Any, split: str, limit: int | None, color_by: str | None, version_name: str
) -> tuple[Any, int, list[str]]:
    """The split's rows (the first ``limit``), its full row count and the extra column to keep for colouring."""
    dataset = datamodule.get_split(split)
    total = len(dataset)
    if limit is not None and limit < total:
        dataset = dataset.select(range(limit))
    if len(dataset) == 0:
        raise RunwayError(f"split '{split}' of {version_name} has no rows to embed")
    keep = [color_by] if color_by not in (None, "label", "prediction") else []
    if keep and keep[0] not in dataset.column_names:
        options = ["label", "prediction", *dataset.column_names]
        raise RunwayError(
            f"--color-by {color_by}: not a column of split '{split}'{did_you_mean(str(color_by), options)}",
            hint=f"choose label, prediction or one of the columns: {', '.join(dataset.column_names)}",
        )
    return dataset, total, keep


def _swap_in(staging: Path, out_dir: Path, old: Path) -> None:
    """Put the complete ``staging`` folder in place of ``out_dir`` (moved aside to ``old``, then deleted)."""
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    staging.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _write_parquet(path: Path, table: EmbeddingTable, projected: Any, colours: Colouring) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {"id": pa.array(table.ids), "vector": to_arrow(table.vectors)}
    if table.label is not None:
        columns["label"] = pa.array(table.label)
    if table.prediction is not None:
        columns["prediction"] = pa.array(table.prediction)
    if table.text is not None:
        columns["text"] = pa.array(table.text, type=pa.string())
    for name, values in table.columns.items():
        columns[name] = pa.array(values)
    columns["x"] = pa.array(projected[:, 0])
    columns["y"] = pa.array(projected[:, 1])
    pq.write_table(pa.table(columns), path)


def _write_png(path: Path, projected: Any, colours: Colouring, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    try:
        size = max(2.0, min(30.0, 3000.0 / max(len(projected), 1)))
        if colours.kind == "categorical":
            index = colours.index()
            for i, category in enumerate(colours.categories):
                mask = [k == i for k in index]
                ax.scatter(projected[mask, 0], projected[mask, 1], s=size, c=PALETTE[i], label=category, alpha=0.8)
            if len(colours.categories) <= _MAX_CATEGORIES:
                ax.legend(title=colours.name, fontsize=7, markerscale=max(1.0, 12 / size), loc="best")
        else:
            values = [float(v) if _finite(v) else math.nan for v in colours.values]
            points = ax.scatter(projected[:, 0], projected[:, 1], s=size, c=values, cmap="viridis", alpha=0.8)
            fig.colorbar(points, ax=ax, label=colours.name)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def render_projection_html(projected: Any, table: EmbeddingTable, colours: Colouring, title: str) -> str:
    """The self-contained interactive scatter (``projection.html``): data and script inline, no network."""
    n = len(projected)
    hover = []
    for i in range(n):
        parts = [f"#{table.ids[i]}"]
        if table.label is not None:
            parts.append(f"label: {_named(table.label[i], table.label_names)}")
        if table.prediction is not None:
            parts.append(f"prediction: {_named(table.prediction[i], table.label_names)}")
        if colours.name not in ("label", "prediction", "text"):
            parts.append(f"{colours.name}: {colours.values[i]}")
        text = table.text[i] if table.text is not None else None
        hover.append({"head": " · ".join(parts), "text": text[:_HOVER_CHARS] if text else None})
    data = {
        "title": title,
        "x": [round(float(v), 4) for v in projected[:, 0]],
        "y": [round(float(v), 4) for v in projected[:, 1]],
        "c": colours.index(),
        "kind": colours.kind,
        "categories": colours.categories,
        "vmin": colours.vmin,
        "vmax": colours.vmax,
        "colour_by": colours.name,
        "palette": list(PALETTE),
        "hover": hover,
        "has_text": table.text is not None,
    }
    # "</" inside a <script> element would end it early: escape it in the JSON.
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    template = (Path(__file__).parent / "templates" / "projection.html").read_text(encoding="utf-8")
    return template.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)


def _named(value: Any, names: list[str] | None) -> str:
    if names and isinstance(value, int) and 0 <= value < len(names) and names[value] != str(value):
        return f"{names[value]} ({value})"
    return str(value)
