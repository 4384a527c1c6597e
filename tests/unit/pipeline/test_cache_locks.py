"""`runway cache gc` removes lock files of entries that no longer exist, never a lock in use."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import filelock

from runway_for_ml.cli.main import main
from runway_for_ml.pipeline.cache import CacheStore

META = {"node": "process:Demo"}


def _age(path: Path, days: float) -> None:
    past = time.time() - days * 86400
    os.utime(path, (past, past))


def _locks(store: CacheStore) -> list[str]:
    folder = store.dir / ".locks"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_gc_removes_old_lock_files_without_entries_and_keeps_the_rest(tmp_path):
    store = CacheStore(tmp_path)
    for key in ("kept", "gone", "failed", "recent"):
        store.get_or_compute(key, lambda: [1], META)  # each computation leaves .locks/<key>.lock
    store.remove("gone")  # e.g. removed by hand or by an older gc
    store.remove("failed")
    store.remove("recent")
    for name in ("kept.lock", "gone.lock", "failed.lock"):
        _age(store.dir / ".locks" / name, days=3)
    held = filelock.FileLock(str(store.dir / ".locks" / "failed.lock"))
    held.acquire()  # a computation of "failed" running right now
    try:
        planned = store.gc(86400, dry_run=True)
        assert [(e.node, e.key) for e in planned] == [("(lock)", "failed"), ("(lock)", "gone")]
        assert _locks(store) == ["failed.lock", "gone.lock", "kept.lock", "recent.lock"]  # dry run
        removed = store.gc(86400)
        # "failed" is held: its lock stays; "recent" was used less than a day ago; "kept" has its entry.
        assert [(e.node, e.key) for e in removed] == [("(lock)", "gone")]
        assert _locks(store) == ["failed.lock", "kept.lock", "recent.lock"]
    finally:
        held.release()
    assert store.contains("kept")


def test_removing_an_old_entry_removes_its_lock_file(tmp_path):
    store = CacheStore(tmp_path)
    store.get_or_compute("old", lambda: [1], META)
    meta_path = store.entry_dir("old") / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["created_epoch"] = time.time() - 3 * 86400
    meta_path.write_text(json.dumps(meta))
    _age(meta_path, days=3)
    assert _locks(store) == ["old.lock"]
    assert [(e.node, e.key) for e in store.gc(86400)] == [("process:Demo", "old")]
    assert _locks(store) == []


def test_cli_gc_reports_lock_files_apart_from_entries(tmp_path, capsys):
    store = CacheStore(tmp_path / "cache")
    for key in ("k1", "k2"):
        store.get_or_compute(key, lambda: [1], META)
        store.remove(key)
        _age(store.dir / ".locks" / f"{key}.lock", days=10)
    assert main(["cache", "gc", "--older-than", "7d", "--dry-run", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "would remove 0 entries, 0 B and 2 lock files of entries that no longer exist" in capsys.readouterr().out
    assert main(["cache", "gc", "--older-than", "7d", "--cache-dir", str(tmp_path / "cache"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == []
    assert sorted(Path(p).name for p in report["lock_files_removed"]) == ["k1.lock", "k2.lock"]
    assert _locks(store) == []
