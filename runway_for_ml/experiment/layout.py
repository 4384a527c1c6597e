"""``VersionDir``: the one owner of an experiment version folder's layout.

Every training run of an experiment gets its own folder::

    experiments/digits_V0/
        train/config.json          the resolved config the version was trained with
        train/manifest.json        what ran, where, with what, how it ended
        train/checkpoints/         best-*.ckpt and last.ckpt
        train/logs/                csv / tensorboard / wandb logger output
        infer-<suffix>/            one folder per inference run (config, manifest, predictions, metrics)
        report.html                written by runway-run

Code that needs one of these paths asks a :class:`VersionDir` instead of joining strings, so the
layout can change in one place. Light to import: no torch, no jsonnet.

>>> layout = VersionDir(Path("experiments/digits_V0"))
>>> layout.last_ckpt.as_posix()
'experiments/digits_V0/train/checkpoints/last.ckpt'
>>> layout.infer_dir("test").name
'infer-test'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.project import find_project_root

if TYPE_CHECKING:
    from runway_for_ml.config import ResolvedConfig

__all__ = [
    "CHECKPOINT_CHOICES",
    "CONFIG_NAME",
    "INFER_PREFIX",
    "LAST_CKPT",
    "LOCKS_DIR",
    "MANIFEST_NAME",
    "REPORT_NAME",
    "TRAIN_DIR",
    "VersionDir",
    "experiments_dir",
    "lock_file",
    "project_root_of",
]

TRAIN_DIR = "train"
CONFIG_NAME = "config.json"
MANIFEST_NAME = "manifest.json"
CHECKPOINTS_DIR = "checkpoints"
LAST_CKPT = "last.ckpt"
LOGS_DIR = "logs"
INFER_PREFIX = "infer-"
REPORT_NAME = "report.html"
CHECKPOINT_CHOICES = ("best", "last")
# Lock files live in one hidden folder next to the version folders, never inside them: a POSIX lock
# file cannot be removed safely after use, and finished versions should hold only results.
LOCKS_DIR = ".locks"


def experiments_dir(project_root: Path) -> Path:
    """``<project>/experiments`` (``RUNWAY_EXPERIMENTS_DIR`` overrides it, e.g. for scratch space on a cluster)."""
    override = os.environ.get("RUNWAY_EXPERIMENTS_DIR")
    return Path(override).expanduser() if override else Path(project_root) / "experiments"


def lock_file(folder: Path, purpose: str, *, create: bool = True) -> Path:
    """The lock file for ``purpose`` in ``folder`` (a version folder or one inside it, or the experiments folder).

    It is ``<experiments>/.locks/<version>.<sub>.<purpose>.lock``: outside the version folders, so a
    finished version holds no ``*.lock`` files, and on the same file system, so processes on other
    hosts (a SLURM job and the shell that submitted it) lock the same file.

    ``create`` makes the ``.locks`` folder.

    >>> lock_file(Path("experiments/digits_V0/train"), "manifest", create=False).as_posix()
    'experiments/.locks/digits_V0.train.manifest.lock'
    >>> lock_file(Path("experiments"), "versions", create=False).as_posix()
    'experiments/.locks/versions.lock'
    """
    folder = Path(folder)
    parts: list[str] = []
    # Walk up to the version folder (<name>_V<n>); a path outside any version locks in its own folder.
    for candidate in (folder, *folder.parents):
        if _is_version_name(candidate.name):
            parts = [candidate.name, *folder.relative_to(candidate).parts]
            base = candidate.parent
            break
    else:
        base = folder
    name = ".".join([*parts, purpose]) + ".lock"
    if create:
        (base / LOCKS_DIR).mkdir(parents=True, exist_ok=True)
    return base / LOCKS_DIR / name


def _is_version_name(name: str) -> bool:
    stem, sep, number = name.rpartition("_V")
    return bool(stem and sep and number.isdigit())


def project_root_of(version_dir: Path, manifest: dict[str, Any] | None = None) -> Path | None:
    """The project a version folder belongs to: the manifest's ``project_root`` if it still exists, else
    the nearest project folder above the version (a project copied to another machine)."""

    if manifest is None:
        manifest = _read_json(Path(version_dir) / TRAIN_DIR / MANIFEST_NAME) or {}
    stored = manifest.get("project_root")
    if stored and Path(stored).is_dir():
        return Path(stored)
    return find_project_root(version_dir)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise RunwayError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})",
            hint="the file was edited by hand or the disk is full; restore it or delete the version folder",
        ) from exc


@dataclass(frozen=True)
class VersionDir:
    """Paths (and the few reads) of one version folder ``experiments/<name>_V<n>/``.

    >>> VersionDir(Path("experiments/digits_V3")).experiment_name
    'digits'
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # ---------------------------------------------------------------- names

    @property
    def name(self) -> str:
        """The version name, e.g. ``digits_V0``."""
        return self.path.name

    @property
    def experiment_name(self) -> str:
        """The experiment the version belongs to (``digits`` for ``digits_V0``)."""
        stem, sep, number = self.name.rpartition("_V")
        return stem if sep and number.isdigit() else self.name

    # ---------------------------------------------------------------- paths

    @property
    def train_dir(self) -> Path:
        return self.path / TRAIN_DIR

    @property
    def config_path(self) -> Path:
        """``train/config.json``: the resolved config the version was trained with."""
        return self.train_dir / CONFIG_NAME

    @property
    def manifest_path(self) -> Path:
        """``train/manifest.json``."""
        return self.train_dir / MANIFEST_NAME

    @property
    def checkpoints_dir(self) -> Path:
        return self.train_dir / CHECKPOINTS_DIR

    @property
    def last_ckpt(self) -> Path:
        """``train/checkpoints/last.ckpt``: what --resume and a requeued SLURM job continue from."""
        return self.checkpoints_dir / LAST_CKPT

    @property
    def logs_dir(self) -> Path:
        return self.train_dir / LOGS_DIR

    @property
    def run_lock_path(self) -> Path:
        """The lock held by the process training this version (see :func:`lock_file`)."""
        return lock_file(self.train_dir, "run")

    @property
    def report_path(self) -> Path:
        return self.path / REPORT_NAME

    def infer_dir(self, suffix: str) -> Path:
        """``infer-<suffix>/``: the folder of one inference run."""
        return self.path / f"{INFER_PREFIX}{suffix}"

    def infer_dirs(self) -> list[Path]:
        """Existing ``infer-*`` folders, ``infer-test`` first (what ``runway-run`` evaluates), then by name."""
        try:
            entries = [Path(e.path) for e in os.scandir(self.path) if e.name.startswith(INFER_PREFIX) and e.is_dir()]
        except FileNotFoundError:
            return []
        return sorted(entries, key=lambda p: (p.name != f"{INFER_PREFIX}test", p.name))

    @property
    def project_root(self) -> Path | None:
        """The project this version belongs to (see :func:`project_root_of`), ``None`` outside any."""
        return project_root_of(self.path, self.manifest())

    # ---------------------------------------------------------------- reads

    def is_version(self) -> bool:
        """Whether the folder holds a trained (or training) version: it has ``train/config.json``."""
        return self.config_path.is_file()

    def manifest(self) -> dict[str, Any]:
        """The manifest (``{}`` before it is written); a corrupt one is a RunwayError naming the file."""
        return _read_json(self.manifest_path) or {}

    def config_dict(self) -> dict[str, Any]:
        """The raw resolved config of ``train/config.json``."""
        data = _read_json(self.config_path)
        if data is None:
            raise RunwayError(
                f"{self.path} has no {TRAIN_DIR}/{CONFIG_NAME}; it is not a runway experiment version",
                hint="version folders are made by runway-train; see `runway ls`",
            )
        return data

    def read_config(self, opts: tuple[str, ...] | list[str] = ()) -> ResolvedConfig:
        """The stored config as a :class:`ResolvedConfig` (validated again, ``opts`` applied)."""
        from runway_for_ml.config import ResolvedConfig

        return ResolvedConfig.from_dict(self.config_dict(), list(opts), path=self.config_path)

    def checkpoints(self) -> dict[str, Path | None]:
        """``{"best": path | None, "last": path | None}`` of ``train/checkpoints``."""
        best_rel = (self.manifest().get("checkpoints") or {}).get("best")
        best = self.path / best_rel if best_rel else None
        if best is None or not best.is_file():
            # Killed before the manifest was finalised: the newest non-last checkpoint is the best kept.
            try:
                others = [p for p in self.checkpoints_dir.glob("*.ckpt") if p.name != LAST_CKPT]
            except OSError:
                others = []
            others.sort(key=lambda p: p.stat().st_mtime)
            best = others[-1] if others else None
        return {"best": best, "last": self.last_ckpt if self.last_ckpt.is_file() else None}

    def checkpoint(self, choice: str | Path | None = "best") -> Path:
        """The checkpoint file for ``"best"`` (default; ``last`` when no best was kept), ``"last"`` or a path.

        A missing checkpoint is a RunwayError saying how to get one.
        """
        choice = str(choice) if choice else "best"
        if choice not in CHECKPOINT_CHOICES:
            path = Path(choice).expanduser()
            if not path.is_file():
                raise RunwayError(
                    f"checkpoint file not found: {choice}",
                    hint="use --checkpoint best, --checkpoint last, or the path of an existing .ckpt file",
                )
            return path.resolve()
        paths = self.checkpoints()
        found = paths[choice] or (paths["last"] if choice == "best" else None)
        if found is None:
            status = self.manifest().get("status", "unknown")
            raise RunwayError(
                f"{self.name} has no {choice} checkpoint in {TRAIN_DIR}/{CHECKPOINTS_DIR}/ (training status: {status})",
                hint=f"train it (or resume it with `runway-train {self.experiment_name} --resume`), "
                "or use another version (runway ls lists them)",
            )
        return found
