"""Cache benchmarks (issue 2, targets #1 and #3), measured side by side in one run.

#1  Warm re-run of a 4-node pipeline over 1,000,000 rows vs the cold run: ratio <= 0.02.
#3  Loading a cached 1M-row dataset: <= 0.1 s and peak RSS growth < 100 MB (memory-mapped),
    measured in a fresh subprocess from /proc/self/status (VmHWM), next to a fully in-memory load.

Run:  .venv/bin/python benchmarks/bench_cache.py [--rows 1000000]
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import datasets
import numpy as np
from _results import record

from runway_for_ml.pipeline.cache import CacheStore
from runway_for_ml.pipeline.transform import BaseTransform, register_transform_functor

WARM_TARGET = 0.02
LOAD_SECONDS_TARGET = 0.1
RSS_GROWTH_TARGET_MB = 100.0


@register_transform_functor
class BenchMakeRows(BaseTransform):
    """input: ``rows`` rows of ids, a float feature and a short label."""

    def setup(self, rows: int = 1000, seed: int = 0) -> None:
        self.rows, self.seed = rows, seed

    def _call(self, data):
        rng = np.random.default_rng(self.seed)
        return datasets.Dataset.from_dict(
            {
                "id": np.arange(self.rows, dtype=np.int64),
                "value": rng.normal(size=self.rows),
                "label": rng.integers(0, 10, size=self.rows),
            }
        )


@register_transform_functor
class BenchAddFeatures(BaseTransform):
    def _call(self, data):
        return data.map(
            lambda b: {"value_sq": [v * v for v in b["value"]], "even": [i % 2 == 0 for i in b["id"]]},
            batched=True,
            batch_size=10_000,
        )


@register_transform_functor
class BenchFilter(BaseTransform):
    def setup(self, keep_labels=(0, 1, 2, 3, 4, 5, 6)) -> None:
        self.keep = set(keep_labels)

    def _call(self, data):
        return data.filter(lambda b: [x in self.keep for x in b["label"]], batched=True, batch_size=10_000)


@register_transform_functor
class BenchSelect(BaseTransform):
    def _call(self, data):
        return data.select_columns(["id", "value_sq", "label"])


def _pipeline_config(cache_dir: Path, rows: int) -> dict:
    return {
        "meta": {"default_cache_dir": str(cache_dir)},
        "data_pipeline": {
            "name": "bench",
            "transforms": {
                "input:Rows": {"transform_name": "BenchMakeRows", "setup_kwargs": {"rows": rows}},
                "process:Features": {"transform_name": "BenchAddFeatures", "input_node": "input:Rows"},
                "process:Filter": {"transform_name": "BenchFilter", "input_node": "process:Features"},
                "output:Table": {"transform_name": "BenchSelect", "input_node": "process:Filter"},
            },
        },
    }


def bench_warm_vs_cold(workdir: Path, rows: int) -> tuple[float, float, int]:
    from runway_for_ml.pipeline.runner import DataPipeline

    config = _pipeline_config(workdir / "pipeline_cache", rows)
    started = time.perf_counter()
    cold = DataPipeline(config).get_data(["output:Table"])["output:Table"]
    cold_s = time.perf_counter() - started
    warm_times = []
    for _ in range(3):  # a fresh DataPipeline each time, as a new run would build it
        started = time.perf_counter()
        warm = DataPipeline(config).get_data(["output:Table"])["output:Table"]
        warm_times.append(time.perf_counter() - started)
    assert warm.num_rows == cold.num_rows and warm[:5] == cold[:5], "warm run returned different data"
    return cold_s, min(warm_times), cold.num_rows


_LOADER = textwrap.dedent(
    """
    import json, sys, time
    import datasets
    from runway_for_ml.pipeline.cache import CacheStore

    def status(field):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB -> MB
        raise RuntimeError(field)

    root, key, mode = sys.argv[1:4]
    store = CacheStore(root)
    try:  # reset the peak to the current RSS, so the peak below is the load's own
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    before_peak, before_rss, before_anon = status("VmHWM"), status("VmRSS"), status("RssAnon")
    started = time.perf_counter()
    if mode == "mmap":
        ds = store.load(key)
    else:
        ds = datasets.load_from_disk(str(store.entry_dir(key) / "data"), keep_in_memory=True)
    n, first, last = ds.num_rows, ds[0], ds[-1]
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": n, "rss_growth_mb": status("VmHWM") - max(before_peak, before_rss),
                      "anon_growth_mb": status("RssAnon") - before_anon,
                      "memory_mapped": bool(ds.cache_files) and mode == "mmap"}))
    """
)


def bench_load(workdir: Path, rows: int) -> dict[str, dict]:
    store = CacheStore(workdir / "load_cache")
    rng = np.random.default_rng(0)
    data = datasets.Dataset.from_dict(
        {
            "id": np.arange(rows, dtype=np.int64),
            "x": rng.normal(size=rows),
            "y": rng.normal(size=rows),
            "text": [f"row number {i}" for i in range(rows)],
        }
    )
    store.save("bench1m", data, {"node": "input:Bench"})
    del data
    script = workdir / "loader.py"
    script.write_text(_LOADER)
    results = {}
    for mode in ("mmap", "in_memory"):
        runs = []
        for _ in range(3):
            out = subprocess.run(
                [sys.executable, str(script), str(store.root), "bench1m", mode],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        worst = {k: max(r[k] for r in runs) for k in ("rss_growth_mb", "anon_growth_mb")}
        results[mode] = min(runs, key=lambda r: r["seconds"]) | worst
    results["size_mb"] = {"value": store.read_meta("bench1m")["size_bytes"] / 2**20}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench_cache_") as tmp:
        workdir = Path(tmp)

        cold_s, warm_s, out_rows = bench_warm_vs_cold(workdir, args.rows)
        ratio = warm_s / cold_s
        ok = ratio <= WARM_TARGET
        failed |= not ok
        print(f"#1 4-node pipeline over {args.rows:,} rows ({out_rows:,} output rows)")
        print(f"   cold run {cold_s:.3f} s | warm re-run {warm_s * 1000:.1f} ms")
        print(f"   warm/cold = {ratio:.4f} (target <= {WARM_TARGET}) {'PASS' if ok else 'FAIL'}")
        record(
            "bench_cache",
            f"warm re-run / cold run, 4-node pipeline, {args.rows:,} rows",
            round(ratio, 4),
            unit="x",
            anchor=f"the same pipeline's cold run ({cold_s:.1f} s)",
            target=f"<= {WARM_TARGET}",
            passed=ok,
        )

        res = bench_load(workdir, args.rows)
        mm, mem = res["mmap"], res["in_memory"]
        ok_t = mm["seconds"] <= LOAD_SECONDS_TARGET
        ok_m = mm["rss_growth_mb"] < RSS_GROWTH_TARGET_MB and mm["memory_mapped"]
        failed |= not (ok_t and ok_m)
        print(f"#3 load a cached {mm['rows']:,}-row dataset ({res['size_mb']['value']:.0f} MB on disk), fresh process")
        print(
            f"   CacheStore.load (memory-mapped): {mm['seconds'] * 1000:.1f} ms, peak RSS growth "
            f"{mm['rss_growth_mb']:.1f} MB (private/anonymous {mm['anon_growth_mb']:.1f} MB; the rest are "
            "shared page-cache pages of the mapped file)"
        )
        print(
            f"   load_from_disk(keep_in_memory=True), for comparison: {mem['seconds'] * 1000:.1f} ms, "
            f"peak RSS growth {mem['rss_growth_mb']:.1f} MB (private {mem['anon_growth_mb']:.1f} MB)"
        )
        print(f"   load time {mm['seconds']:.4f} s (target <= {LOAD_SECONDS_TARGET} s) {'PASS' if ok_t else 'FAIL'}")
        print(
            f"   RSS growth {mm['rss_growth_mb']:.1f} MB (target < {RSS_GROWTH_TARGET_MB:.0f} MB, memory-mapped: "
            f"{mm['memory_mapped']}) {'PASS' if ok_m else 'FAIL'}"
        )
        record(
            "bench_cache",
            f"load a cached {mm['rows']:,}-row dataset (memory-mapped)",
            round(mm["seconds"], 4),
            unit="s",
            anchor=f"load_from_disk(keep_in_memory=True): {mem['seconds']:.3f} s",
            target=f"<= {LOAD_SECONDS_TARGET} s",
            passed=ok_t,
        )
        record(
            "bench_cache",
            "peak RSS growth of that load",
            round(mm["rss_growth_mb"], 1),
            unit="MB",
            anchor=f"keep_in_memory=True: {mem['rss_growth_mb']:.0f} MB",
            target=f"< {RSS_GROWTH_TARGET_MB:.0f} MB, memory-mapped",
            passed=ok_m,
        )
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
