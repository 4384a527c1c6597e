"""Which version folders ``runway compare`` reads: versions, experiments, a study's trials.

>>> select_versions(project_root, ["digits", "digits_V7"])  # doctest: +SKIP
[PosixPath('.../experiments/digits_V0'), PosixPath('.../experiments/digits_V7')]
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.layout import experiments_dir
from runway_for_ml.experiment.listing import VERSION_DIR_RE, list_runs
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.experiment.names import list_experiment_names

__all__ = ["select_versions"]


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
        if VERSION_DIR_RE.match(name) and folder.is_dir():
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
