"""Benchmark of issue 21 (``runway search``), measured side by side in one run.

1. Overhead per trial: ``runway search digits`` (random sampler, no pruning: every trial does the same
   work as a run) against running the same trials by hand, ``runway run digits --opts <the trial's
   params>`` one after another. Both in one warm process (torch and the project already imported), so
   the ratio is what the search adds per trial: the Optuna journal, ask/tell, heartbeats, trials.csv,
   best.json and search.html. Target: <= 1.05x. With ``--processes`` also as separate processes
   (``runway search`` once vs one ``runway run`` process per trial), the way a person runs them by hand.
2. Data pipeline nodes run for the whole study, counted from the cache entries it created: the space
   has a data_pipeline key (``process:Split``'s ``validation_size``: 2 values), so the loader should
   run once and Split and Normalised once per distinct value. Target: once each.

Run: ``.venv/bin/python benchmarks/bench_search.py [--trials 6] [--processes]``; exits 1 on FAIL.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BIN = Path(sys.executable).parent
TINY = [
    "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=600",
    "train.trainer_paras.max_epochs=4",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    "train.early_stopping=null",
    'meta.logger_enable=["csv"]',
]
SEARCH = [
    "search.sampler=random",
    "search.pruner=none",
    'search.space={"train.optimizer_config.optimizer_params.lr": {"type": "float", "low": 0.001, "high": 0.01, "log": true},'
    ' "data_pipeline.transforms.process:Split.setup_kwargs.validation_size": {"type": "categorical", "choices": [0.1, 0.15]}}',
]


@contextlib.contextmanager
def inside(folder: Path):
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def cache_entries(root: Path) -> dict[str, tuple[str, float]]:
    """``{cache key: (node, created_epoch)}`` of every entry in the project's cache."""
    out = {}
    for meta in (root / "local_cache").rglob("meta.json"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(meta.read_text())
            out[data["key"]] = (data["node"], float(data.get("created_epoch") or 0))
    return out


def trial_params(study_dir: Path) -> list[dict]:
    with (study_dir / "trials.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["state"] == "complete"]
    keys = [k for k in rows[0] if "." in k]
    return [{k: json.loads(r[k]) for k in keys} for r in rows]


def quiet(function, *args):
    """Run ``function(*args)`` with stdout/stderr to /dev/null (the trials' logs); returns its result."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        return function(*args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--processes", action="store_true", help="also compare as separate processes")
    args = parser.parse_args()
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "offline")
    from runway_for_ml.cli.main import main as runway

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        assert runway(["init", str(root)]) == 0
        with inside(root):
            # Warm-up: torch, Lightning and the project's code imported; a different data size keeps the
            # study's cache entries its own.
            warm = [*TINY, "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=200"]
            assert quiet(runway, ["run", "digits", "--opts", *warm]) == 0
            before = set(cache_entries(root))
            started = time.perf_counter()
            assert quiet(runway, ["search", "digits", "--trials", str(args.trials), "--opts", *TINY, *SEARCH]) == 0
            search_s = time.perf_counter() - started
            (study_dir,) = sorted((root / "experiments").glob("digits_search_S*"))
            params = trial_params(study_dir)
            created = {k: v for k, v in cache_entries(root).items() if k not in before}
            started = time.perf_counter()
            for point in params:
                opts = [*TINY, *[f"{k}={json.dumps(v)}" for k, v in point.items()]]
                assert quiet(runway, ["run", "digits", "--opts", *opts]) == 0
            hand_s = time.perf_counter() - started

        n = len(params)
        ratio = search_s / hand_s
        print(f"search: {n} trials in {search_s:.1f} s ({search_s / n:.2f} s/trial)")
        print(
            f"by hand (runway run, same params, same warm process): {n} runs in {hand_s:.1f} s ({hand_s / n:.2f} s/run)"
        )
        verdict = "PASS" if ratio <= 1.05 else "FAIL"
        ok &= verdict == "PASS"
        print(f"overhead per trial: {ratio:.3f}x (target <= 1.05) {verdict}")

        runs = Counter(node for node, _ in created.values())
        distinct = len(
            {json.dumps(p["data_pipeline.transforms.process:Split.setup_kwargs.validation_size"]) for p in params}
        )
        expected = {"input:LoadDigits": 1, "process:Split": distinct, "output:Normalised": distinct}
        verdict = "PASS" if dict(runs) == expected else "FAIL"
        ok &= verdict == "PASS"
        shown = ", ".join(f"{node} x{count}" for node, count in sorted(runs.items()))
        print(
            f"data pipeline nodes run for the whole study: {shown} ({n} trials, {distinct} distinct "
            f"validation_size values; target: once per node and distinct value, i.e. {expected}) {verdict}"
        )

        if args.processes:
            with inside(root):
                started = time.perf_counter()
                out = subprocess.run(
                    [str(BIN / "runway"), "search", "digits", "--trials", str(n), "--opts", *TINY, *SEARCH],
                    capture_output=True,
                    text=True,
                )
                assert out.returncode == 0, out.stderr[-2000:]
                search_p = time.perf_counter() - started
                started = time.perf_counter()
                for point in params:
                    opts = [*TINY, *[f"{k}={json.dumps(v)}" for k, v in point.items()]]
                    out = subprocess.run(
                        [str(BIN / "runway-run"), "digits", "--opts", *opts], capture_output=True, text=True
                    )
                    assert out.returncode == 0, out.stderr[-2000:]
                hand_p = time.perf_counter() - started
            print(
                f"as processes: runway search {search_p / n:.2f} s/trial, one runway-run process per trial "
                f"{hand_p / n:.2f} s/run ({search_p / hand_p:.3f}x)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
