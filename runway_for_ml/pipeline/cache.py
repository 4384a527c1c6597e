"""The content-addressed cache of pipeline node outputs.

Each entry lives in its own folder ``<root>/<namespace>/<key>/``::

    meta.json      what the entry is (node, transform, kwargs, input keys, created, seconds, size, rows)
    data/          a datasets.Dataset / DatasetDict written with save_to_disk (loaded memory-mapped)
    tokenizer/     a transformers tokenizer written with save_pretrained (AutoTokenizer loads it)
    data.pkl       any other object, pickled

Guarantees:

- **Atomic entries.** An entry is written into a temporary folder ``.tmp-*`` next to the entries,
  flushed to disk (fsync), completed by writing ``meta.json`` last, and only then renamed to its key.
  A reader therefore sees a complete entry or none; a writer killed half-way leaves only a ``.tmp-*``
  folder, which readers ignore and :meth:`CacheStore.gc` (or a later save) removes.
- **Computed once.** :meth:`CacheStore.get_or_compute` takes a per-key file lock
  (``.locks/<key>.lock``) around check-compute-save, so several processes sharing a cache folder
  (e.g. SLURM jobs) compute a node once; the others wait and load it.

>>> import tempfile
>>> store = CacheStore(tempfile.mkdtemp())
>>> data, hit = store.get_or_compute("k1", lambda: {"rows": [1, 2]}, {"node": "process:Demo"})
>>> hit, store.get_or_compute("k1", lambda: None, {"node": "process:Demo"})[1]
(False, True)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import logging
import os
import pickle
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.datatypes import count_rows, is_hf_dataset

__all__ = ["DEFAULT_NAMESPACE", "DUMMY_NAMESPACE", "CacheEntry", "CacheMiss", "CacheStore"]

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "default"
#: Namespace used in dummy-data mode (``meta.use_dummy_data`` / ``--dummy``), so that small dummy
#: outputs never mix with real ones.
DUMMY_NAMESPACE = "dummy"

META_FILE = "meta.json"
ARROW_DIR = "data"
PICKLE_FILE = "data.pkl"
TOKENIZER_DIR = "tokenizer"
_OWNER_FILE = ".owner"
_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
_LOCK_DIR = ".locks"
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")

# A temp folder without a readable owner, or from another host, is only considered abandoned after
# this long: its writer may still be running (e.g. saving a large dataset on another SLURM node).
_FOREIGN_TMP_MAX_AGE = 6 * 3600.0
_UNOWNED_TMP_MAX_AGE = 600.0
# A lock file younger than this may belong to a process that has created it and is about to lock it.
_LOCK_MIN_AGE = 60.0


class CacheMiss(KeyError):
    """No complete entry exists for the requested key."""


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


class CacheStore:
    """Content-addressed storage of node outputs under ``root/namespace/<key>/``.

    Args:
        root: the cache folder (``meta.default_cache_dir``, default ``local_cache/``).
        namespace: sub-folder separating kinds of runs, e.g. :data:`DUMMY_NAMESPACE` for dummy data.

    >>> import tempfile
    >>> store = CacheStore(tempfile.mkdtemp())
    >>> entry = store.save("abc", [1, 2, 3], {"node": "output:Numbers"})
    >>> store.load("abc"), entry.meta["rows"], entry.meta["format"]
    ([1, 2, 3], 3, 'pickle')
    """

    def __init__(self, root: str | Path, namespace: str = DEFAULT_NAMESPACE) -> None:
        if not namespace or namespace.startswith(".") or "/" in namespace or os.sep in namespace:
            raise RunwayError(
                f"invalid cache namespace '{namespace}'", hint="use a plain folder name such as 'default'"
            )
        self.root = Path(root)
        self.namespace = namespace
        self.dir = self.root / namespace

    def __repr__(self) -> str:
        return f"CacheStore({str(self.root)!r}, namespace={self.namespace!r})"

    # -- reading -----------------------------------------------------------------------------------

    def entry_dir(self, key: str) -> Path:
        """The folder of ``key`` (whether or not it exists)."""
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise RunwayError(
                f"invalid cache key {key!r}",
                hint="keys are hex digests from runway_for_ml.pipeline.fingerprint.node_key",
            )
        return self.dir / key

    def contains(self, key: str) -> bool:
        """True when a complete entry for ``key`` exists."""
        return (self.entry_dir(key) / META_FILE).is_file()

    def load(self, key: str) -> Any:
        """Load the data of ``key``: a Dataset/DatasetDict memory-mapped from its Arrow files, else unpickled.

        Raises:
            CacheMiss: no complete entry for ``key``.
        """
        path = self.entry_dir(key)
        meta = _read_meta(path)
        if meta is None:
            raise CacheMiss(key)
        if meta.get("format") == "arrow":
            import datasets

            try:
                data = datasets.load_from_disk(str(path / ARROW_DIR))
            except FileNotFoundError as exc:  # removed by gc / regenerate while we were loading
                raise CacheMiss(key) from exc
        elif meta.get("format") == "tokenizer":
            if not (path / TOKENIZER_DIR).is_dir():
                raise CacheMiss(key)
            from transformers import AutoTokenizer

            data = AutoTokenizer.from_pretrained(str(path / TOKENIZER_DIR))
        else:
            try:
                with open(path / PICKLE_FILE, "rb") as fh:
                    data = pickle.load(fh)  # the cache holds only what this project wrote
            except FileNotFoundError as exc:
                raise CacheMiss(key) from exc
        # Record the use, so gc --older-than measures time since last use; a read-only cache is fine.
        with contextlib.suppress(OSError):
            os.utime(path / META_FILE)
        return data

    def read_meta(self, key: str) -> dict | None:
        """The ``meta.json`` of ``key``, or None when there is no complete entry."""
        return _read_meta(self.entry_dir(key))

    def entries(self) -> list[CacheEntry]:
        """All complete entries of this namespace, oldest first."""
        found = []
        for path in self._entry_dirs():
            meta = _read_meta(path)
            if meta is not None:
                found.append(CacheEntry(key=path.name, node=str(meta.get("node", "")), path=path, meta=meta))
        found.sort(key=lambda e: (e.created_epoch, e.key))
        return found

    def latest_for_node(self, node: str) -> CacheEntry | None:
        """The newest complete entry whose ``meta.node`` is ``node`` (to explain why a node is stale)."""
        candidates = [e for e in self.entries() if e.node == node]
        return candidates[-1] if candidates else None

    # -- writing -----------------------------------------------------------------------------------

    def save(self, key: str, data: Any, meta: dict) -> CacheEntry:
        """Write ``data`` as the entry ``key`` atomically, replacing an existing entry.

        ``meta`` is what the caller knows (``node``, ``transform``, ``setup_kwargs``, ``input_keys``,
        ``components``, ``seconds``); ``key``, ``format``, ``rows``, ``size_bytes`` and ``created``
        are filled in here.
        """
        final = self.entry_dir(key)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{key[:16]}-", dir=self.dir))
        try:
            # Written under another name and renamed: a folder has a complete .owner or none.
            _write_json(tmp / ".owner.tmp", {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
            os.rename(tmp / ".owner.tmp", tmp / _OWNER_FILE)
            fmt = _write_data(tmp, data)
            full_meta = _complete_meta(key, self.namespace, data, fmt, meta)
            full_meta["size_bytes"] = _tree_size(tmp)
            _fsync_tree(tmp)
            # meta.json last: its presence marks the folder as complete.
            _write_json(tmp / META_FILE, full_meta)
            _fsync_path(tmp)
            self._install(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        with contextlib.suppress(OSError):
            self._remove_leftovers(older_than_seconds=None)
        return CacheEntry(key=key, node=str(full_meta.get("node", "")), path=final, meta=full_meta)

    def get_or_compute(
        self, key: str, compute: Callable[[], Any], meta: dict, *, regenerate: bool = False
    ) -> tuple[Any, bool]:
        """Load ``key`` if cached, else compute, save and return it: ``(data, hit)``.

        Concurrent callers with the same key (in any process sharing the folder) are serialised by a
        file lock: one computes, the others wait and then load its entry. A computed Dataset is
        returned reloaded from the cache (memory-mapped), exactly as a warm run would see it.
        ``regenerate=True`` computes even when an entry exists and atomically replaces it.

        >>> import tempfile
        >>> store = CacheStore(tempfile.mkdtemp())
        >>> store.get_or_compute("k", lambda: 42, {"node": "process:Answer"})
        (42, False)
        """
        if not regenerate:
            found = self._try_load(key)
            if found is not _MISSING:
                return found, True
        with self._lock(key, meta.get("node")):
            if not regenerate:
                found = self._try_load(key)  # another process may have finished while we waited
                if found is not _MISSING:
                    return found, True
            started = time.perf_counter()
            data = compute()
            seconds = time.perf_counter() - started
            entry = self.save(key, data, {**meta, "seconds": round(seconds, 6)})
        if entry.meta.get("format") == "arrow":
            return self.load(key), False
        return data, False

    def remove(self, key: str) -> None:
        """Delete the entry ``key`` (no error when absent). Readers never see it half-deleted."""
        path = self.entry_dir(key)
        trash = self.dir / f"{_TRASH_PREFIX}{key[:16]}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def gc(self, older_than_seconds: float, *, dry_run: bool = False) -> list[CacheEntry]:
        """Remove entries not used (written or loaded) for ``older_than_seconds``, and abandoned temp folders.

        Entries whose lock is held (being recomputed right now) are skipped. Lock files
        (``.locks/<key>.lock``) of keys that have no entry (any more) and were not used for
        ``older_than_seconds`` go too. Returns what was (or, with ``dry_run``, would be) removed;
        abandoned partial writes appear with ``node`` ``"(partial)"``, lock files with ``"(lock)"``.
        """
        cutoff = time.time() - older_than_seconds
        removed: list[CacheEntry] = []
        for entry in self.entries():
            if entry.last_used_epoch >= cutoff:
                continue
            if dry_run:
                removed.append(entry)
                continue
            import filelock

            try:
                lock_path = self._lock_path(entry.key)
                with filelock.FileLock(str(lock_path), timeout=0):
                    self.remove(entry.key)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(lock_path)  # while held: nobody else holds this lock file
            except filelock.Timeout:
                log.info("cache gc: skipping %s, it is locked by a running process", entry.key)
                continue
            removed.append(entry)
        removed.extend(self._remove_leftovers(older_than_seconds=older_than_seconds, dry_run=dry_run))
        removed.extend(self._remove_orphan_locks(older_than_seconds, dry_run=dry_run))
        return removed

    # -- internals ---------------------------------------------------------------------------------

    def _entry_dirs(self) -> Iterator[Path]:
        try:
            with os.scandir(self.dir) as it:
                for item in it:
                    if not item.name.startswith(".") and item.is_dir():
                        yield Path(item.path)
        except FileNotFoundError:
            return

    def _try_load(self, key: str) -> Any:
        if not self.contains(key):
            return _MISSING
        try:
            return self.load(key)
        except CacheMiss:
            return _MISSING
        except Exception as exc:  # an unreadable entry is recomputed, not fatal
            log.warning(
                "cache entry %s of %s cannot be loaded (%s: %s); recomputing it", key, self, type(exc).__name__, exc
            )
            return _MISSING

    def _lock_path(self, key: str) -> Path:
        return self.dir / _LOCK_DIR / f"{key}.lock"

    @contextlib.contextmanager
    def _lock(self, key: str, node: str | None) -> Iterator[None]:
        import filelock

        lock_path = self._lock_path(key)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(lock_path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            log.info("waiting for another process computing %s (lock %s)", node or key, lock_path)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def _install(self, tmp: Path, final: Path) -> None:
        """Rename the complete ``tmp`` folder to ``final``, replacing an existing entry."""
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # An entry is already there (regenerate, or a writer without the lock): move it aside
            # atomically, then put ours in place. Readers in between see no entry, never a partial one.
            trash = self.dir / f"{_TRASH_PREFIX}{final.name[:16]}-{uuid.uuid4().hex[:8]}"
            with contextlib.suppress(FileNotFoundError):
                os.rename(final, trash)
            try:
                os.rename(tmp, final)
            except OSError as again:
                if again.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                # Another writer installed the same key in between; same key, same content: keep theirs.
                shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(trash, ignore_errors=True)
        _fsync_path(self.dir)

    def _remove_orphan_locks(self, older_than_seconds: float, dry_run: bool = False) -> list[CacheEntry]:
        """Delete lock files whose key has no entry, unused for ``older_than_seconds`` and not held now.

        A lock file's modification time is its last use (filelock opens it with ``O_TRUNC``). It is
        deleted while held by us, so a process that holds it is never robbed of its lock; the
        minimum age covers a process that has just created the file and not yet locked it.
        """
        import filelock

        cutoff = time.time() - max(older_than_seconds, _LOCK_MIN_AGE)
        try:
            items = [Path(p.path) for p in os.scandir(self.dir / _LOCK_DIR) if p.name.endswith(".lock")]
        except FileNotFoundError:
            return []
        removed = []
        for path in sorted(items):
            key = path.name[: -len(".lock")]
            try:
                if path.stat().st_mtime >= cutoff or (_KEY_RE.match(key) and self.contains(key)):
                    continue
                if not dry_run:
                    with filelock.FileLock(str(path), timeout=0):
                        if _KEY_RE.match(key) and self.contains(key):
                            continue  # computed while we looked
                        os.unlink(path)
            except (filelock.Timeout, FileNotFoundError):
                continue  # held by a running computation, or gone already
            removed.append(CacheEntry(key=key, node="(lock)", path=path, meta={"lock": True, "size_bytes": 0}))
        return removed

    def _remove_leftovers(self, older_than_seconds: float | None, dry_run: bool = False) -> list[CacheEntry]:
        """Delete temp folders of dead writers and trash folders.

        ``older_than_seconds=None`` is the cautious mode used after every save: only folders that are
        certainly abandoned (writer process dead on this host, or very old) are removed.
        """
        removed = []
        now = time.time()
        host = socket.gethostname()
        try:
            items = [Path(p.path) for p in os.scandir(self.dir) if p.name.startswith((_TMP_PREFIX, _TRASH_PREFIX))]
        except FileNotFoundError:
            return removed
        for path in items:
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if path.name.startswith(_TRASH_PREFIX):
                abandoned = True  # moved aside by remove()/regenerate; nobody reads it any more
            else:
                abandoned = _tmp_abandoned(path, age, host, older_than_seconds)
            if not abandoned:
                continue
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
            removed.append(
                CacheEntry(
                    key=path.name, node="(partial)", path=path, meta={"partial": True, "size_bytes": _tree_size(path)}
                )
            )
        return removed


_MISSING = object()


def _tmp_abandoned(path: Path, age: float, host: str, older_than_seconds: float | None) -> bool:
    """Whether the writer of temp folder ``path`` is gone (so the folder can be deleted)."""
    owner = _read_json(path / _OWNER_FILE)
    if owner is not None and owner.get("host") == host:
        return not _pid_alive(int(owner.get("pid", -1)))  # certain on this host, whatever the age
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


def _write_data(folder: Path, data: Any) -> str:
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


def _complete_meta(key: str, namespace: str, data: Any, fmt: str, meta: dict) -> dict:
    from runway_for_ml.version import __version__

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


def _write_json(path: Path, payload: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())


def _read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            value = json.load(fh)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _read_meta(entry_dir: Path) -> dict | None:
    return _read_json(entry_dir / META_FILE)


def _tree_size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(dirpath, name))
    return total


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder below ``folder`` so a rename never publishes unwritten data."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            _fsync_path(Path(dirpath) / name)
        _fsync_path(Path(dirpath))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
