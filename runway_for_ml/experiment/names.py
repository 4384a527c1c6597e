"""Experiment names: configs in ``configs/experiments/`` and their numbered version folders.

An experiment ``digits`` is the config ``configs/experiments/digits.jsonnet``; every training run of it
gets a new folder ``experiments/digits_V<n>/`` (never overwritten; its layout is owned by
:class:`~runway_for_ml.experiment.layout.VersionDir`). This module turns what a user types
(``digits``, ``digits_V3``, ``digits_V0/infer-test``) into folders, with did-you-mean errors, and
creates experiment configs (from the template or as a clone with lineage).

>>> exp = resolve_experiment("digits")  # doctest: +SKIP
>>> exp.config_path  # doctest: +SKIP
PosixPath('.../configs/experiments/digits.jsonnet')
>>> resolve_version("digits_V0", root).name  # doctest: +SKIP
'digits_V0'
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_json_atomic, write_text_exclusive
from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.layout import INFER_PREFIX, VersionDir, experiments_dir
from runway_for_ml.experiment.manifest import now_iso
from runway_for_ml.project import find_project_root

__all__ = [
    "CONFIG_SUFFIX",
    "NamedExperiment",
    "check_clone_parent",
    "create_experiment_config",
    "experiments_dir",
    "list_experiment_names",
    "read_lineage",
    "require_project_root",
    "resolve_experiment",
    "resolve_infer_dir",
    "resolve_version",
    "split_version_name",
    "validate_name",
]

CONFIG_SUFFIX = ".jsonnet"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_VERSION_RE = re.compile(r"^(?P<exp>.+)_V(?P<n>\d+)$")
# Names become folder names (<name>_V<n>, infer-<suffix>) in paths that also hold checkpoint names.
MAX_NAME_LENGTH = 100
# Where the experiment template lives inside the installed package (the project template's example).
_TEMPLATE_CONFIG = ("configs", "experiments", "digits.jsonnet")


def validate_name(name: str, what: str = "experiment name") -> str:
    """Return ``name`` when it can be an experiment (or inference suffix) name, else raise.

    Names are one path component (at most 100 characters) of letters, digits, ``_``, ``-`` and ``.``; ``..``, ``/`` and spaces are
    refused, and so is a trailing ``_V<n>`` (it would be confused with a version folder).

    >>> validate_name("digits_small")
    'digits_small'
    """
    problem = None
    if not name:
        problem = "it is empty"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"it is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
        name = name[:30] + "..."
    elif "/" in name or "\\" in name:
        problem = "it contains a path separator"
    elif ".." in name:
        problem = "it contains '..'"
    elif any(ch.isspace() for ch in name):
        problem = "it contains whitespace"
    elif not _NAME_RE.match(name):
        problem = "it may only contain letters, digits, '_', '-' and '.', starting with a letter or digit"
    elif what == "experiment name" and _VERSION_RE.match(name):
        problem = "it ends with '_V<n>', which is reserved for version folders"
    if problem:
        raise RunwayError(
            f"invalid {what} {name!r}: {problem}",
            hint="use a short name such as 'digits_small' or 'bert-lr3e-4'",
        )
    return name


@dataclass
class NamedExperiment:
    """An experiment of a project, by name: its config file and its version folders.

    (The public :class:`~runway_for_ml.experiment.experiment.Experiment` is one trained version.)
    """

    name: str
    project_root: Path

    @property
    def config_path(self) -> Path:
        """``configs/experiments/<name>.jsonnet``."""
        return self.project_root / "configs" / "experiments" / f"{self.name}{CONFIG_SUFFIX}"

    @property
    def experiments_dir(self) -> Path:
        """The folder holding the version folders (``<project>/experiments``)."""
        return experiments_dir(self.project_root)

    def versions(self) -> list[Path]:
        """Existing version folders ``<name>_V<n>``, ordered by ``n``."""
        return [path for _, path in self._numbered_versions()]

    def latest_version(self) -> Path | None:
        """The version folder with the highest number, or ``None`` before the first training run."""
        versions = self.versions()
        return versions[-1] if versions else None

    def version(self, number: int | None = None, *, flag: str | None = None) -> Path:
        """The version folder ``<name>_V<number>`` (latest when ``None``), or a RunwayError listing those that exist.

        ``flag``: the option the command takes the number with (``--version``), named in the hint;
        without it the hint names a version (``digits_V3``), as ``runway serve`` / ``embed`` take it.
        """
        numbered = dict(self._numbered_versions())
        if not numbered:
            raise RunwayError(
                f"experiment '{self.name}' has no trained version yet (no {self.experiments_dir}/{self.name}_V<n>/)",
                hint=f"train it first: runway-train {self.name}",
            )
        if number is None:
            return numbered[max(numbered)]
        if number not in numbered:
            available = ", ".join(f"{n}" for n in sorted(numbered))
            raise RunwayError(
                f"experiment '{self.name}' has no version {number}; versions: {available}",
                hint=f"pick one of them with {flag}, e.g. {flag} {max(numbered)}"
                if flag
                else f"name one of them, e.g. {self.name}_V{max(numbered)}",
            )
        return numbered[number]

    def latest_completed(self) -> Path:
        """The completed version with the highest number; a RunwayError listing the others when there is none."""
        numbered = self._numbered_versions()
        for _, path in reversed(numbered):
            if VersionDir(path).manifest().get("status") == "completed":
                return path
        if not numbered:
            self.version()  # raises "no trained version yet"
        states = ", ".join(f"{p.name} ({VersionDir(p).manifest().get('status', 'unknown')})" for _, p in numbered)
        raise RunwayError(
            f"experiment '{self.name}' has no completed version; versions: {states}",
            hint=f"name a version explicitly (e.g. {numbered[-1][1].name}), or finish one: "
            f"runway-train {self.name} --resume",
        )

    def _numbered_versions(self) -> list[tuple[int, Path]]:
        root = self.experiments_dir
        if not root.is_dir():
            return []
        prefix = f"{self.name}_V"
        found = []
        for entry in os.scandir(root):
            if entry.name.startswith(prefix) and entry.name[len(prefix) :].isdigit() and entry.is_dir():
                found.append((int(entry.name[len(prefix) :]), Path(entry.path)))
        return sorted(found)


def require_project_root(start: Path | None = None) -> Path:
    """The enclosing runway project, or a RunwayError telling the user how to get one."""

    root = find_project_root(start)
    if root is None:
        where = Path(start or Path.cwd()).resolve()
        raise RunwayError(
            f"no runway project found above {where} (no .runway marker)",
            hint="cd into your project, or create one with `runway init DIR`",
        )
    return Path(root)


def list_experiment_names(project_root: Path) -> list[str]:
    """Names of the experiment configs in ``configs/experiments/``."""
    folder = Path(project_root) / "configs" / "experiments"
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(CONFIG_SUFFIX)] for p in folder.glob(f"*{CONFIG_SUFFIX}"))


def resolve_experiment(name: str, project_root: Path | None = None) -> NamedExperiment:
    """The experiment called ``name``; an unknown name raises with did-you-mean.

    An experiment exists when its config file exists or it has version folders (configs can be
    deleted after training; the resolved config is kept in each version).
    """
    validate_name(name)
    root = Path(project_root) if project_root is not None else require_project_root()
    exp = NamedExperiment(name=name, project_root=root)
    if exp.config_path.is_file() or exp.versions():
        return exp
    known = list_experiment_names(root)
    raise RunwayError(
        f"unknown experiment '{name}': no {exp.config_path.relative_to(root)}{did_you_mean(name, known)}",
        hint=(f"existing experiments: {', '.join(known)}; " if known else "")
        + f"create it with `runway-experiment {name}` (or `--from <existing>`)",
    )


def split_version_name(text: str) -> tuple[str, int | None]:
    """``"digits_V3"`` -> ``("digits", 3)``; ``"digits"`` -> ``("digits", None)``."""
    match = _VERSION_RE.match(text)
    if match:
        return match["exp"], int(match["n"])
    return text, None


def resolve_version(text: str, project_root: Path) -> Path:
    """A version folder from ``"digits_V3"`` (that version) or ``"digits"`` (its latest version)."""
    exp_name, number = split_version_name(text)
    return resolve_experiment(exp_name, project_root).version(number)


def resolve_infer_dir(text: str, project_root: Path) -> Path:
    """An inference folder from its run name ``"digits_V0/infer-test"`` (or a path to it)."""
    as_path = Path(text)
    if as_path.is_dir() and as_path.name.startswith(INFER_PREFIX):
        return as_path.resolve()
    version_part, sep, infer_part = text.rstrip("/").partition("/")
    if not sep or not infer_part.startswith(INFER_PREFIX):
        raise RunwayError(
            f"'{text}' is not an inference run name; expected '<exp>_V<n>/infer-<suffix>'",
            hint="runway-infer prints the name of the run it made, e.g. digits_V0/infer-test",
        )
    version_dir = resolve_version(version_part, project_root)
    infer_dir = version_dir / infer_part
    if not infer_dir.is_dir():
        existing = sorted(p.name for p in VersionDir(version_dir).infer_dirs())
        raise RunwayError(
            f"no inference run '{infer_part}' in {version_dir.name}{did_you_mean(infer_part, existing)}",
            hint=(
                f"inference runs of {version_dir.name}: {', '.join(existing)}"
                if existing
                else f"run `runway-infer {split_version_name(version_dir.name)[0]} <suffix>` first"
            ),
        )
    return infer_dir


def _template_config_text() -> str:
    from importlib import resources

    package = resources.files("runway_for_ml.project_template")
    node = package
    for part in _TEMPLATE_CONFIG:
        node = node / part
    return node.read_text(encoding="utf-8")


def read_lineage(config_path: Path) -> dict[str, Any] | None:
    """The lineage sidecar ``.<name>.lineage.json`` written by ``runway-experiment --from``, if any."""
    sidecar = config_path.with_name(f".{config_path.name[: -len(CONFIG_SUFFIX)]}.lineage.json")
    try:
        return json.loads(sidecar.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def check_clone_parent(exp: NamedExperiment, from_name: str) -> None:
    """``--from EXISTING`` on an experiment whose config exists: allowed only when it was cloned from
    ``from_name`` (its lineage says so); anything else would silently train another config."""
    parent = (read_lineage(exp.config_path) or {}).get("parent")
    if parent != from_name:
        raise RunwayError(
            f"experiment '{exp.name}' already exists"
            + (f" (cloned from '{parent}')" if parent else "")
            + f"; refusing to replace it with a clone of '{from_name}'",
            hint=f"drop --from to train the existing config: runway-train {exp.name}",
        )


def create_experiment_config(project_root: Path, name: str, from_name: str | None = None) -> Path:
    """Create ``configs/experiments/<name>.jsonnet`` from the template or by cloning ``from_name``.

    An existing name is refused; the clone gets a comment header and a ``.<name>.lineage.json``
    sidecar recording its parent. The file appears complete or not at all.

    >>> create_experiment_config(root, "digits_small", from_name="digits")  # doctest: +SKIP
    """
    validate_name(name)
    root = Path(project_root)
    new = NamedExperiment(name, root)
    if new.config_path.exists():
        raise RunwayError(
            f"experiment '{name}' already exists: {new.config_path.relative_to(root)}",
            hint="pick another name, or edit the existing config",
        )
    lineage: dict[str, Any] = {"name": name, "created_at": now_iso(), "parent": None}
    if from_name is not None:
        parent = resolve_experiment(from_name, root)
        if not parent.config_path.is_file():
            raise RunwayError(
                f"cannot clone '{from_name}': its config {parent.config_path.relative_to(root)} was deleted",
                hint="restore it, or clone another experiment",
            )
        body = parent.config_path.read_text(encoding="utf-8")
        body = _strip_lineage_header(body)
        header = f"// Experiment '{name}', cloned from '{from_name}' on {lineage['created_at']} by runway-experiment.\n"
        lineage["parent"] = from_name
        lineage["parent_config"] = str(parent.config_path.relative_to(root))
        lineage["parent_lineage"] = read_lineage(parent.config_path)
    else:
        body = _strip_lineage_header(_template_config_text())
        header = f"// Experiment '{name}', created from the runway template on {lineage['created_at']}.\n"
    new.config_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Created complete or not at all, and only if absent: of two concurrent `runway-experiment x`
        # exactly one succeeds.
        write_text_exclusive(new.config_path, header + body)
    except FileExistsError as exc:
        raise RunwayError(f"experiment config {new.config_path} already exists", hint="pick another name") from exc
    write_json_atomic(new.config_path.with_name(f".{name}.lineage.json"), lineage)
    return new.config_path


def _strip_lineage_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("// Experiment '"):
        lines.pop(0)
    return "".join(lines)
