"""Listing experiment versions (``runway ls``): one row per version folder with its key metric.

Reads only the version folders' own files (JSON; no torch, no jsonnet), so ``runway ls`` stays fast with
hundreds of versions.

>>> rows = list_runs(project_root)  # doctest: +SKIP
>>> rows[0]["run_name"], rows[0]["status"], rows[0]["key_metric"]  # doctest: +SKIP
('digits_V0', 'completed', {'name': 'accuracy', 'value': 0.97, 'source': 'infer-test'})
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from runway_for_ml.experiment.layout import INFER_PREFIX, VersionDir, experiments_dir
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.experiment.names import list_experiment_names

__all__ = ["VERSION_DIR_RE", "flatten", "key_metric", "list_runs", "load_json", "read_metrics"]

# A version folder's name: ``<experiment>_V<n>``.
VERSION_DIR_RE = re.compile(r"^(?P<exp>.+)_V(?P<n>\d+)$")


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The flat ``{name: value}`` metrics of an ``infer-*`` folder (``{}`` when not evaluated)."""
    try:
        data = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
        data = data["metrics"]
    return {k: v for k, v in flatten(data).items() if isinstance(v, (int, float, str, bool)) or v is None}


def key_metric(manifest: dict[str, Any], version_dir: Path) -> dict[str, Any] | None:
    """``{"name", "value", "source", "split"}`` of the key metric: from an evaluated inference run when
    there is one (``split`` = the split it predicted, e.g. ``test``), else from training's final metrics
    (``split`` = ``validation`` for a ``val_*`` value)."""
    name = manifest.get("key_metric")
    for infer_dir in VersionDir(version_dir).infer_dirs():
        metrics = read_metrics(infer_dir)
        if not metrics:
            continue
        value = _pick(metrics, name) if name else None
        if value is not None:
            split = read_manifest(infer_dir).get("split") or infer_dir.name.removeprefix(INFER_PREFIX)
            return {"name": name, "value": value, "source": infer_dir.name, "split": split}
    final = manifest.get("final_metrics") or {}
    if name:
        for key in (f"val_{name}", name):
            value = _pick(final, key)
            if value is not None:
                split = "validation" if key.startswith("val") else "train"
                return {"name": name, "value": value, "source": "train", "split": split}
    return {"name": name, "value": None, "source": None, "split": None} if name else None


def _pick(metrics: dict[str, Any], name: str | None) -> Any:
    if not name:
        return None
    if name in metrics:
        return metrics[name]
    # A metric with kwargs may be saved under a qualified name (e.g. "f1_macro", "test/accuracy").
    for key, value in metrics.items():
        if key.endswith(f"/{name}") or key.endswith(f".{name}") or key.startswith(f"{name}_"):
            return value
    return None


def list_runs(project_root: Path) -> list[dict[str, Any]]:
    """One row per version folder (and one per experiment config never trained), sorted by experiment and version.

    Each row has ``experiment``, ``version``, ``run_name``, ``status``, ``created_at``, ``key_metric``,
    ``infer_runs`` and ``path``.
    """
    root = Path(project_root)
    base = experiments_dir(root)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    if base.is_dir():
        for entry in os.scandir(base):
            match = VERSION_DIR_RE.match(entry.name)
            if not match or not entry.is_dir():
                continue
            version_dir = Path(entry.path)
            try:
                manifest = read_manifest(version_dir)
            except Exception:  # a corrupt manifest must not hide the other rows
                manifest = {"status": "corrupt"}
            seen.add(match["exp"])
            rows.append(
                {
                    "experiment": match["exp"],
                    "version": int(match["n"]),
                    "run_name": entry.name,
                    "status": manifest.get("status", "unknown"),
                    "created_at": manifest.get("created_at"),
                    "parent_experiment": manifest.get("parent_experiment"),
                    "key_metric": key_metric(manifest, version_dir),
                    "infer_runs": [p.name for p in VersionDir(version_dir).infer_dirs()],
                    "slurm_job_id": (manifest.get("slurm") or {}).get("job_id"),
                    "path": str(version_dir),
                }
            )
    for name in list_experiment_names(root):
        if name not in seen:
            rows.append(
                {
                    "experiment": name,
                    "version": None,
                    "run_name": None,
                    "status": "not trained",
                    "created_at": None,
                    "parent_experiment": None,
                    "key_metric": None,
                    "infer_runs": [],
                    "slurm_job_id": None,
                    "path": None,
                }
            )
    rows.sort(key=lambda r: (r["experiment"], -1 if r["version"] is None else r["version"]))
    return rows


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}`` (lists stay whole).

    >>> flatten({"train": {"batch_size": 32}, "meta": {"seed": 0}})
    {'train.batch_size': 32, 'meta.seed': 0}
    """
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data} if prefix else {}


def load_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (``{}`` when the file is missing or not JSON)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
