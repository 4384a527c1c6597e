"""Experiments: named configs and their numbered version folders.

An experiment ``digits`` is the config ``configs/experiments/digits.jsonnet``; every training run of it
gets a new folder ``experiments/digits_V<n>/`` (never overwritten) with ``train/`` (``config.json``,
``manifest.json``, ``checkpoints/``, ``logs/``) and one ``infer-<suffix>/`` per inference run.

>>> exp = resolve_experiment("digits")  # doctest: +SKIP
>>> exp.config_path  # doctest: +SKIP
PosixPath('.../configs/experiments/digits.jsonnet')
>>> version_dir = create_version(exp, load_config(exp.config_path), command_line=["runway-train", "digits"])  # doctest: +SKIP
>>> version_dir.name  # doctest: +SKIP
'digits_V0'
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.manifest import capture_environment, now_iso, write_json_atomic

if TYPE_CHECKING:
    from runway_for_ml.config import ResolvedConfig

__all__ = [
    "CONFIG_SUFFIX",
    "Experiment",
    "create_experiment_config",
    "create_version",
    "create_versions",
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
# Where the experiment template lives inside the installed package (the project template's example).
_TEMPLATE_CONFIG = ("configs", "experiments", "digits.jsonnet")


def validate_name(name: str, what: str = "experiment name") -> str:
    """Return ``name`` when it can be an experiment (or inference suffix) name, else raise.

    Names are one path component of letters, digits, ``_``, ``-`` and ``.``; ``..``, ``/`` and spaces are
    refused, and so is a trailing ``_V<n>`` (it would be confused with a version folder).

    >>> validate_name("digits_small")
    'digits_small'
    """
    problem = None
    if not name:
        problem = "it is empty"
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
class Experiment:
    """An experiment of a project: its config file and its version folders."""

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

    def version(self, number: int | None = None) -> Path:
        """The version folder ``<name>_V<number>`` (latest when ``None``), or a RunwayError listing those that exist."""
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
                hint=f"pick one of them with --version, e.g. --version {max(numbered)}",
            )
        return numbered[number]

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


def experiments_dir(project_root: Path) -> Path:
    """``<project>/experiments`` (``RUNWAY_EXPERIMENTS_DIR`` overrides it, e.g. for scratch space on a cluster)."""
    override = os.environ.get("RUNWAY_EXPERIMENTS_DIR")
    return Path(override).expanduser() if override else Path(project_root) / "experiments"


def require_project_root(start: Path | None = None) -> Path:
    """The enclosing runway project, or a RunwayError telling the user how to get one."""
    from runway_for_ml.project import find_project_root

    root = find_project_root(start)
    if root is None:
        where = Path(start or Path.cwd()).resolve()
        raise RunwayError(
            f"{where} is not inside a runway project (no configs/ folder with a .runway marker above it)",
            hint="cd into your project, or create one with `runway init DIR`",
        )
    return Path(root)


def list_experiment_names(project_root: Path) -> list[str]:
    """Names of the experiment configs in ``configs/experiments/``."""
    folder = Path(project_root) / "configs" / "experiments"
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(CONFIG_SUFFIX)] for p in folder.glob(f"*{CONFIG_SUFFIX}"))


def resolve_experiment(name: str, project_root: Path | None = None) -> Experiment:
    """The experiment called ``name``; an unknown name raises with did-you-mean.

    An experiment exists when its config file exists or it has version folders (configs can be
    deleted after training; the resolved config is kept in each version).
    """
    validate_name(name)
    root = Path(project_root) if project_root is not None else require_project_root()
    exp = Experiment(name=name, project_root=root)
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
    if as_path.is_dir() and as_path.name.startswith("infer-"):
        return as_path.resolve()
    version_part, sep, infer_part = text.rstrip("/").partition("/")
    if not sep or not infer_part.startswith("infer-"):
        raise RunwayError(
            f"'{text}' is not an inference run name; expected '<exp>_V<n>/infer-<suffix>'",
            hint="runway-infer prints the name of the run it made, e.g. digits_V0/infer-test",
        )
    version_dir = resolve_version(version_part, project_root)
    infer_dir = version_dir / infer_part
    if not infer_dir.is_dir():
        existing = sorted(p.name for p in version_dir.glob("infer-*") if p.is_dir())
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


def create_experiment_config(project_root: Path, name: str, from_name: str | None = None) -> Path:
    """Create ``configs/experiments/<name>.jsonnet`` from the template or by cloning ``from_name``.

    An existing name is refused; the clone gets a comment header and a ``.<name>.lineage.json``
    sidecar recording its parent. The file appears complete or not at all.

    >>> create_experiment_config(root, "digits_small", from_name="digits")  # doctest: +SKIP
    """
    validate_name(name)
    root = Path(project_root)
    new = Experiment(name, root)
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
    _write_new_file(new.config_path, header + body)
    write_json_atomic(new.config_path.with_name(f".{name}.lineage.json"), lineage)
    return new.config_path


def _strip_lineage_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("// Experiment '"):
        lines.pop(0)
    return "".join(lines)


def _write_new_file(path: Path, text: str) -> None:
    # Write to a temp file, then hard-link it into place: link() fails if the name exists, so two
    # concurrent `runway-experiment x` never both succeed and the file is never half-written.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            raise RunwayError(f"experiment config {path} already exists", hint="pick another name") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


def create_version(
    exp: Experiment,
    config: ResolvedConfig,
    *,
    command_line: list[str],
    status: str = "created",
    extra_manifest: dict[str, Any] | None = None,
    environment: dict[str, Any] | None = None,
) -> Path:
    """Allocate ``experiments/<name>_V<n>/`` atomically and write its resolved config and manifest.

    ``environment`` (from :func:`capture_environment`) is captured here when not given.

    The number is taken with ``os.mkdir`` (which fails if the folder exists), so concurrent runs (a
    sweep's job array, two shells) never share a folder. Returns the version folder.
    """
    return create_versions(
        exp,
        [config],
        command_line=command_line,
        status=status,
        extra_manifests=[extra_manifest or {}],
        environment=environment,
    )[0]


def create_versions(
    exp: Experiment,
    configs: list[ResolvedConfig],
    *,
    command_line: list[str],
    status: str = "created",
    extra_manifests: list[dict[str, Any]] | None = None,
    environment: dict[str, Any] | None = None,
) -> list[Path]:
    """Create one new version folder per config (a sweep's points), each with its config and manifest.

    The numbers are allocated in one step under ``experiments/.versions.lock`` (consecutive unless a
    process that does not take the lock created a folder meanwhile); each folder is still taken with
    ``os.mkdir``, which fails if it exists, so a version is never shared or overwritten. The
    environment (git state, library versions) is captured once for all of them. Each ``config.json``
    and ``manifest.json`` is written once, atomically: the folders are new and private to this call
    until it returns. On any error every folder created here is removed, so nothing half-made remains.

    >>> dirs = create_versions(exp, [cfg_a, cfg_b], command_line=["runway-train", "digits"])  # doctest: +SKIP
    >>> [d.name for d in dirs]  # doctest: +SKIP
    ['digits_V3', 'digits_V4']
    """
    from filelock import FileLock

    from runway_for_ml.experiment.manifest import STATUSES, manifest_path

    if status not in STATUSES:
        raise ValueError(f"manifest status must be one of {STATUSES}, got {status!r}")
    extras = list(extra_manifests or [])
    base = exp.experiments_dir
    base.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    try:
        with FileLock(str(base / ".versions.lock"), timeout=60):
            existing = exp.versions()
            number = (int(existing[-1].name.rsplit("_V", 1)[1]) + 1) if existing else 0
            numbers: list[int] = []
            while len(created) < len(configs):
                version_dir = base / f"{exp.name}_V{number}"
                try:
                    os.mkdir(version_dir)
                    created.append(version_dir)
                    numbers.append(number)
                except FileExistsError:
                    pass
                number += 1
        if environment is None:
            environment = capture_environment(exp.project_root)
        lineage = read_lineage(exp.config_path) or {}
        created_at = now_iso()
        for i, (version_dir, config, number) in enumerate(zip(created, configs, numbers, strict=True)):
            train_dir = version_dir / "train"
            (train_dir / "checkpoints").mkdir(parents=True)
            (train_dir / "logs").mkdir()
            write_json_atomic(train_dir / "config.json", config.data)
            meta = config.data.get("meta") or {}
            manifest: dict[str, Any] = {
                "experiment": exp.name,
                "version": number,
                "run_name": version_dir.name,
                "project_root": str(exp.project_root),
                "config_file": str(config.path) if getattr(config, "path", None) else None,
                "command_line": list(command_line),
                "overrides": [_override_record(o) for o in getattr(config, "overrides", None) or []],
                "parent_experiment": lineage.get("parent"),
                "seed": meta.get("seed"),
                "key_metric": (config.data.get("eval") or {}).get("key_metric"),
                "created_at": created_at,
                "status": status,
                "environment": environment,
            }
            manifest.update(extras[i] if i < len(extras) else {})
            # The folder was created above by this process and nobody writes into it yet: a plain atomic
            # write is enough (no lock, no read-modify-write).
            write_json_atomic(manifest_path(version_dir), manifest)
    except BaseException:
        # A version folder without config/manifest would look like a run; remove them all.
        for version_dir in created:
            shutil.rmtree(version_dir, ignore_errors=True)
        raise
    return created


def _override_record(override: Any) -> dict[str, Any]:
    return {
        "path": getattr(override, "path", str(override)),
        "value": getattr(override, "value", None),
        "previous": getattr(override, "previous", None),
    }
