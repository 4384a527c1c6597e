"""What ``runway compare`` draws, gathered from the versions' own files (nothing re-runs).

Each version's config, status, training curves (last / best of each logged metric) and evaluation
metrics; the config keys that differ; the metric of the parallel coordinates; ``--group-by`` groups
(:mod:`runway_for_ml.experiment.compare_groups`). The page itself: :mod:`runway_for_ml.experiment.compare_page`.
Choosing the versions: :mod:`runway_for_ml.experiment.selection`.

>>> data = compare_versions(select_versions(project_root, ["digits"]))  # doctest: +SKIP
>>> data["differing"]  # doctest: +SKIP
['meta.seed', 'train.optimizer_config.optimizer_params.lr']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.compare_groups import seed_groups
from runway_for_ml.experiment.curves import metric_direction, read_curves
from runway_for_ml.experiment.diff import MISSING
from runway_for_ml.experiment.layout import INFER_PREFIX, VersionDir
from runway_for_ml.experiment.listing import flatten, key_metric, load_json, read_metrics
from runway_for_ml.experiment.manifest import read_manifest

__all__ = ["compare_versions"]


def _summary(version_dir: Path) -> dict[str, Any]:
    """What the compare page shows of one version: config, status, curves, last/best metrics, eval metrics."""

    layout = VersionDir(version_dir)
    try:
        manifest = read_manifest(version_dir)
    except Exception:  # a corrupt manifest still gets its row
        manifest = {"status": "corrupt"}
    config = load_json(layout.config_path)
    curves = read_curves(version_dir)
    metrics = {}
    for name in [*curves.epoch, *(m for m in curves.step if m not in curves.epoch)]:
        series = curves.series(name)
        direction = metric_direction(name, config)
        values = [v for _, v in series]
        metrics[name] = {
            "last": values[-1],
            "best": (min if direction == "min" else max)(values),
            "direction": direction,
            "per": "epoch" if name in curves.epoch else "step",
        }
    eval_metrics: dict[str, Any] = {}
    for infer_dir in layout.infer_dirs():
        label = infer_dir.name.removeprefix(INFER_PREFIX)
        for key, value in read_metrics(infer_dir).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                eval_metrics[f"{label}/{key}"] = value
    status = str(manifest.get("status", "unknown"))
    notes = []
    if not curves:
        notes.append("no training curves (no CSV or TensorBoard logs in train/logs/)")
    if status not in ("completed",):
        notes.append(f"status {status}" + (f": {manifest['error']}" if manifest.get("error") else ""))
    return {
        "name": layout.name,
        "experiment": manifest.get("experiment") or layout.name.rpartition("_V")[0],
        "path": str(version_dir),
        "report": str(layout.report_path) if layout.report_path.is_file() else None,
        "status": status,
        "created_at": manifest.get("created_at"),
        "config": flatten(config),
        "curves": curves,
        "metrics": metrics,
        "eval": eval_metrics,
        "key_metric": key_metric(manifest, version_dir),
        "search": manifest.get("search") if isinstance(manifest.get("search"), dict) else None,
        "note": "; ".join(notes) or None,
    }


def _same(values: list[Any]) -> bool:
    first = json.dumps(values[0], sort_keys=True, default=str)
    return all(json.dumps(v, sort_keys=True, default=str) == first for v in values[1:])


def compare_versions(
    version_dirs: list[Path], *, group_by: str | None = None, metric: str | None = None
) -> dict[str, Any]:
    """Everything ``runway compare`` draws, read from the versions' own files (nothing re-runs).

    Returns ``{"versions": [...], "differing": [dotted keys], "numeric": [...], "categorical": [...],
    "metrics": [logged metric names], "eval_metrics": [...], "metric": {"name", "direction", "values"},
    "group_by": key, "groups": [{"label", "members"}]}``; each version is a dict with ``name``, ``status``,
    ``created_at``, ``report``, ``config`` (flat), ``curves``, ``metrics`` (``{name: {last, best,
    direction, per}}``), ``eval`` (``{"test/accuracy": v}``), ``key_metric``, ``search``, ``note``.

    >>> data = compare_versions([a_dir, b_dir], group_by="train.optimizer_config.optimizer_params.lr")  # doctest: +SKIP
    >>> data["differing"]  # doctest: +SKIP
    ['meta.seed', 'train.optimizer_config.optimizer_params.lr']
    """

    versions = [_summary(Path(d)) for d in version_dirs]
    all_keys = sorted({k for v in versions for k in v["config"]})
    differing = [k for k in all_keys if not _same([v["config"].get(k, MISSING) for v in versions])]
    numeric, categorical = [], []
    for key in differing:
        values = [v["config"].get(key) for v in versions]
        present = [x for x in values if x is not None]
        if present and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in present):
            numeric.append(key)
        elif present and all(isinstance(x, (str, bool)) for x in present) and len(set(present)) <= 12:
            categorical.append(key)
    logged: list[str] = []
    for v in versions:
        logged.extend(m for m in v["metrics"] if m not in logged)
    eval_metrics = sorted({k for v in versions for k in v["eval"]})
    result = {
        "versions": versions,
        "differing": differing,
        "numeric": numeric,
        "categorical": categorical,
        "metrics": _order_metrics(logged),
        "eval_metrics": eval_metrics,
        "metric": _chosen_metric(versions, metric, logged, eval_metrics),
        "group_by": group_by,
        "groups": None,
    }
    if group_by:
        if group_by not in all_keys:
            raise RunwayError(
                f"--group-by {group_by}: no such config key in these versions{did_you_mean(group_by, all_keys)}",
                hint="a dotted path of the resolved config, e.g. train.optimizer_config.optimizer_params.lr",
            )
        result["groups"] = seed_groups(versions, group_by, differing)
    return result


def _order_metrics(names: list[str]) -> list[str]:
    """Losses first (train before val), then the others, each alphabetically."""

    def rank(name: str) -> tuple[int, str]:
        return (0 if "loss" in name else 1, name)

    return sorted(names, key=rank)


def _chosen_metric(
    versions: list[dict[str, Any]], metric: str | None, logged: list[str], eval_metrics: list[str]
) -> dict[str, Any]:
    """The metric of the parallel coordinates: ``--metric`` (a logged metric: its best value; or an eval
    metric such as ``test/accuracy``), else each version's key metric, else the best ``val_loss``."""

    if metric is None and all(v["search"] for v in versions):
        study = _study_metric(versions)
        if study:
            return study
    if metric is None:
        values = {
            v["name"]: v["key_metric"]["value"]
            for v in versions
            if v["key_metric"] and isinstance(v["key_metric"].get("value"), (int, float))
        }
        names = {v["key_metric"]["name"] for v in versions if v["key_metric"]}
        splits = {v["key_metric"]["split"] for v in versions if v["key_metric"] and v["key_metric"].get("split")}
        if values and len(names) == 1:
            name = names.pop()
            label = f"{'/'.join(sorted(splits))} {name}" if splits else name
            return {"name": label, "direction": metric_direction(name), "values": values}
        metric = "val_loss" if "val_loss" in logged else (logged[0] if logged else None)
        if metric is None:
            return {"name": None, "direction": "max", "values": {}}
    if metric in logged:
        values = {v["name"]: v["metrics"][metric]["best"] for v in versions if metric in v["metrics"]}
        return {"name": f"{metric} (best)", "direction": metric_direction(metric), "values": values}
    matches = [m for m in eval_metrics if m == metric or m.endswith(f"/{metric}")]
    if not matches:
        known = [*logged, *eval_metrics]
        raise RunwayError(
            f"--metric {metric}: no version logged it{did_you_mean(metric, known)}",
            hint=f"metrics: {', '.join(known)}" if known else "these versions have no metrics",
        )
    key = matches[0]
    values = {v["name"]: v["eval"][key] for v in versions if key in v["eval"]}
    return {"name": key, "direction": metric_direction(key.rpartition("/")[2]), "values": values}


def _study_metric(versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Search trials of one study: the study's metric and direction (its ``study.json``), the trials' values."""
    studies = {str(v["search"].get("study")) for v in versions}
    if len(studies) != 1:
        return None
    info = load_json(Path(versions[0]["path"]).parent / studies.pop() / "study.json")
    section = info.get("search") or {}
    values = {v["name"]: v["search"]["value"] for v in versions if isinstance(v["search"].get("value"), (int, float))}
    if not section.get("metric") or not values:
        return None
    direction = "min" if section.get("direction") == "minimize" else "max"
    return {"name": f"{section['metric']} (trial value)", "direction": direction, "values": values}
