"""Training curves of a version, read from its own log files (CSV logger, else TensorBoard events).

Lightning logs a metric per epoch (``val_loss``, ``train_loss_epoch``) or per step (``train_loss_step``);
:func:`read_curves` returns both kinds, named without the ``_epoch`` / ``_step`` suffix:

>>> curves = read_curves(version_dir)  # doctest: +SKIP
>>> curves.epoch["val_loss"][:2], curves.step["train_loss"][:2], curves.source  # doctest: +SKIP
([(0.0, 2.25), (1.0, 2.05)], [(4.0, 2.28), (9.0, 2.17)], 'csv')

Nothing is re-run and nothing but the log files is read; a version without logs gives empty curves.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.experiment.layout import VersionDir

__all__ = ["Curves", "metric_direction", "read_curves"]

Series = list[tuple[float, float]]

# Substrings of metric names where lower is better (everything else: higher is better).
_LOWER_IS_BETTER = ("loss", "error", "err_", "perplexity", "ppl", "mse", "mae", "rmse", "wer", "cer", "seconds")


@dataclass
class Curves:
    """``epoch``: ``{metric: [(epoch, value)]}``; ``step``: ``{metric: [(step, value)]}``; ``source``: the log read."""

    epoch: dict[str, Series] = field(default_factory=dict)
    step: dict[str, Series] = field(default_factory=dict)
    source: str | None = None

    def __bool__(self) -> bool:
        return bool(self.epoch or self.step)

    def series(self, metric: str) -> Series:
        """The epoch series of ``metric`` when it has one, else its step series."""
        return self.epoch.get(metric) or self.step.get(metric) or []


def read_curves(version_dir: Path) -> Curves:
    """The curves of ``version_dir`` from ``train/logs/csv/metrics.csv``, else from TensorBoard event files."""
    logs = VersionDir(Path(version_dir)).logs_dir
    csv_files = sorted(logs.rglob("metrics.csv")) if logs.is_dir() else []
    if csv_files:
        return _split(_csv_rows(csv_files), "csv")
    events = sorted(logs.rglob("events.out.tfevents.*")) if logs.is_dir() else []
    if events:
        return _split(_tensorboard_rows({p.parent for p in events}), "tensorboard")
    return Curves()


def _num(text: Any) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and math.isfinite(value) else None


def _csv_rows(paths: Iterable[Path]) -> list[dict[str, float]]:
    rows = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            for raw in csv.DictReader(fh):
                row = {k: v for k, v in ((k, _num(v)) for k, v in raw.items() if k) if v is not None}
                if "step" in row:
                    rows.append(row)
    return rows


def _tensorboard_rows(folders: Iterable[Path]) -> list[dict[str, float]]:
    """Scalars of TensorBoard event folders as CSV-like rows; ``epoch`` from Lightning's ``epoch`` scalar."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    rows: list[dict[str, float]] = []
    for folder in sorted(folders):
        accumulator = EventAccumulator(str(folder), size_guidance={SCALARS: 0})
        accumulator.Reload()
        tags = accumulator.Tags().get("scalars", [])
        epoch_at = sorted((e.step, e.value) for e in accumulator.Scalars("epoch")) if "epoch" in tags else []
        for tag in tags:
            if tag == "epoch" or tag == "hp_metric":
                continue
            for event in accumulator.Scalars(tag):
                row = {"step": float(event.step), tag: float(event.value)}
                epoch = _epoch_at(epoch_at, event.step)
                if epoch is not None:
                    row["epoch"] = epoch
                rows.append(row)
    return rows


def _epoch_at(epoch_at: list[tuple[int, float]], step: int) -> float | None:
    """The epoch logged at the last step at or before ``step`` (Lightning logs ``epoch`` with every call)."""
    found = None
    for at, epoch in epoch_at:
        if at > step:
            break
        found = epoch
    return found


def _split(rows: list[dict[str, float]], source: str) -> Curves:
    """Per-epoch and per-step series; a metric logged more than once in an epoch is a per-step metric."""
    points: dict[str, list[tuple[float | None, float, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key not in ("step", "epoch"):
                points.setdefault(key, []).append((row.get("epoch"), row["step"], value))
    curves = Curves(source=source)
    for key, items in points.items():
        epochs = [e for e, _, _ in items]
        # Several steps in one epoch (not one step logged twice by a resumed run): a per-step metric.
        per_step = key.endswith("_step") or None in epochs or len(set(epochs)) < len({(e, s) for e, s, _ in items})
        if key.endswith("_epoch"):
            per_step = False
        name = key.removesuffix("_step") if per_step else key.removesuffix("_epoch")
        target = curves.step if per_step else curves.epoch
        if name in target:  # "x" and "x_epoch" both logged: keep the names apart
            name = key
        # A resumed run may log a step twice: the later value wins.
        by_x = {(s if per_step else e): v for e, s, v in items}
        target[name] = sorted((float(x), v) for x, v in by_x.items() if x is not None)
    return curves


def metric_direction(name: str, config: Mapping[str, Any] | None = None) -> str:
    """``"min"`` or ``"max"``: the mode of a checkpoint / early-stopping callback monitoring ``name``,
    else ``min`` for losses and errors, ``max`` for the rest.

    >>> metric_direction("val_loss"), metric_direction("val_accuracy")
    ('min', 'max')
    >>> metric_direction("val_bleu", {"train": {"early_stopping": {"monitor": "val_bleu", "mode": "min"}}})
    'min'
    """
    train = (config or {}).get("train") or {}
    for callback in (train.get("model_checkpoint_callback_paras"), train.get("early_stopping")):
        watched = isinstance(callback, Mapping) and callback.get("monitor") in (name, f"{name}_epoch")
        if watched and callback.get("mode") in ("min", "max"):
            return str(callback["mode"])
    lowered = name.lower()
    return "min" if any(part in lowered for part in _LOWER_IS_BETTER) else "max"
