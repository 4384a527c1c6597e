"""Housekeeping of the cache store: ``gc`` of unused entries, abandoned temp folders and orphan lock files."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import time
from pathlib import Path

from runway_for_ml.pipeline.cache_files import (
    KEY_RE,
    LOCK_DIR,
    LOCK_MIN_AGE,
    TMP_PREFIX,
    TRASH_PREFIX,
    CacheEntry,
    tmp_abandoned,
    tree_size,
)

log = logging.getLogger("runway_for_ml.pipeline.cache")


class CacheHousekeeping:
    """``gc`` and the removal of leftovers; mixed into ``CacheStore`` (uses its ``dir``, ``entries``, ``remove``)."""

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
        if not dry_run:
            self._remove_orphan_read_sets(older_than_seconds)
        return removed

    def _remove_orphan_read_sets(self, older_than_seconds: float) -> None:
        """Delete ``.reads/<base_key>.json`` index files that no entry uses any more (not reported: tiny)."""
        folder = self.dir / ".reads"
        try:
            names = [n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith(".")]
        except FileNotFoundError:
            return
        live = {e.meta.get("base_key") for e in self.entries()}
        cutoff = time.time() - older_than_seconds
        for name in names:
            path = folder / name
            with contextlib.suppress(FileNotFoundError):
                if name[: -len(".json")] not in live and path.stat().st_mtime < cutoff:
                    os.unlink(path)

    # -- internals ---------------------------------------------------------------------------------

    def _remove_orphan_locks(self, older_than_seconds: float, dry_run: bool = False) -> list[CacheEntry]:
        """Delete lock files whose key has no entry, unused for ``older_than_seconds`` and not held now.

        A lock file's modification time is its last use (filelock opens it with ``O_TRUNC``). It is
        deleted while held by us, so a process that holds it is never robbed of its lock; the
        minimum age covers a process that has just created the file and not yet locked it.
        """
        import filelock

        cutoff = time.time() - max(older_than_seconds, LOCK_MIN_AGE)
        try:
            items = [Path(p.path) for p in os.scandir(self.dir / LOCK_DIR) if p.name.endswith(".lock")]
        except FileNotFoundError:
            return []
        removed = []
        for path in sorted(items):
            key = path.name[: -len(".lock")]
            try:
                if path.stat().st_mtime >= cutoff or (KEY_RE.match(key) and self.contains(key)):
                    continue
                if not dry_run:
                    with filelock.FileLock(str(path), timeout=0):
                        if KEY_RE.match(key) and self.contains(key):
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
            items = [Path(p.path) for p in os.scandir(self.dir) if p.name.startswith((TMP_PREFIX, TRASH_PREFIX))]
        except FileNotFoundError:
            return removed
        for path in items:
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if path.name.startswith(TRASH_PREFIX):
                abandoned = True  # moved aside by remove()/regenerate; nobody reads it any more
            else:
                abandoned = tmp_abandoned(path, age, host, older_than_seconds)
            if not abandoned:
                continue
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
            removed.append(
                CacheEntry(
                    key=path.name, node="(partial)", path=path, meta={"partial": True, "size_bytes": tree_size(path)}
                )
            )
        return removed
