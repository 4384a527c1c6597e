"""Listing and comparing experiment versions (``runway ls``, ``runway diff``, ``runway compare``).

All read only the version folders' own files (JSON, CSV / TensorBoard logs; no torch, no jsonnet), so
``runway ls`` stays fast with hundreds of versions; ``compare_versions`` gathers what the compare page
(:mod:`runway_for_ml.experiment.compare_page`) draws.

>>> rows = list_runs(project_root)  # doctest: +SKIP
>>> rows[0]["run_name"], rows[0]["status"], rows[0]["key_metric"]  # doctest: +SKIP
('digits_V0', 'completed', {'name': 'accuracy', 'value': 0.97, 'source': 'infer-test'})
>>> d = diff_versions(a_dir, b_dir)  # doctest: +SKIP
>>> d["config"][0]  # doctest: +SKIP
{'path': 'train.optimizer_config.optimizer_params.lr', 'a': 0.001, 'b': 0.003}
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.curves import metric_direction, read_curves
from runway_for_ml.experiment.layout import INFER_PREFIX, VersionDir, experiments_dir
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.experiment.names import list_experiment_names

__all__ = ["compare_versions", "diff_versions", "flatten", "list_runs", "read_metrics", "select_versions"]

_VERSION_DIR_RE = re.compile(r"^(?P<exp>.+)_V(?P<n>\d+)$")
_MISSING = "<missing>"


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The flat ``{name: value}`` metrics of an ``infer-*`` folder (``{}`` when not evaluated)."""
    try:
        data = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
        data = data["metrics"]
    return {k: v for k, v in flatten(data).items() if isinstance(v, (int, float, str, bool)) or v is None}


def _infer_dirs(version_dir: Path) -> list[Path]:
    return VersionDir(version_dir).infer_dirs()


def _key_metric(manifest: dict[str, Any], version_dir: Path) -> dict[str, Any] | None:
    """``{"name", "value", "source", "split"}`` of the key metric: from an evaluated inference run when
    there is one (``split`` = the split it predicted, e.g. ``test``), else from training's final metrics
    (``split`` = ``validation`` for a ``val_*`` value)."""
    name = manifest.get("key_metric")
    for infer_dir in _infer_dirs(version_dir):
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
            match = _VERSION_DIR_RE.match(entry.name)
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
                    "key_metric": _key_metric(manifest, version_dir),
                    "infer_runs": [p.name for p in _infer_dirs(version_dir)],
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


def _side_by_side(a: dict[str, Any], b: dict[str, Any], *, only_changed: bool) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if only_changed and va == vb:
            continue
        rows.append({"path": key, "a": va, "b": vb})
    return rows


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def diff_versions(a_dir: Path, b_dir: Path) -> dict[str, Any]:
    """Compare two version folders: changed config keys, data node cache keys, metrics side by side.

    Returns ``{"a": name, "b": name, "config": [...], "data_nodes": [...], "consumed": [...], "metrics": [...],
    "status": {...}}``; every list item is ``{"path", "a", "b"}`` with ``"<missing>"`` for absent values.
    ``consumed`` is the lineage of chained experiments (node -> version, checkpoint and its hash);
    ``metrics`` keys are ``<infer-run>/<metric>``.
    """
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    config_a = flatten(_load_json(VersionDir(a_dir).config_path))
    config_b = flatten(_load_json(VersionDir(b_dir).config_path))
    man_a, man_b = read_manifest(a_dir), read_manifest(b_dir)
    nodes_a = {k: (v.get("key") if isinstance(v, dict) else v) for k, v in (man_a.get("data_nodes") or {}).items()}
    nodes_b = {k: (v.get("key") if isinstance(v, dict) else v) for k, v in (man_b.get("data_nodes") or {}).items()}

    def all_metrics(version_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        out = {f"train/{k}": v for k, v in (manifest.get("final_metrics") or {}).items()}
        for infer_dir in _infer_dirs(version_dir):
            out.update({f"{infer_dir.name}/{k}": v for k, v in read_metrics(infer_dir).items()})
        return out

    return {
        "a": a_dir.name,
        "b": b_dir.name,
        "status": {"a": man_a.get("status"), "b": man_b.get("status")},
        "config": _side_by_side(config_a, config_b, only_changed=True),
        "data_nodes": _side_by_side(nodes_a, nodes_b, only_changed=False),
        "consumed": _side_by_side(_consumed(man_a), _consumed(man_b), only_changed=False),
        "metrics": _side_by_side(all_metrics(a_dir, man_a), all_metrics(b_dir, man_b), only_changed=False),
    }


def _consumed(manifest: dict[str, Any]) -> dict[str, str]:
    """Lineage: ``{node: "digits_V0 best (sha256 3f2a…)"}`` for each experiment a PredictWithExperiment node consumed."""
    out = {}
    for item in manifest.get("consumed_experiments") or []:
        if isinstance(item, dict) and item.get("node"):
            sha = str(item.get("checkpoint_sha256") or "")[:12]
            out[str(item["node"])] = f"{item.get('version')} {item.get('checkpoint')} (sha256 {sha})"
    return out


# --------------------------------------------------------------------------- runway compare

# Keys that name, describe or log an experiment without changing its results: they never split a
# --group-by group (a key equal to one of these or below it).
_IDENTITY_KEYS = ("meta.name", "meta.description", "description", "meta.logger_enable", "meta.wandb", "meta.mlflow")
SEED_KEY = "meta.seed"


def select_versions(
    project_root: Path, names: list[str] | tuple[str, ...] = (), *, search: str | None = None, include_all: bool = False
) -> list[Path]:
    """Version folders for ``runway compare``: each name is a version (``digits_V0``: that version) or an
    experiment (``digits``: its completed versions; every version with ``include_all``); ``search`` adds
    the trials of a study (``digits_search_S0``: versions whose manifest has ``search.study`` naming it).
    No names and no search: every completed version of the project.
    """

    root = Path(project_root)
    rows = [r for r in list_runs(root) if r["run_name"]]
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_experiment.setdefault(row["experiment"], []).append(row)

    def keep(row: dict[str, Any]) -> bool:
        return include_all or row["status"] == "completed"

    chosen: list[Path] = []
    for name in names:
        folder = experiments_dir(root) / name
        if _VERSION_DIR_RE.match(name) and folder.is_dir():
            chosen.append(folder)
        elif name in by_experiment or name in list_experiment_names(root):
            versions = [Path(r["path"]) for r in by_experiment.get(name, []) if keep(r)]
            if not versions:
                statuses = sorted({r["status"] for r in by_experiment.get(name, [])})
                raise RunwayError(
                    f"experiment '{name}' has no completed version"
                    + (f" (its versions are {', '.join(statuses)})" if statuses else ""),
                    hint="add --all to include versions that did not complete"
                    if statuses
                    else f"train it with `runway-run {name}`",
                )
            chosen.extend(versions)
        else:
            known = sorted(by_experiment) + [r["run_name"] for r in rows]
            raise RunwayError(
                f"no experiment or version '{name}'{did_you_mean(name, known)}",
                hint="`runway ls` lists experiments and versions",
            )
    if search:
        chosen.extend(_search_trials(root, search, rows))
    if not names and not search:
        chosen = [Path(r["path"]) for r in rows if keep(r)]
        if not chosen:
            raise RunwayError(f"no completed version in {root}", hint="train one with `runway-run EXPERIMENT`")
    unique: dict[str, Path] = {}
    for folder in chosen:
        unique.setdefault(str(folder.resolve()), folder)
    return list(unique.values())


def _search_trials(root: Path, study: str, rows: list[dict[str, Any]]) -> list[Path]:
    """The versions of a study's trials, in trial order: manifests with ``search.study`` == ``study``
    (or naming the study folder), plus versions named in the study's ``trials.csv``."""

    study_dir = experiments_dir(root) / study
    trials: dict[str, tuple[float, Path]] = {}
    for row in rows:
        info = read_manifest(Path(row["path"])).get("search")
        if isinstance(info, dict) and str(info.get("study", "")).rstrip("/").split("/")[-1] == study:
            trial = info.get("trial")
            trials[row["run_name"]] = (float(trial) if isinstance(trial, (int, float)) else 1e9, Path(row["path"]))
    csv_path = study_dir / "trials.csv"
    if csv_path.is_file():
        import csv

        with csv_path.open(newline="", encoding="utf-8") as fh:
            for index, line in enumerate(csv.DictReader(fh)):
                name = line.get("version") or line.get("run_name") or ""
                folder = experiments_dir(root) / name
                if name and name not in trials and folder.is_dir():
                    trials[name] = (float(index), folder)
    if not trials:
        studies = sorted(p.name for p in experiments_dir(root).glob("*_search_S*") if p.is_dir())
        found = f"{study_dir} has no trials yet" if study_dir.is_dir() else f"no study '{study}'"
        raise RunwayError(
            f"{found}{did_you_mean(study, studies)}",
            hint=f"studies: {', '.join(studies)}" if studies else "start one with `runway search EXPERIMENT`",
        )
    return [path for _, path in sorted(trials.values(), key=lambda item: item[0])]


def _summary(version_dir: Path) -> dict[str, Any]:
    """What the compare page shows of one version: config, status, curves, last/best metrics, eval metrics."""

    layout = VersionDir(version_dir)
    try:
        manifest = read_manifest(version_dir)
    except Exception:  # a corrupt manifest still gets its row
        manifest = {"status": "corrupt"}
    config = _load_json(layout.config_path)
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
        "key_metric": _key_metric(manifest, version_dir),
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
    differing = [k for k in all_keys if not _same([v["config"].get(k, _MISSING) for v in versions])]
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
        result["groups"] = _groups(versions, group_by, differing)
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
    info = _load_json(Path(versions[0]["path"]).parent / studies.pop() / "study.json")
    section = info.get("search") or {}
    values = {v["name"]: v["search"]["value"] for v in versions if isinstance(v["search"].get("value"), (int, float))}
    if not section.get("metric") or not values:
        return None
    direction = "min" if section.get("direction") == "minimize" else "max"
    return {"name": f"{section['metric']} (trial value)", "direction": direction, "values": values}


def _groups(versions: list[dict[str, Any]], group_by: str, differing: list[str]) -> list[dict[str, Any]]:
    """Versions with the same config but for ``meta.seed`` (and names, loggers): one group each, labelled by
    ``group_by``'s value and any other key that tells two groups with that value apart."""
    others = [
        k
        for k in differing
        if k not in (group_by, SEED_KEY) and not any(k == i or k.startswith(f"{i}.") for i in _IDENTITY_KEYS)
    ]
    groups: dict[str, dict[str, Any]] = {}
    for v in versions:
        value = v["config"].get(group_by, _MISSING)
        rest = {k: v["config"].get(k, _MISSING) for k in others}
        identity = json.dumps([value, rest], sort_keys=True, default=str)
        group = groups.setdefault(identity, {"value": value, "rest": rest, "members": []})
        group["members"].append(v["name"])
    split = {k for k in others if len({json.dumps(g["rest"][k], default=str) for g in groups.values()}) > 1}
    out = []
    for group in groups.values():
        label = f"{group_by.rsplit('.', 1)[-1]}={_short(group['value'])}"
        extra = [f"{k.rsplit('.', 1)[-1]}={_short(group['rest'][k])}" for k in sorted(split)]
        out.append({"label": ", ".join([label, *extra]), "value": group["value"], "members": group["members"]})
    return sorted(out, key=lambda g: json.dumps(g["value"], sort_keys=True, default=str))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)
