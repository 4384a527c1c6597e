"""One place where every benchmark records its figures: ``benchmarks/results.json``.

A benchmark script (run as ``python benchmarks/bench_x.py``, so this folder is on ``sys.path``) calls::

    from _results import record, skip

    record("bench_x", "runway / baseline req/s", 1.23, target=">= 1.00", passed=True,
           anchor="LitServe 0.2, fast_queue, 2 API servers", spread=[1.10, 1.31], unit="x")
    skip("bench_x", "no SLURM cluster")   # records the reason, exits with SKIPPED (77)

Each figure keeps its anchor (what it is measured against), its target, whether it passed, its spread
(min and max over the rounds, where there are rounds), the machine (cores, load average) and the date.
The first ``record`` of a process replaces the figures an earlier run of the same benchmark left, so
the file always holds each benchmark's latest run. ``python benchmarks/render_performance.py``
turns the file into ``docs/performance.md``.

``RUNWAY_BENCH_RESULTS`` points elsewhere (tests, a scratch run).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

SKIPPED = 77  # the exit code of a benchmark whose service (a SLURM cluster, a browser) is absent
_cleared: set[str] = set()


def results_path() -> Path:
    return Path(os.environ.get("RUNWAY_BENCH_RESULTS") or Path(__file__).with_name("results.json"))


def machine() -> dict[str, Any]:
    """Cores, load average and date of the measurement: on a shared machine the load explains a lot."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cores": os.cpu_count(),
        "load_average": load,
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _update(bench: str, change) -> None:
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # The lock lives in the temp folder: nothing but results.json is left in the repository.
    with open(Path(tempfile.gettempdir()) / "runway-bench-results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several benchmarks may run at once
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError:
            data = {}
        benches = data.setdefault("benchmarks", {})
        change(benches)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)


def record(
    bench: str,
    figure: str,
    value: float,
    *,
    target: str | None = None,
    passed: bool | None = None,
    anchor: str = "",
    spread: list[float] | tuple[float, float] | None = None,
    unit: str = "",
    note: str = "",
) -> None:
    """Record one figure of ``bench`` (the script's name without ``.py``).

    ``target`` is the text of the target (``"<= 1.10"``); ``passed`` None means "no target, shown for
    context". ``spread`` is (min, max) over the rounds.
    """
    entry = {
        "figure": figure,
        "value": value,
        "unit": unit,
        "anchor": anchor,
        "target": target,
        "passed": passed,
        "spread": [spread[0], spread[1]] if spread is not None else None,
        "note": note,
    }

    def change(benches: dict) -> None:
        if bench not in _cleared or benches.get(bench, {}).get("status") == "skipped":
            benches[bench] = {"status": "ran", "machine": machine(), "figures": []}
            _cleared.add(bench)
        figures = [f for f in benches[bench]["figures"] if f["figure"] != figure]
        benches[bench]["figures"] = [*figures, entry]
        benches[bench]["machine"]["load_average_end"] = machine()["load_average"]

    _update(bench, change)


def skip(bench: str, reason: str) -> None:
    """Say why ``bench`` cannot run here, record it, and exit with ``SKIPPED``."""
    print(f"SKIPPED {bench}: {reason}", flush=True)

    def change(benches: dict) -> None:
        benches[bench] = {"status": "skipped", "reason": reason, "machine": machine(), "figures": []}

    _update(bench, change)
    sys.exit(SKIPPED)


def spread(values: list[float]) -> list[float]:
    return [min(values), max(values)]


def overlap(a: list[float], b: list[float]) -> bool:
    """Whether the ranges (min..max) of two sets of timings overlap: then neither is faster."""
    return min(a) <= max(b) and min(b) <= max(a)
