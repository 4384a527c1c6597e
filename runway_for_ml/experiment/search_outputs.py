"""What a search study writes for people: ``trials.csv`` and ``best.json`` (and ``search.html``) from its
journal, and the listing of its versions for ``runway ls --search``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_json_atomic, write_text_atomic
from runway_for_ml.experiment.manifest import now_iso, read_manifest
from runway_for_ml.experiment.search_page import write_search_page
from runway_for_ml.experiment.search_space import decode_params
from runway_for_ml.experiment.search_study import BEST_JSON, TRIALS_CSV, StudyDir, find_study, load_study


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def trial_rows(study: Any, section: Any) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, version, params (decoded), seconds, retry_of."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = None
        if t.datetime_start and t.datetime_complete:
            seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 2)
        history = t.system_attrs.get("retry_history") or []
        value = (
            t.value
            if t.state.name == "COMPLETE"
            else (
                t.intermediate_values[max(t.intermediate_values)]
                if t.state.name == "PRUNED" and t.intermediate_values
                else None
            )
        )
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "value": value,
                "version": t.user_attrs.get("version"),
                "params": decode_params(section, t.params),
                "epochs_reported": len(t.intermediate_values),
                "seconds": seconds,
                "retry_of": history[-1] if history else None,
            }
        )
    return rows


def write_study_outputs(study_dir: Path, *, page: bool = True) -> dict[str, Any]:
    """Write ``trials.csv`` and ``best.json`` (and ``search.html`` with ``page``) from the journal; returns best.json."""
    folder = StudyDir(Path(study_dir))
    info = folder.info()
    section = folder.section()
    study = load_study(folder.path)
    rows = trial_rows(study, section)
    keys = list(section.space)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", "state", section.metric, "version", *keys, "epochs_reported", "seconds", "retry_of"])
    for row in rows:
        writer.writerow(
            [
                row["trial"],
                row["state"],
                "" if row["value"] is None else row["value"],
                row["version"] or "",
                *[_csv_value(row["params"].get(k)) for k in keys],
                row["epochs_reported"],
                "" if row["seconds"] is None else row["seconds"],
                "" if row["retry_of"] is None else row["retry_of"],
            ]
        )
    write_text_atomic(folder.path / TRIALS_CSV, out.getvalue())
    complete = [r for r in rows if r["state"] == "complete"]
    best_row = None
    if complete:
        pick = max if section.direction == "maximize" else min
        best_row = pick(complete, key=lambda r: r["value"])
    best = {
        "study": folder.name,
        "experiment": info["experiment"],
        "metric": section.metric,
        "direction": section.direction,
        "trials": info["trials"],
        "finished": sum(r["state"] in ("complete", "pruned") for r in rows),
        "complete": len(complete),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "best": None if best_row is None else {k: best_row[k] for k in ("trial", "value", "version", "params")},
        "updated_at": now_iso(),
    }
    write_json_atomic(folder.path / BEST_JSON, best)
    if page:
        write_search_page(study, folder.path, rows=rows, best=best, info=info)
    return best


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, dict, bool)) else value


def study_listing(project_root: Path, study: str) -> dict[str, Any]:
    """The versions of one study (``runway ls --search``), best first: completed by the metric, then pruned, then others.

    Reads only JSON files (manifests and study.json).
    """
    path = find_study(project_root, study)
    info = StudyDir(path).info()
    direction = (info.get("search") or {}).get("direction", "maximize")
    rows = []
    base = path.parent
    for entry in sorted(base.glob(f"{info['experiment']}_V*")):
        try:
            manifest = read_manifest(entry)
        except Exception:
            continue
        record = manifest.get("search")
        if not isinstance(record, dict) or record.get("study") != path.name:
            continue
        rows.append(
            {
                "version": entry.name,
                "trial": record.get("trial"),
                "state": record.get("state"),
                "status": manifest.get("status"),
                "value": record.get("value"),
                "params": record.get("params") or {},
                "path": str(entry),
            }
        )
    rank = {"complete": 0, "pruned": 1}
    sign = -1 if direction == "maximize" else 1

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row["value"]
        return (rank.get(row["state"], 2), 0 if value is not None else 1, sign * (value or 0.0), row["trial"] or 0)

    rows.sort(key=order)
    return {
        "study": path.name,
        "experiment": info["experiment"],
        "metric": (info.get("search") or {}).get("metric"),
        "direction": direction,
        "trials": info.get("trials"),
        "rows": rows,
    }
