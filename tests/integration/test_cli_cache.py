"""``runway cache ls|gc`` end to end, on real cache entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from runway_for_ml.cli.cache_cmd import human_size, parse_duration
from runway_for_ml.cli.main import main
from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.cache import CacheStore


def _fill(root: Path) -> None:
    store = CacheStore(root)
    store.save(
        "a" * 64,
        datasets.Dataset.from_dict({"x": list(range(1234))}),
        {"node": "input:Load", "transform": "pkg.mod.LoadHFDataset"},
    )
    store.save("b" * 64, {"vocab": [1, 2]}, {"node": "output:Vocab", "transform": "pkg.mod.BuildVocab"})
    CacheStore(root, "dummy").save("c" * 64, [1, 2, 3], {"node": "input:Load", "transform": "pkg.mod.LoadHFDataset"})


def _backdate(root: Path, key: str, days: float, namespace: str = "default") -> None:
    meta_path = root / namespace / key / "meta.json"
    past = time.time() - days * 86400
    meta = json.loads(meta_path.read_text())
    meta["created_epoch"] = past
    meta_path.write_text(json.dumps(meta))
    os.utime(meta_path, (past, past))


def test_ls_table_lists_every_namespace(tmp_path, capsys):
    _fill(tmp_path / "cache")
    assert main(["cache", "ls", "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    for text in (
        "input:Load",
        "output:Vocab",
        "LoadHFDataset",
        "BuildVocab",
        "aaaaaaaaaaaa",
        "1,234",
        "dummy",
        "3 entries",
    ):
        assert text in out, text


def test_ls_json_and_namespace_filter(tmp_path, capsys):
    _fill(tmp_path / "cache")
    assert main(["cache", "ls", "--cache-dir", str(tmp_path / "cache"), "--namespace", "default", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["node"] for r in rows) == ["input:Load", "output:Vocab"]
    load = next(r for r in rows if r["node"] == "input:Load")
    assert load["rows"] == 1234 and load["size_bytes"] > 0 and load["namespace"] == "default"
    assert load["key"] == "a" * 64 and Path(load["path"]).is_dir()


def test_ls_empty_cache(tmp_path, capsys):
    assert main(["cache", "ls", "--cache-dir", str(tmp_path / "nothing")]) == 0
    assert "no cache entries" in capsys.readouterr().out


def test_gc_removes_only_entries_unused_for_longer_than_the_duration(tmp_path, capsys):
    root = tmp_path / "cache"
    _fill(root)
    _backdate(root, "a" * 64, days=10)
    assert main(["cache", "gc", "--older-than", "7d", "--dry-run", "--cache-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "would remove 1 entries" in out and "input:Load" in out
    assert CacheStore(root).contains("a" * 64)

    assert main(["cache", "gc", "--older-than", "7d", "--cache-dir", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in report["removed"]] == ["a" * 64] and report["dry_run"] is False
    assert not CacheStore(root).contains("a" * 64)
    assert CacheStore(root).contains("b" * 64) and CacheStore(root, "dummy").contains("c" * 64)


def test_bad_duration_exits_2_with_an_example(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runway_for_ml.cli.main",
            "cache",
            "gc",
            "--older-than",
            "7x",
            "--cache-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "invalid duration '7x'" in proc.stderr and "7d" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_parse_duration_and_human_size():
    assert parse_duration("90s") == 90 and parse_duration("30m") == 1800
    assert parse_duration("12h") == 43200 and parse_duration("7d") == 7 * 86400 and parse_duration("1.5h") == 5400
    for bad in ("7", "d", "-1d", "7 days", ""):
        with pytest.raises(RunwayError):
            parse_duration(bad)
    assert human_size(0) == "0 B" and human_size(1536) == "1.5 KB" and human_size(3 * 1024**3) == "3.0 GB"


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "configs").mkdir(parents=True)
    (root / ".runway").touch()
    (root / "sub").mkdir()
    (root / "configs" / "c.jsonnet").write_text('{ meta: { default_cache_dir: "shared_cache" } }\n')
    return root


def test_default_cache_dir_is_local_cache_in_the_project_root(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path)
    CacheStore(root / "local_cache").save("d" * 64, [1], {"node": "output:X"})
    monkeypatch.chdir(root / "sub")
    assert main(["cache", "ls"]) == 0
    assert "output:X" in capsys.readouterr().out


def test_config_default_cache_dir_is_used(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path)
    CacheStore(root / "shared_cache").save("e" * 64, [1], {"node": "output:FromConfig"})
    monkeypatch.chdir(root / "sub")
    assert main(["cache", "ls", "--config", str(root / "configs" / "c.jsonnet"), "--json"]) == 0
    assert [r["node"] for r in json.loads(capsys.readouterr().out)] == ["output:FromConfig"]
