"""The study folder of a hyperparameter search: ``experiments/<exp>_search_S<k>/``, its files and its journal.

``study.json`` says what the study is, ``config.json`` holds the resolved base config, ``journal.log`` is
Optuna's journal (search_storage.py). :func:`create_study` makes the next one, :func:`find_study` finds one by
name (or the latest of an experiment), :func:`load_study` opens its Optuna study.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_json_atomic
from runway_for_ml.config.search_section import SearchSection
from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.layout import LOCKS_DIR, experiments_dir, lock_file
from runway_for_ml.experiment.manifest import now_iso
from runway_for_ml.experiment.search_space import grid_size
from runway_for_ml.experiment.search_storage import open_storage

STUDY_JSON = "study.json"
CONFIG_JSON = "config.json"
TRIALS_CSV = "trials.csv"
BEST_JSON = "best.json"
STUDY_INFIX = "_search_S"
FINISHED = ("COMPLETE", "PRUNED")


@dataclass
class StudyDir:
    """``experiments/<exp>_search_S<k>/`` and what it holds."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def info(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / STUDY_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunwayError(
                f"{self.path} is not a search study (no readable {STUDY_JSON})",
                hint="start one with `runway search EXPERIMENT`",
            ) from exc

    def base_config(self) -> dict[str, Any]:
        return json.loads((self.path / CONFIG_JSON).read_text(encoding="utf-8"))

    def section(self) -> Any:
        return SearchSection.model_validate(self.info()["search"])

    def set_trials(self, trials: int) -> None:
        info = self.info()
        info["trials"] = int(trials)
        write_json_atomic(self.path / STUDY_JSON, info)


def study_dirs(project_root: Path, experiment: str | None = None) -> list[Path]:
    """The study folders of the project (of ``experiment``), oldest first."""
    base = experiments_dir(project_root)
    if not base.is_dir():
        return []
    found = []
    for entry in base.iterdir():
        stem, sep, number = entry.name.rpartition(STUDY_INFIX)
        if sep and number.isdigit() and entry.is_dir() and (experiment is None or stem == experiment):
            found.append((stem, int(number), entry))
    return [path for _, _, path in sorted(found)]


def find_study(project_root: Path, name: str | None = None, *, experiment: str | None = None) -> Path:
    """A study by name (``digits_search_S0``), else the latest of ``experiment``; RunwayError when none."""
    studies = study_dirs(project_root, None if name else experiment)
    if name:
        for path in studies:
            if path.name == name:
                return path
        names = [p.name for p in studies]
        raise RunwayError(
            f"no search study '{name}'{did_you_mean(name, names)}",
            hint=f"studies: {', '.join(names)}" if names else "start one with `runway search EXPERIMENT`",
        )
    if not studies:
        raise RunwayError(
            f"experiment '{experiment}' has no search study to resume",
            hint=f"start one with `runway search {experiment}`",
        )
    return studies[-1]


def create_study(exp: Any, config: Any, section: Any, *, command_line: list[str], trials: int | None = None) -> Path:
    """Make ``experiments/<exp>_search_S<k>/`` (the next k) with its study.json, base config and journal."""
    import optuna

    base = exp.experiments_dir
    base.mkdir(parents=True, exist_ok=True)
    target = int(trials or section.trials)
    size = grid_size(section)
    if size is not None and target > size:
        print(f"[search] the grid has {size} points: the study runs {size} trials, not {target}", file=sys.stderr)
        target = size
    from filelock import FileLock

    with FileLock(str(lock_file(base, "search")), timeout=60):
        taken = [int(p.name.rpartition(STUDY_INFIX)[2]) for p in study_dirs(exp.project_root, exp.name)]
        number = max(taken) + 1 if taken else 0
        study_dir = base / f"{exp.name}{STUDY_INFIX}{number}"
        study_dir.mkdir()
    try:
        data = getattr(config, "data", config)
        write_json_atomic(study_dir / CONFIG_JSON, data)
        info = {
            "study": study_dir.name,
            "experiment": exp.name,
            "project_root": str(exp.project_root),
            "created_at": now_iso(),
            "command_line": list(command_line),
            "config_file": str(getattr(config, "path", None) or exp.config_path),
            "overrides": [f"{o.path}={json.dumps(o.value)}" for o in getattr(config, "overrides", None) or []],
            "trials": target,
            "search": section.model_dump(mode="json"),
        }
        write_json_atomic(study_dir / STUDY_JSON, info)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.create_study(study_name=study_dir.name, storage=open_storage(study_dir), direction=section.direction)
    except BaseException:
        shutil.rmtree(study_dir, ignore_errors=True)
        raise
    return study_dir


def finished_count(study_dir: Path) -> int:
    """Trials of the study that are complete or pruned."""
    return sum(1 for t in load_study(study_dir).get_trials(deepcopy=False) if t.state.name in FINISHED)


def load_study(study_dir: Path, sampler: Any = None, pruner: Any = None) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optuna.load_study(
            study_name=Path(study_dir).name, storage=open_storage(study_dir), sampler=sampler, pruner=pruner
        )


# ----------------------------------------------------------------------------- the worker


@contextlib.contextmanager
def removed_when_empty(study_dir: Path, fresh: bool) -> Iterator[None]:
    """Remove a study folder this command created when a user error stops it before any trial finished."""
    try:
        yield
    except RunwayError:
        if fresh and Path(study_dir).is_dir():
            with contextlib.suppress(Exception):
                if finished_count(study_dir) == 0:
                    shutil.rmtree(study_dir, ignore_errors=True)
                    for path in (Path(study_dir).parent / LOCKS_DIR).glob(f"{Path(study_dir).name}.*.lock"):
                        path.unlink(missing_ok=True)
        raise
