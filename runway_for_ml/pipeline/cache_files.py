"""The on-disk format of a cache entry (see ``pipeline.cache``): file names, ``meta.json``, writing data, fsync.

Also :class:`CacheEntry` (one complete entry as listed) and the test deciding whether a ``.tmp-*``
folder was abandoned by its writer.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import pickle
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.pipeline.datatypes import count_rows, is_hf_dataset
from runway_for_ml.version import __version__

META_FILE = "meta.json"
ARROW_DIR = "data"
PICKLE_FILE = "data.pkl"
TOKENIZER_DIR = "tokenizer"
OWNER_FILE = ".owner"
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
LOCK_DIR = ".locks"
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")

# A temp folder without a readable owner, or from another host, is only considered abandoned after
# this long: its writer may still be running (e.g. saving a large dataset on another SLURM node).
_FOREIGN_TMP_MAX_AGE = 6 * 3600.0
_UNOWNED_TMP_MAX_AGE = 600.0
# A lock file younger than this may belong to a process that has created it and is about to lock it.
LOCK_MIN_AGE = 60.0


@dataclass
class CacheEntry:
    """One complete cache entry: its key, node name, folder and ``meta.json`` content."""

    key: str
    node: str
    path: Path
    meta: dict = field(default_factory=dict)

    @property
    def created_epoch(self) -> float:
        """Creation time (seconds since the epoch)."""
        return float(self.meta.get("created_epoch") or 0.0)

    @property
    def last_used_epoch(self) -> float:
        """Last time the entry was written or loaded (``meta.json``'s mtime, refreshed on load)."""
        try:
            return max(self.created_epoch, (self.path / META_FILE).stat().st_mtime)
        except OSError:
            return self.created_epoch

    @property
    def size_bytes(self) -> int:
        return int(self.meta.get("size_bytes") or 0)

    @property
    def rows(self) -> int | None:
        return self.meta.get("rows")


def tmp_abandoned(path: Path, age: float, host: str, older_than_seconds: float | None) -> bool:
    """Whether the writer of temp folder ``path`` is gone (so the folder can be deleted)."""
    owner = read_json(path / OWNER_FILE)
    if owner is not None and owner.get("host") == host:
        return not pid_alive(int(owner.get("pid", -1)))  # certain on this host, whatever the age
    if owner is None:
        # Killed before writing .owner, or created a moment ago by a live writer: judge by age.
        limit = _UNOWNED_TMP_MAX_AGE if older_than_seconds is None else max(older_than_seconds, 60.0)
    else:
        # Another host's writer: we cannot see its process; gc's --older-than decides, else a long grace.
        limit = _FOREIGN_TMP_MAX_AGE if older_than_seconds is None else older_than_seconds
    return age > limit


def _is_hf_tokenizer(data: Any) -> bool:
    # By module name first, so caching plain objects never imports transformers.
    if not any(getattr(c, "__module__", "").startswith("transformers") for c in type(data).__mro__):
        return False
    from transformers import PreTrainedTokenizerBase

    return isinstance(data, PreTrainedTokenizerBase)


def write_data(folder: Path, data: Any) -> str:
    if is_hf_dataset(data, iterable=False):
        from datasets.utils import logging as ds_logging

        # save_to_disk's progress bar would interleave with the pipeline's own per-node progress.
        was_enabled = ds_logging.is_progress_bar_enabled()
        ds_logging.disable_progress_bar()
        try:
            data.save_to_disk(str(folder / ARROW_DIR))
        finally:
            if was_enabled:
                ds_logging.enable_progress_bar()
        return "arrow"
    if _is_hf_tokenizer(data):
        # A folder any transformers version reads (a pickle may not), and that a person can open.
        data.save_pretrained(str(folder / TOKENIZER_DIR))
        return "tokenizer"
    with open(folder / PICKLE_FILE, "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return "pickle"


def complete_meta(key: str, namespace: str, data: Any, fmt: str, meta: dict) -> dict:

    now = time.time()
    out = dict(meta)
    components = out.get("components") or {}
    for name in ("transform", "setup_kwargs", "input_keys"):
        if name not in out and name in components:
            out[name] = components[name]
    out.setdefault("node", "")
    out.setdefault("seconds", None)
    out.update(
        key=key,
        namespace=namespace,
        format=fmt,
        created=_dt.datetime.fromtimestamp(now, tz=_dt.timezone.utc).isoformat(timespec="seconds"),
        created_epoch=now,
        runway_version=__version__,
        **_describe(data),
    )
    return out


def _describe(data: Any) -> dict:
    """Rows (and splits) of the data, for ``runway cache ls``."""
    rows = count_rows(data)
    if isinstance(rows, dict):  # DatasetDict
        return {"rows": sum(rows.values()), "splits": rows, "type": type(data).__name__}
    return {"rows": rows, "type": type(data).__name__}


def write_json(path: Path, payload: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())


def read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            value = json.load(fh)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_meta_file(entry_dir: Path) -> dict | None:
    return read_json(entry_dir / META_FILE)


def tree_size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(dirpath, name))
    return total


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder below ``folder`` so a rename never publishes unwritten data."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (a pid <= 0 never does)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
