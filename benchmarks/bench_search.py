"""Benchmark of issue 21 (``runway search``), measured side by side in one run.

1. Overhead per trial: ``runway search digits`` (random sampler, no pruning: every trial does the same
   work as a run) against running the same trials by hand, ``runway run digits --opts <the trial's
   params>``. Both in one warm process (torch and the project already imported), so the ratio is what
   the search adds per trial: the Optuna journal, ask/tell, heartbeats, trials.csv, best.json and
   search.html. A first study prepares the data (and gives the node count of 2.); it is not timed. The
   machine is shared and its load drifts, so the two are timed in ABBA order (search, by hand, by hand,
   search). Target: <= 1.05x. Also an upper bound without a target: one trial per
   search command (``--resume --trials k``: each command pays its own start, data check and
   search.html), each followed by the same trial by hand. With ``--processes`` also as separate
   processes (``runway search`` once vs one ``runway-run`` process per trial), as a person runs them.
2. Data pipeline nodes run for the whole study, counted from the cache entries it created: the space
   has a data_pipeline key (``process:Split``'s ``validation_size``: 2 values), so the loader should
   run once and Split and Normalised once per distinct value. Target: once each.

Run: ``.venv/bin/python benchmarks/bench_search.py [--trials 8] [--processes]``; exits 1 on FAIL.
The figures also go to ``benchmarks/results.json`` (``_results.record``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _results import record

BIN = Path(sys.executable).parent
TINY = [
    "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=1797",
    "train.trainer_paras.max_epochs=10",
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
    parser.add_argument("--trials", type=int, default=8)
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

            # The whole study in one command, as a user runs it, against the same trials by hand, in ABBA
            # order (search, hand, hand, search: the machine is shared and its load drifts). Every new
            # study's first worker draws the same params (the seeded random sampler).
            def by_hand(points: list[dict]) -> float:
                started = time.perf_counter()
                for point in points:
                    opts = [*TINY, *[f"{key}={json.dumps(v)}" for key, v in point.items()]]
                    assert quiet(runway, ["run", "digits", "--opts", *opts]) == 0
                return time.perf_counter() - started

            def study(number: int) -> float:
                started = time.perf_counter()
                assert quiet(runway, ["search", "digits", "--trials", str(args.trials), "--opts", *TINY, *SEARCH]) == 0
                took = time.perf_counter() - started
                assert number == 0 or trial_params(root / "experiments" / f"digits_search_S{number}") == params
                return took

            before = set(cache_entries(root))
            params: list[dict] = []
            study(0)  # the first study prepares the data: counted below, not timed against the runs by hand
            created = {k: v for k, v in cache_entries(root).items() if k not in before}
            params = trial_params(root / "experiments" / "digits_search_S0")
            n = len(params)
            search_times = [study(1)]
            hand_times = [by_hand(params), by_hand(params)]
            search_times.append(study(2))
            # An upper bound: one trial per command (`--resume --trials k`, each paying its own start, data
            # check and search.html), each followed by the same trial by hand.
            per_command, per_hand = [], []
            for k in range(1, n + 1):
                argv = ["search", "digits", "--trials", str(k)]
                argv += ["--opts", *TINY, *SEARCH] if k == 1 else ["--resume", "--study", "digits_search_S3"]
                started = time.perf_counter()
                assert quiet(runway, argv) == 0
                per_command.append(time.perf_counter() - started)
                per_hand.append(by_hand([trial_params(root / "experiments" / "digits_search_S3")[-1]]))

        search_s, hand_s = sum(search_times), sum(hand_times)
        ratio = search_s / hand_s
        ratios = [search_times[0] / hand_times[0], search_times[1] / hand_times[1]]
        print(f"search, one command: {n} trials in {search_s / 2:.1f} s ({search_s / 2 / n:.2f} s/trial; mean of 2)")
        print(
            f"by hand (runway run, same params, same warm process): {n} runs in {hand_s / 2:.1f} s "
            f"({hand_s / 2 / n:.2f} s/run; mean of 2)"
        )
        passed = ratio <= 1.05
        ok &= passed
        print(
            f"overhead per trial: {ratio:.3f}x (ABBA rounds {ratios[0]:.3f}, {ratios[1]:.3f}; target <= 1.05) "
            f"{'PASS' if passed else 'FAIL'}"
        )
        record(
            "bench_search",
            "runway search / the same trials with runway run, per trial (one warm process)",
            round(ratio, 3),
            target="<= 1.05",
            passed=passed,
            anchor=f"{n} trials of the digits template (all 1797 rows, 10 epochs) by hand with runway run --opts, ABBA order",
            spread=[round(min(ratios), 3), round(max(ratios), 3)],
            unit="x",
        )
        upper = sum(per_command) / sum(per_hand)
        print(
            f"upper bound, one trial per search command (--resume --trials k) vs the same trial by hand: "
            f"{upper:.3f}x (median pair {statistics.median(a / b for a, b in zip(per_command, per_hand, strict=True)):.3f}x)"
        )
        record(
            "bench_search",
            "one trial per runway search command / the same trial with runway run (upper bound)",
            round(upper, 3),
            anchor="each command pays its start, the data check and search.html",
            unit="x",
        )

        runs = Counter(node for node, _ in created.values())
        distinct = len(
            {json.dumps(p["data_pipeline.transforms.process:Split.setup_kwargs.validation_size"]) for p in params}
        )
        expected = {"input:LoadDigits": 1, "process:Split": distinct, "output:Normalised": distinct}
        passed = dict(runs) == expected
        ok &= passed
        shown = ", ".join(f"{node} x{count}" for node, count in sorted(runs.items()))
        print(
            f"data pipeline nodes run for the whole study: {shown} ({n} trials, {distinct} distinct "
            f"validation_size values; target: once per node and distinct value, i.e. {expected}) "
            f"{'PASS' if passed else 'FAIL'}"
        )
        record(
            "bench_search",
            "data pipeline node runs for a study / (nodes x distinct pipeline configs)",
            round(sum(runs.values()) / sum(expected.values()), 3),
            target="== 1 (each node once per distinct config)",
            passed=passed,
            anchor=f"{n} trials, a data_pipeline space key with {distinct} values; {shown}",
            unit="x",
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
            record(
                "bench_search",
                "runway search / one runway-run process per trial, per trial (separate processes)",
                round(search_p / hand_p, 3),
                anchor=f"{n} trials as {n} runway-run processes (each pays the torch import)",
                unit="x",
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
