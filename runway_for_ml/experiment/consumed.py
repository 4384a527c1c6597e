"""Which experiments a config consumes through ``PredictWithExperiment``, and checkpoint content hashes.

``check_no_cycle`` follows the experiment configs (and the files they import) to refuse a chain
of experiments that loops; :func:`checkpoint_sha256` is the memoised hash that enters the
consuming node's cache key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.names import CONFIG_SUFFIX, split_version_name

TRANSFORM_NAME = "PredictWithExperiment"
_IMPORT_RE = re.compile(r"""import(?:str)?\s*['"]([^'"]+)['"]""")


# Hashing a large checkpoint costs a second per GB; remember it per (path, size, mtime).
_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def checkpoint_sha256(path: Path) -> str:
    """SHA-256 of a checkpoint file, memoised in-process and in a ``<file>.sha256`` sidecar keyed by size and mtime."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _SHA_MEMO:
        return _SHA_MEMO[key]
    sidecar = path.with_name(f".{path.name}.sha256.json")
    try:
        saved = json.loads(sidecar.read_text(encoding="utf-8"))
        if saved.get("size") == stat.st_size and saved.get("mtime_ns") == stat.st_mtime_ns:
            _SHA_MEMO[key] = str(saved["sha256"])
            return _SHA_MEMO[key]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    _SHA_MEMO[key] = value
    with contextlib.suppress(OSError):  # a read-only folder only loses the memo
        write_text_atomic(sidecar, json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": value}))
    return value


def check_no_cycle(ref: str, root: Path) -> None:
    """Refuse an experiment that consumes itself, directly or through others (as their configs say now)."""

    start = split_version_name(ref)[0]
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen = {start}
    while stack:
        name, path = stack.pop()
        for consumed in _consumed_names(name, root):
            if consumed == start:
                chain = " -> ".join([*path, start])
                raise RunwayError(
                    f"PredictWithExperiment: experiment '{start}' consumes itself ({chain}); a chain of "
                    "experiments must not loop",
                    hint=f"let configs/experiments/{path[-1]}.jsonnet consume another experiment",
                )
            if consumed not in seen:
                seen.add(consumed)
                stack.append((consumed, [*path, consumed]))


_CONSUMED_MEMO: dict[tuple[str, ...], list[str]] = {}


def _consumed_names(name: str, root: Path) -> list[str]:
    """Experiments named by PredictWithExperiment nodes in ``configs/experiments/<name>.jsonnet``."""

    path = Path(root) / "configs" / "experiments" / f"{name}{CONFIG_SUFFIX}"
    files = _config_files(path)
    if not files:
        return []
    # Evaluating jsonnet costs ~0.1 s; only configs that mention the transform can consume anything.
    texts = {f: f.read_text(encoding="utf-8", errors="replace") for f in files}
    if not any(TRANSFORM_NAME in text for text in texts.values()):
        return []
    memo_key = tuple(f"{f}:{f.stat().st_mtime_ns}" for f in files)
    if memo_key not in _CONSUMED_MEMO:
        from runway_for_ml.config import load_config

        try:
            config = load_config(path, project_root=root).data
        except RunwayError:
            return []  # a broken config is reported when it is itself used
        nodes = ((config.get("data_pipeline") or {}).get("transforms")) or {}
        _CONSUMED_MEMO[memo_key] = [
            split_version_name(str((spec.get("setup_kwargs") or {}).get("experiment")))[0]
            for spec in nodes.values()
            if isinstance(spec, Mapping) and is_this_transform(spec.get("transform_name"))
        ]
    return _CONSUMED_MEMO[memo_key]


def _config_files(path: Path) -> list[Path]:
    """``path`` and the files it imports (relative to it or to the configs/ folder), recursively."""
    if not path.is_file():
        return []
    configs_dir = path.parent.parent
    found: list[Path] = []
    stack = [path]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.append(current)
        try:
            text = current.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for target in _IMPORT_RE.findall(text):
            for base in (current.parent, configs_dir):
                candidate = (base / target).resolve()
                if candidate.is_file():
                    stack.append(candidate)
                    break
    return found


def is_this_transform(name: Any) -> bool:
    return isinstance(name, str) and (name == TRANSFORM_NAME or name.endswith(f".{TRANSFORM_NAME}"))
