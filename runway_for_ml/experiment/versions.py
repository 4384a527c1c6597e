"""Creating version folders: ``experiments/<name>_V<n>/`` with their resolved config and manifest.

>>> dirs = create_versions(exp, [cfg_a, cfg_b], command_line=["runway-train", "digits"])  # doctest: +SKIP
>>> [d.name for d in dirs]  # doctest: +SKIP
['digits_V3', 'digits_V4']
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runway_for_ml.atomic import write_json_atomic
from runway_for_ml.experiment.layout import VersionDir, lock_file
from runway_for_ml.experiment.manifest import STATUSES, capture_environment, now_iso
from runway_for_ml.experiment.names import NamedExperiment, read_lineage

if TYPE_CHECKING:
    from runway_for_ml.config import ResolvedConfig

__all__ = ["RESOLVED_CONFIG_NAME", "create_version", "create_versions"]

#: ``train/config.resolved.json``: the typed config with every default filled in, next to ``config.json``.
RESOLVED_CONFIG_NAME = "config.resolved.json"


def create_version(
    exp: NamedExperiment,
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
    exp: NamedExperiment,
    configs: list[ResolvedConfig],
    *,
    command_line: list[str],
    status: str = "created",
    extra_manifests: list[dict[str, Any]] | None = None,
    environment: dict[str, Any] | None = None,
) -> list[Path]:
    """Create one new version folder per config (a sweep's points), each with its config and manifest.

    The numbers are allocated in one step under ``experiments/.locks/versions.lock`` (consecutive unless a
    process that does not take the lock created a folder meanwhile); each folder is still taken with
    ``os.mkdir``, which fails if it exists, so a version is never shared or overwritten. The
    environment (git state, library versions) is captured once for all of them. Each ``config.json``
    and ``manifest.json`` is written once, atomically: the folders are new and private to this call
    until it returns. On any error every folder created here is removed, so nothing half-made remains.

    """
    if status not in STATUSES:
        raise ValueError(f"manifest status must be one of {STATUSES}, got {status!r}")
    extras = list(extra_manifests or [])
    created: list[tuple[int, Path]] = []
    try:
        _allocate(exp, len(configs), created)
        if environment is None:
            environment = capture_environment(exp.project_root)
        common = {
            "experiment": exp.name,
            "project_root": str(exp.project_root),
            "command_line": list(command_line),
            "parent_experiment": (read_lineage(exp.config_path) or {}).get("parent"),
            "created_at": now_iso(),
            "status": status,
            "environment": environment,
        }
        for i, ((number, version_dir), config) in enumerate(zip(created, configs, strict=True)):
            layout = VersionDir(version_dir)
            layout.checkpoints_dir.mkdir(parents=True)
            layout.logs_dir.mkdir()
            write_json_atomic(layout.config_path, config.data)
            # Every framework key with the value it had or its default at the time (config.schema).
            write_json_atomic(layout.config_path.with_name(RESOLVED_CONFIG_NAME), config.resolved_data())
            manifest = {**common, **_config_fields(config), "version": number, "run_name": version_dir.name}
            manifest.update(extras[i] if i < len(extras) else {})
            # The folder was created above by this process and nobody writes into it yet: a plain atomic
            # write is enough (no lock, no read-modify-write).
            write_json_atomic(layout.manifest_path, manifest)
    except BaseException:
        # A version folder without config/manifest would look like a run; remove them all.
        for _, version_dir in created:
            shutil.rmtree(version_dir, ignore_errors=True)
        raise
    return [version_dir for _, version_dir in created]


def _allocate(exp: NamedExperiment, count: int, created: list[tuple[int, Path]]) -> None:
    """Take ``count`` new folders ``<name>_V<n>`` under the versions lock; appends ``(n, folder)`` to ``created``
    as each is made (so that the caller can remove them if anything fails)."""
    from filelock import FileLock

    base = exp.experiments_dir
    base.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_file(base, "versions")), timeout=60):
        existing = exp.versions()
        number = (int(existing[-1].name.rsplit("_V", 1)[1]) + 1) if existing else 0
        while len(created) < count:
            version_dir = base / f"{exp.name}_V{number}"
            try:
                os.mkdir(version_dir)
                created.append((number, version_dir))
            except FileExistsError:
                pass
            number += 1


def _config_fields(config: ResolvedConfig) -> dict[str, Any]:
    """What the manifest records about the config: its file, the --opts overrides, seed and key metric."""
    return {
        "config_file": str(config.path) if getattr(config, "path", None) else None,
        "overrides": [_override_record(o) for o in getattr(config, "overrides", None) or []],
        "seed": (config.data.get("meta") or {}).get("seed"),
        "key_metric": (config.data.get("eval") or {}).get("key_metric"),
    }


def _override_record(override: Any) -> dict[str, Any]:
    return {
        "path": getattr(override, "path", str(override)),
        "value": getattr(override, "value", None),
        "previous": getattr(override, "previous", None),
    }
