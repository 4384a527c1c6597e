"""The manifest of a run: what ran, where, with what, and how it ended.

Every training version keeps ``train/manifest.json``; every inference run keeps
``infer-<suffix>/manifest.json``. The manifest records the command line, the ``--opts`` overrides, the
parent experiment, the project's git commit and dirty diff, the versions of the main libraries, the
seed, the cache key of every data node used, the host, start/end times and the status
(``created``, ``queued``, ``running``, ``completed``, ``failed``, ``interrupted``).

Writes are atomic (temp file + ``os.replace``) and serialised with a file lock, so a SLURM job and a
``runway jobs`` in another shell never see a half-written file.

>>> update_manifest(version_dir, status="running", started_at=now_iso())  # doctest: +SKIP
>>> read_manifest(version_dir)["status"]  # doctest: +SKIP
'running'
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import default_file_mode, write_json_atomic
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.layout import INFER_PREFIX, MANIFEST_NAME, TRAIN_DIR, lock_file

__all__ = [
    "MANIFEST_NAME",
    "STATUSES",
    "capture_environment",
    "default_file_mode",
    "manifest_path",
    "now_iso",
    "read_manifest",
    "update_manifest",
    "write_json_atomic",
]

STATUSES = ("created", "queued", "running", "completed", "failed", "interrupted", "pruned")
# Libraries whose versions decide whether a result can be reproduced.
_TRACKED_PACKAGES = (
    "torch",
    "pytorch-lightning",
    "lightning",
    "datasets",
    "transformers",
    "torchmetrics",
    "runway_for_ml",
)
# A dirty diff can be huge (notebooks, data committed by mistake); keep the manifest readable.
_MAX_DIFF_CHARS = 200_000


def manifest_path(run_dir: Path) -> Path:
    """Where the manifest of ``run_dir`` lives.

    A version folder (``experiments/digits_V0``) keeps it in ``train/``; an inference folder
    (``infer-test``) or a ``train/`` folder keeps it directly inside.
    """
    run_dir = Path(run_dir)
    if run_dir.name == TRAIN_DIR or run_dir.name.startswith((INFER_PREFIX, f".{INFER_PREFIX}")):
        return run_dir / MANIFEST_NAME
    return run_dir / TRAIN_DIR / MANIFEST_NAME


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """Return the manifest of ``version_dir`` (``{}`` when it has none yet).

    A corrupt manifest is a :class:`RunwayError` naming the file, not a JSON traceback.
    """
    path = manifest_path(version_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise RunwayError(
            f"manifest {path} is not valid JSON ({exc.msg} at line {exc.lineno})",
            hint="the file was edited by hand or the disk is full; restore it or delete the version folder",
        ) from exc


def update_manifest(
    version_dir: Path, *, keep_status: Callable[[dict[str, Any]], bool] | None = None, **fields: Any
) -> dict[str, Any]:
    """Merge ``fields`` into the manifest of ``version_dir`` atomically and return the new manifest.

    Nested dicts are merged one level deep (``update_manifest(d, slurm={"job_id": "12"})`` keeps the
    other ``slurm`` keys). The status must be one of :data:`STATUSES`. When ``keep_status(current)`` is
    true the current status stays (a job that already started stays ``running`` when the submitting
    shell records ``queued`` a moment later); the other fields are merged all the same.

    >>> update_manifest(Path("experiments/digits_V0"), status="completed")  # doctest: +SKIP
    """
    from filelock import FileLock

    status = fields.get("status")
    if status is not None and status not in STATUSES:
        raise ValueError(f"manifest status must be one of {STATUSES}, got {status!r}")
    path = manifest_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_file(path.parent, "manifest")), timeout=60):
        current = read_manifest(version_dir)
        if keep_status is not None and "status" in current and keep_status(current):
            fields = {k: v for k, v in fields.items() if k != "status"}
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(current.get(key), dict):
                current[key] = {**current[key], **value}
            else:
                current[key] = value
        write_json_atomic(path, current)
    return current


def now_iso() -> str:
    """The current time as an ISO-8601 string with timezone (what the manifest stores)."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def capture_environment(project_root: Path | None) -> dict[str, Any]:
    """Host, python, library versions and the project's git state, without importing torch.

    >>> env = capture_environment(Path("."))  # doctest: +SKIP
    >>> sorted(env)  # doctest: +SKIP
    ['git', 'host', 'platform', 'python', 'versions']
    """
    # Imported here: `runway ls` reads manifests and must stay fast.
    import platform
    import socket
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = _package_version(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": versions,
        "git": _git_state(project_root) if project_root is not None else None,
    }


def _package_version(dist: Any) -> str:
    """The ``Version:`` header of an installed distribution's metadata.

    ``metadata.version()`` parses the whole METADATA file (long READMEs included) with the email parser,
    several ms per package; the version is one of the first header lines, so read just that.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line.strip():  # end of the headers
            break
        if line.startswith("Version:"):
            return line.partition(":")[2].strip()
    return dist.version


def _git_state(root: Path) -> dict[str, Any] | None:
    """Commit, dirty flag and diff of the git repo containing ``root``; ``None`` outside git."""
    import subprocess

    if not _maybe_in_git(Path(root)):
        return None  # no `.git` above root: no need to start git to learn that
    commands = {
        "commit": ["rev-parse", "HEAD"],
        # `git diff HEAD` covers staged and unstaged changes; untracked files are listed by name.
        "diff": ["diff", "HEAD", "--", "."],
        "untracked": ["ls-files", "--others", "--exclude-standard", "--", "."],
    }
    # The three read-only commands run at the same time: one process start of latency instead of three.
    procs: dict[str, subprocess.Popen | None] = {}
    for key, args in commands.items():
        try:
            procs[key] = subprocess.Popen(
                ["git", *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
        except OSError:
            procs[key] = None
    out: dict[str, str | None] = {}
    for key, proc in procs.items():
        if proc is None:
            out[key] = None
            continue
        try:
            stdout, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            out[key] = None
            continue
        out[key] = stdout if proc.returncode == 0 else None
    if out["commit"] is None:
        return None
    diff = out["diff"] or ""
    untracked = (out["untracked"] or "").split()
    truncated = len(diff) > _MAX_DIFF_CHARS
    return {
        "commit": out["commit"].strip(),
        "dirty": bool(diff.strip() or untracked),
        "diff": diff[:_MAX_DIFF_CHARS],
        "diff_truncated": truncated,
        "untracked": untracked[:200],
    }


def _maybe_in_git(root: Path) -> bool:
    """False only when certainly outside a git work tree: no ``.git`` in ``root`` or above, no GIT_DIR."""
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        return True
    path = root.resolve()
    return any((folder / ".git").exists() for folder in (path, *path.parents))
