"""CacheStore: round trips through real Arrow / pickle entries, memory mapping, atomicity, gc."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import datasets
import pytest

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.cache import DUMMY_NAMESPACE, CacheMiss, CacheStore


def _dataset(n: int = 10) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"x": list(range(n)), "text": [f"row {i}" for i in range(n)]})


META = {"node": "process:Demo", "transform": "m.Demo", "setup_kwargs": {"k": 1}, "input_keys": ["up"]}


def test_dataset_round_trip_is_memory_mapped(tmp_path):
    store = CacheStore(tmp_path)
    entry = store.save("k1", _dataset(), META)
    assert entry.path == tmp_path / "default" / "k1"
    assert (entry.path / "meta.json").is_file()
    loaded = store.load("k1")
    assert isinstance(loaded, datasets.Dataset)
    assert loaded.to_dict() == _dataset().to_dict()
    # Memory-mapped from the entry's Arrow files, not read into RAM.
    assert loaded.cache_files and all(str(entry.path) in f["filename"] for f in loaded.cache_files)
    assert loaded._data.__class__.__name__ == "MemoryMappedTable"


def test_dataset_dict_round_trip(tmp_path):
    store = CacheStore(tmp_path)
    dd = datasets.DatasetDict(train=_dataset(8), test=_dataset(2))
    entry = store.save("k2", dd, META)
    loaded = store.load("k2")
    assert isinstance(loaded, datasets.DatasetDict)
    assert {k: v.to_dict() for k, v in loaded.items()} == {k: v.to_dict() for k, v in dd.items()}
    assert loaded["train"].cache_files
    assert entry.meta["rows"] == 10 and entry.meta["splits"] == {"train": 8, "test": 2}
    assert entry.meta["format"] == "arrow"


def test_plain_object_round_trip_is_pickled(tmp_path):
    store = CacheStore(tmp_path)
    obj = {"vocab": ["a", "b"], "weights": (1.5, 2.5)}
    entry = store.save("k3", obj, META)
    assert store.load("k3") == obj
    assert entry.meta["format"] == "pickle" and (entry.path / "data.pkl").is_file()


def test_meta_json_fields(tmp_path):
    store = CacheStore(tmp_path)
    store.save("k4", _dataset(5), {**META, "seconds": 0.5})
    meta = json.loads((tmp_path / "default" / "k4" / "meta.json").read_text())
    for field in ("node", "transform", "setup_kwargs", "input_keys", "created", "created_epoch", "seconds"):
        assert field in meta
    assert meta["rows"] == 5 and meta["size_bytes"] > 0 and meta["key"] == "k4"
    assert meta["setup_kwargs"] == {"k": 1} and meta["input_keys"] == ["up"]


def test_meta_fields_default_from_components(tmp_path):
    components = {"transform": "m.T", "version": "1", "setup_kwargs": {"a": 2}, "input_keys": ["x"]}
    entry = CacheStore(tmp_path).save("k5", [1], {"node": "output:T", "components": components})
    assert entry.meta["transform"] == "m.T" and entry.meta["setup_kwargs"] == {"a": 2}
    assert entry.meta["input_keys"] == ["x"] and entry.meta["components"] == components


def test_missing_key_is_a_cache_miss(tmp_path):
    store = CacheStore(tmp_path)
    assert not store.contains("nope")
    with pytest.raises(CacheMiss):
        store.load("nope")


def test_invalid_keys_and_namespaces_are_refused(tmp_path):
    store = CacheStore(tmp_path)
    for bad in ("../escape", ".hidden", "", "a/b"):
        with pytest.raises(RunwayError):
            store.entry_dir(bad)
    with pytest.raises(RunwayError):
        CacheStore(tmp_path, namespace="../x")


def test_get_or_compute_computes_once_and_returns_the_memory_mapped_copy(tmp_path):
    store = CacheStore(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return _dataset(4)

    data, hit = store.get_or_compute("k6", compute, META)
    assert not hit and len(calls) == 1
    assert data.cache_files, "a fresh result should be the reloaded, memory-mapped entry"
    data2, hit2 = store.get_or_compute("k6", compute, META)
    assert hit2 and len(calls) == 1
    assert data2.to_dict() == data.to_dict()
    assert store.read_meta("k6")["seconds"] >= 0


def test_regenerate_recomputes_and_replaces(tmp_path):
    store = CacheStore(tmp_path)
    store.get_or_compute("k7", lambda: [1], META)
    data, hit = store.get_or_compute("k7", lambda: [2], META, regenerate=True)
    assert (data, hit) == ([2], False)
    assert store.load("k7") == [2]
    assert [p.name for p in (tmp_path / "default").iterdir() if not p.name.startswith(".")] == ["k7"]
    assert not [p for p in (tmp_path / "default").iterdir() if p.name.startswith((".tmp-", ".trash-"))]


def test_a_failing_compute_leaves_nothing(tmp_path):
    store = CacheStore(tmp_path)

    def boom():
        raise ValueError("transform failed")

    with pytest.raises(ValueError):
        store.get_or_compute("k8", boom, META)
    assert not store.contains("k8")
    assert store.entries() == []


def test_an_unreadable_entry_is_recomputed(tmp_path):
    store = CacheStore(tmp_path)
    entry = store.save("k9", [1, 2], META)
    (entry.path / "data.pkl").write_bytes(b"not a pickle")
    data, hit = store.get_or_compute("k9", lambda: [1, 2], META)
    assert (data, hit) == ([1, 2], False)
    assert store.load("k9") == [1, 2]


def test_namespaces_are_separate(tmp_path):
    CacheStore(tmp_path).save("k", [1], META)
    dummy = CacheStore(tmp_path, DUMMY_NAMESPACE)
    assert not dummy.contains("k")
    dummy.save("k", [2], META)
    assert CacheStore(tmp_path).load("k") == [1] and dummy.load("k") == [2]


def test_latest_for_node_picks_the_newest_entry_of_that_node(tmp_path):
    store = CacheStore(tmp_path)
    store.save("old", [1], {**META, "setup_kwargs": {"k": 1}})
    time.sleep(0.01)
    store.save("new", [2], {**META, "setup_kwargs": {"k": 2}})
    store.save("other", [3], {**META, "node": "process:Other"})
    latest = store.latest_for_node("process:Demo")
    assert latest is not None and latest.key == "new" and latest.meta["setup_kwargs"] == {"k": 2}
    assert store.latest_for_node("process:Other").key == "other"
    assert store.latest_for_node("process:Missing") is None


def test_temp_and_incomplete_dirs_are_ignored(tmp_path):
    store = CacheStore(tmp_path)
    store.save("good", [1], META)
    ns = tmp_path / "default"
    (ns / ".tmp-partial-abc").mkdir()
    (ns / ".tmp-partial-abc" / "data.pkl").write_bytes(b"half")
    (ns / "nometa").mkdir()  # a folder without meta.json is not an entry
    (ns / "nometa" / "data.pkl").write_bytes(b"x")
    assert [e.key for e in store.entries()] == ["good"]
    assert not store.contains("nometa")
    with pytest.raises(CacheMiss):
        store.load("nometa")


def test_gc_removes_old_entries_and_dead_writers_temp_dirs(tmp_path):
    store = CacheStore(tmp_path)
    store.save("old", [1], META)
    store.save("fresh", [2], META)
    old_meta = tmp_path / "default" / "old" / "meta.json"
    past = time.time() - 3 * 86400
    meta = json.loads(old_meta.read_text())
    meta["created_epoch"] = past
    old_meta.write_text(json.dumps(meta))
    os.utime(old_meta, (past, past))

    # A temp folder whose writer process is dead (a finished child's pid), and one from a live writer.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    for name, pid in ((".tmp-dead", int(dead.stdout)), (".tmp-live", os.getpid())):
        (tmp_path / "default" / name).mkdir()
        (tmp_path / "default" / name / ".owner").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))

    planned = store.gc(86400, dry_run=True)
    assert sorted(e.key for e in planned) == [".tmp-dead", "old"]
    assert store.contains("old") and (tmp_path / "default" / ".tmp-dead").exists()

    removed = store.gc(86400)
    assert sorted(e.key for e in removed) == [".tmp-dead", "old"]
    assert not store.contains("old") and store.contains("fresh")
    assert not (tmp_path / "default" / ".tmp-dead").exists()
    assert (tmp_path / "default" / ".tmp-live").exists()


def test_loading_refreshes_last_use_so_gc_keeps_used_entries(tmp_path):
    store = CacheStore(tmp_path)
    entry = store.save("used", [1], META)
    past = time.time() - 3 * 86400
    os.utime(entry.path / "meta.json", (past, past))
    store.load("used")
    assert store.gc(86400) == []
    assert store.contains("used")


def test_remove(tmp_path):
    store = CacheStore(tmp_path)
    store.save("k", [1], META)
    store.remove("k")
    store.remove("k")  # absent: no error
    assert not store.contains("k")
    assert not list((tmp_path / "default").glob(".trash-*"))


def test_plain_objects_do_not_import_datasets(tmp_path):
    script = (
        "import sys; from runway_for_ml.pipeline.cache import CacheStore; "
        f"s = CacheStore({str(tmp_path)!r}); s.get_or_compute('k', lambda: [1], {{'node': 'n'}}); "
        "s.load('k'); s.entries(); print('datasets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
