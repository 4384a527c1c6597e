"""Evaluation: metrics from an :class:`EvalRecorder`, ``metrics.json`` and the confusion-matrix PNG.

``eval.metrics`` lists metric specs::

    eval: { metrics: [
      { name: "accuracy" },
      { name: "f1", kwargs: { average: "macro" } },
      { name: "f1", kwargs: { average: "micro" } },          // keys: f1_macro, f1_micro
      { name: "confusion_matrix", key: "cm" },
      { name: "mae", prediction_column: "score", target_column: "rating" },
    ] }

>>> from runway_for_ml.metrics import EvalRecorder
>>> rec = EvalRecorder([{"prediction": 1, "target": 1}, {"prediction": 0, "target": 1}])
>>> compute_metrics(rec, [{"name": "accuracy"}])
{'accuracy': 0.5}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import atomic_path, write_text_atomic
from runway_for_ml.errors import ConfigError, RunwayError, check_keys
from runway_for_ml.metrics.recorder import EvalRecorder
from runway_for_ml.metrics.registry import METRICS, compute_metric, get_metric

__all__ = [
    "METRICS_JSON",
    "compute_metrics",
    "evaluate",
    "normalize_metric_specs",
    "picture_keys",
    "save_confusion_matrix_png",
    "save_metric_pictures",
    "save_metrics",
]

METRICS_JSON = "metrics.json"
_SPEC_KEYS = ("name", "kwargs", "key", "prediction_column", "target_column")


def normalize_metric_specs(specs: Sequence[Any] | None, where: str = "eval.metrics") -> list[dict[str, Any]]:
    """Check ``eval.metrics`` (names resolve, keys known) and give each spec a unique result ``key``.

    A spec is ``{"name", "kwargs"?, "key"?, "prediction_column"?, "target_column"?}`` or just a name.
    A name used twice gets its kwargs values appended to its key (``f1_macro``, ``f1_micro``).
    Call it before training so that a misspelt metric fails early.

    >>> [s["key"] for s in normalize_metric_specs(["accuracy", {"name": "f1", "kwargs": {"average": "macro"}},
    ...                                            {"name": "f1", "kwargs": {"average": "micro"}}])]
    ['accuracy', 'f1_macro', 'f1_micro']
    """
    if specs is None:
        return []
    if isinstance(specs, (str, Mapping)) or not isinstance(specs, Sequence):
        raise ConfigError(f"{where} must be a list of {{name, kwargs}} objects, found {type(specs).__name__}")
    normalized: list[dict[str, Any]] = []
    for i, raw in enumerate(specs):
        spec = {"name": raw} if isinstance(raw, str) else raw
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ConfigError(f"{where}[{i}] must be a metric name or an object with a 'name', found {raw!r}")
        check_keys(spec, _SPEC_KEYS, f"{where}[{i}]")
        kwargs = spec.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"{where}[{i}].kwargs must be an object, found {kwargs!r}")
        name = str(spec["name"])
        try:
            get_metric(name)
        except RunwayError as exc:
            raise ConfigError(f"{where}[{i}]: {exc.message}", hint=exc.hint) from exc
        normalized.append({**spec, "name": name, "kwargs": dict(kwargs)})
    names = [s["name"] for s in normalized]
    for spec in normalized:
        if "key" in spec:
            continue
        if names.count(spec["name"]) > 1 and spec["kwargs"]:
            suffix = "_".join(_slug(v) for v in spec["kwargs"].values())
            spec["key"] = f"{spec['name']}_{suffix}"
        else:
            spec["key"] = spec["name"]
    keys = [s["key"] for s in normalized]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ConfigError(
            f"{where} gives several metrics the result key {', '.join(repr(d) for d in duplicates)}",
            hint="add a distinct 'key' to each of them",
        )
    return normalized


def _slug(value: Any) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(value)).strip("_") or "none"


def compute_metrics(recorder: EvalRecorder, specs: Sequence[Any] | None) -> dict[str, Any]:
    """Compute every metric of ``specs`` over the recorder's ``prediction`` / ``target`` columns.

    Returns ``{key: value}`` with plain Python values (floats, lists, dicts).
    """
    results: dict[str, Any] = {}
    for i, spec in enumerate(normalize_metric_specs(specs)):
        predictions = recorder.column(spec.get("prediction_column", "prediction"))
        targets = recorder.column(spec.get("target_column", "target"))
        try:
            results[spec["key"]] = compute_metric(spec["name"], predictions, targets, **spec["kwargs"])
        except RunwayError:
            raise
        except Exception as exc:
            raise RunwayError(
                f"metric '{spec['name']}' (eval.metrics[{i}]) failed: {type(exc).__name__}: {exc}",
                hint=f"check eval.metrics[{i}].kwargs={spec['kwargs']} and the prediction/target columns",
            ) from exc
    return results


def save_metrics(directory: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics.json`` into ``directory`` atomically; returns its path."""
    path = Path(directory) / METRICS_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(dict(metrics), indent=2, sort_keys=True) + "\n")
    return path


def save_confusion_matrix_png(
    path: str | os.PathLike[str], matrix: Sequence[Sequence[float]], labels: Sequence[Any] | None = None
) -> Path:
    """Draw ``matrix`` (rows: true class, columns: predicted) with counts into a PNG at ``path``.

    >>> import tempfile, pathlib
    >>> p = save_confusion_matrix_png(pathlib.Path(tempfile.mkdtemp()) / "cm.png", [[3, 1], [0, 4]], ["a", "b"])
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2 or data.shape[0] != data.shape[1]:
        raise RunwayError(f"a confusion matrix must be square, found shape {data.shape}")
    n = data.shape[0]
    labels = [str(label) for label in (labels if labels is not None else range(n))]
    if len(labels) != n:
        raise RunwayError(f"{len(labels)} labels for a {n}x{n} confusion matrix")
    size = max(4.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        image = ax.imshow(data, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set(xticks=range(n), yticks=range(n), xticklabels=labels, yticklabels=labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        threshold = data.max() / 2 if data.size else 0
        for r in range(n):
            for c in range(n):
                text = f"{data[r, c]:.0f}" if float(data[r, c]).is_integer() else f"{data[r, c]:.2f}"
                ax.text(c, r, text, ha="center", va="center", color="white" if data[r, c] > threshold else "black")
        fig.tight_layout()
        atomic_path(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100), suffix=".png")
    finally:
        plt.close(fig)
    return path


def evaluate(
    recorder: EvalRecorder, specs: Sequence[Any] | None, out_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Compute the metrics; with ``out_dir``, write ``metrics.json`` and ``<key>.png`` for each confusion matrix.

    Class names for the picture come from ``recorder.stats["class_names"]`` when present.
    """
    metrics = compute_metrics(recorder, specs)
    if out_dir is not None:
        save_metrics(out_dir, metrics)
        save_metric_pictures(out_dir, metrics, specs, recorder.stats.get("class_names"))
    return metrics


def picture_keys(specs: Sequence[Any] | None) -> list[str]:
    """The result keys of ``specs`` that have a picture (``<key>.png``): the confusion matrices."""
    return [
        spec["key"]
        for spec in normalize_metric_specs(specs)
        if METRICS.get(spec["name"]) is METRICS.get("confusion_matrix")
    ]


def save_metric_pictures(
    out_dir: str | os.PathLike[str],
    metrics: Mapping[str, Any],
    specs: Sequence[Any] | None,
    labels: Sequence[Any] | None = None,
) -> list[Path]:
    """Draw ``<key>.png`` for every confusion matrix of ``specs`` whose value is in ``metrics``."""
    written = []
    for key in picture_keys(specs):
        matrix = metrics.get(key)
        if not isinstance(matrix, list):
            continue
        n = len(matrix)
        written.append(
            save_confusion_matrix_png(
                Path(out_dir) / f"{key}.png", matrix, labels if labels and len(labels) == n else None
            )
        )
    return written
