"""benchmarks/_results.py and benchmarks/render_performance.py: what `make bench` records and publishes."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setenv("RUNWAY_BENCH_RESULTS", str(tmp_path / "results.json"))
    module = importlib.reload(importlib.import_module("_results"))
    return module, tmp_path / "results.json"


def test_record_keeps_the_latest_run_and_skip_exits_77(results, capsys):
    mod, path = results
    # A figure left by an earlier run of the same benchmark is replaced, another benchmark's kept.
    path.write_text(
        json.dumps(
            {
                "benchmarks": {
                    "bench_a": {"status": "ran", "machine": {}, "figures": [{"figure": "old figure", "value": 9.0}]},
                    "bench_b": {"status": "ran", "machine": {}, "figures": []},
                }
            }
        )
    )
    mod.record(
        "bench_a",
        "ours / theirs",
        1.2,
        unit="x",
        anchor="theirs",
        target="<= 1.00",
        passed=False,
        spread=[1.1, 1.4],
        note="slower",
    )
    mod.record("bench_a", "context", 3.0, unit="s")
    with pytest.raises(SystemExit) as exit_info:
        mod.skip("bench_c", "no SLURM cluster")
    assert exit_info.value.code == mod.SKIPPED == 77
    assert "SKIPPED bench_c: no SLURM cluster" in capsys.readouterr().out
    data = json.loads(path.read_text())["benchmarks"]
    assert [f["figure"] for f in data["bench_a"]["figures"]] == ["ours / theirs", "context"]
    assert data["bench_a"]["figures"][0]["passed"] is False and data["bench_a"]["figures"][0]["spread"] == [1.1, 1.4]
    assert data["bench_a"]["machine"]["cores"] >= 1 and "UTC" in data["bench_a"]["machine"]["date"]
    assert "bench_b" in data
    assert data["bench_c"]["status"] == "skipped" and data["bench_c"]["reason"] == "no SLURM cluster"


def test_overlap_is_parity():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from _results import overlap
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert overlap([1.0, 2.0], [1.9, 3.0]) and not overlap([1.0, 1.5], [1.6, 2.0])


def test_render_shows_every_figure_its_anchor_target_result_and_machine(results, tmp_path):
    mod, path = results
    mod.record(
        "bench_a",
        "ours / theirs",
        1.2,
        unit="x",
        anchor="LitServe, fast_queue",
        target=">= 1.00",
        passed=False,
        spread=[1.1, 1.4],
    )
    with pytest.raises(SystemExit):
        mod.skip("bench_c", "no chromium")
    render = importlib.import_module("render_performance")
    out = tmp_path / "performance.md"
    sys_argv = sys.argv
    sys.argv = ["render_performance.py", "--results", str(path), "--out", str(out)]
    try:
        assert render.main() == 0
    finally:
        sys.argv = sys_argv
    page = out.read_text()
    assert "| ours / theirs | 1.2x | 1.1x - 1.4x | LitServe, fast_queue | >= 1.00 | **MISS** |" in page
    assert "## bench_c" in page and "Skipped: no chromium" in page
    assert "cores" in page and "load average" in page
