"""The content-addressed cache of pipeline node outputs.

Each entry lives in its own folder ``<root>/<namespace>/<key>/``::

    meta.json      what the entry is (node, transform, kwargs, input keys, config reads, created, seconds,
                   size, rows, and the content digest of the data)
    data/          a datasets.Dataset / DatasetDict written with save_to_disk (loaded memory-mapped)
    tokenizer/     a transformers tokenizer written with save_pretrained (AutoTokenizer loads it)
    data.pkl       any other object, pickled

Guarantees:

- **Atomic entries.** An entry is written into a temporary folder ``.tmp-*`` next to the entries,
  flushed to disk (fsync), completed by writing ``meta.json`` last, and only then renamed to its key.
  A reader therefore sees a complete entry or none; a writer killed half-way leaves only a ``.tmp-*``
  folder, which readers ignore and :meth:`CacheStore.gc` (or a later save) removes.
- **New objects on every load.** :meth:`CacheStore.load` returns new objects each time (memory-mapped
  Arrow, unpickled values): changing them in memory never reaches the entry.
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
import errno
import logging
import os
import pickle
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.cache_files import (
    ARROW_DIR,
    KEY_RE,
    LOCK_DIR,
    META_FILE,
    OWNER_FILE,
    PICKLE_FILE,
    TMP_PREFIX,
    TOKENIZER_DIR,
    TRASH_PREFIX,
    CacheEntry,
    complete_meta,
    fsync_path,
    fsync_tree,
    read_json,
    read_meta_file,
    tree_size,
    write_data,
    write_json,
)
from runway_for_ml.pipeline.cache_gc import CacheHousekeeping
from runway_for_ml.pipeline.digest import content_digest

__all__ = ["DEFAULT_NAMESPACE", "DUMMY_NAMESPACE", "CacheEntry", "CacheMiss", "CacheStore"]

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "default"
#: Namespace used in dummy-data mode (``meta.use_dummy_data`` / ``--dummy``), so that small dummy
#: outputs never mix with real ones.
DUMMY_NAMESPACE = "dummy"


class CacheMiss(KeyError):
    """No complete entry exists for the requested key."""


class CacheStore(CacheHousekeeping):
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
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise RunwayError(
                f"invalid cache key {key!r}",
                hint="keys are hex digests from runway_for_ml.pipeline.fingerprint.node_key",
            )
        return self.dir / key

    def contains(self, key: str) -> bool:
        """True when a complete entry for ``key`` exists."""
        return (self.entry_dir(key) / META_FILE).is_file()

    def load(self, key: str, *, touch: bool = True) -> Any:
        """Load the data of ``key``: a Dataset/DatasetDict memory-mapped from its Arrow files, else unpickled.

        Every call returns new objects: changing them in memory never changes the entry or what the
        next ``load`` returns. ``touch=False`` leaves ``meta.json``'s time alone (``runway cache verify``).

        Raises:
            CacheMiss: no complete entry for ``key``.
        """
        path = self.entry_dir(key)
        meta = read_meta_file(path)
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
        if touch:
            with contextlib.suppress(OSError):
                os.utime(path / META_FILE)
        return data

    def set_digest(self, key: str, digest: dict) -> None:
        """Add ``digest`` to the ``meta.json`` of an entry written before digests were recorded (atomic)."""
        path = self.entry_dir(key)
        meta = read_meta_file(path)
        if meta is None:
            raise CacheMiss(key)
        meta["digest"] = digest
        tmp = path / f".{META_FILE}.{uuid.uuid4().hex[:8]}"
        write_json(tmp, meta)
        os.replace(tmp, path / META_FILE)

    # -- config reads ------------------------------------------------------------------------------

    def read_sets(self, base_key: str) -> list[list[str]]:
        """The sets of ``global_config`` key paths that runs of the node with ``base_key`` read, newest first.

        A node that reads config values is stored under a key made of its base key *and* those values
        (see ``pipeline.runner``); this small index (``.reads/<base_key>.json``) says which paths to
        look up to find its entry. Nodes that read nothing have no index file.
        """
        found = read_json(self._reads_path(base_key))
        sets = (found or {}).get("read_sets") or []
        return [list(s) for s in sets if isinstance(s, list)]

    def bases_with_read_sets(self) -> list[str]:
        """The base keys that have a read-set index (nodes that read ``global_config``)."""
        try:
            names = os.listdir(self.dir / _READS_DIR)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [name[: -len(".json")] for name in names if name.endswith(".json") and not name.startswith(".")]

    def add_read_set(self, base_key: str, paths: list[str]) -> None:
        """Record that a run of ``base_key`` read ``paths`` (kept newest first, atomic replace)."""
        paths = sorted(paths)
        sets = [s for s in self.read_sets(base_key) if sorted(s) != paths]
        target = self._reads_path(base_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
        write_json(tmp, {"read_sets": [paths, *sets][:_MAX_READ_SETS]})
        os.replace(tmp, target)

    def _reads_path(self, base_key: str) -> Path:
        return self.dir / _READS_DIR / f"{self.entry_dir(base_key).name}.json"

    def lock(self, key: str, node: str | None = None) -> Any:
        """The per-key file lock (a context manager) that serialises computing ``key`` across processes."""
        return self._lock(key, node)

    def read_meta(self, key: str) -> dict | None:
        """The ``meta.json`` of ``key``, or None when there is no complete entry."""
        return read_meta_file(self.entry_dir(key))

    def entries(self) -> list[CacheEntry]:
        """All complete entries of this namespace, oldest first."""
        found = []
        for path in self._entry_dirs():
            meta = read_meta_file(path)
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
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{key[:16]}-", dir=self.dir))
        try:
            # Written under another name and renamed: a folder has a complete .owner or none.
            write_json(tmp / ".owner.tmp", {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
            os.rename(tmp / ".owner.tmp", tmp / OWNER_FILE)
            fmt = write_data(tmp, data)
            full_meta = complete_meta(key, self.namespace, data, fmt, meta)
            # What the data is (not how it is stored), so `runway cache verify` can compare a recomputation.
            full_meta["digest"] = content_digest(data, tmp / TOKENIZER_DIR if fmt == "tokenizer" else None)
            full_meta["size_bytes"] = tree_size(tmp)
            fsync_tree(tmp)
            # meta.json last: its presence marks the folder as complete.
            write_json(tmp / META_FILE, full_meta)
            fsync_path(tmp)
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
        trash = self.dir / f"{TRASH_PREFIX}{key[:16]}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

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
        return self.dir / LOCK_DIR / f"{key}.lock"

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
            trash = self.dir / f"{TRASH_PREFIX}{final.name[:16]}-{uuid.uuid4().hex[:8]}"
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
        fsync_path(self.dir)


_MISSING = object()
_READS_DIR = ".reads"
_MAX_READ_SETS = 16
