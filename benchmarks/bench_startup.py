"""Start-up cost of the data commands, measured side by side in one run.

In a fresh ``runway init`` project, each command is run as a new process (what a user's shell does),
in rotating order round by round so that machine load hits all of them alike:

- ``runway --help``          the floor: Python, runway's CLI, argparse
- ``python -c "import numpy, networkx, ..."``  the third-party libraries ``runway dag`` really imports,
  found with ``python -X importtime`` in this run (it does not import ``datasets``; checked)
- ``runway dag digits``      plan the example pipeline and print each node's cache status
- ``runway config digits``   resolve and print the config
- ``python -c "import datasets"`` and ``python -c "import pytorch_lightning"``: for context, what a
  pipeline run and ``runway dag`` before issue 10 loaded

Targets: ``runway dag digits`` <= 1 s (issue 10), and dag <= 1.5 x (``runway --help`` + the imports dag
needs): what dag does beyond importing its libraries (config, plan, cache look-ups) stays small.
Exits 1 when a target is missed.

    python benchmarks/bench_startup.py            # 7 rounds
    python benchmarks/bench_startup.py --rounds 3
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import record

RATIO_TARGET = 1.5
SECONDS_TARGET = 1.0
BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "offline"}


def _runway() -> list[str]:
    script = BIN / "runway"
    return [str(script)] if script.exists() else [sys.executable, "-m", "runway_for_ml.cli.main"]


def _time(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def dag_imports(runway: list[str], project: Path) -> list[str]:
    """The third-party top-level packages ``runway dag digits`` imports (``python -X importtime``)."""
    cmd = [sys.executable, "-X", "importtime", *runway[1:]] if runway[0] == sys.executable else None
    if cmd is None:  # the console script: run its module under -X importtime
        cmd = [sys.executable, "-X", "importtime", "-m", "runway_for_ml.cli.main"]
    proc = subprocess.run([*cmd, "dag", "digits"], cwd=project, env=ENV, capture_output=True, text=True, check=True)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip().split(".")[0]
            # Skip the standard library, runway itself and site hooks (editable-install finders, distutils hack).
            if name and name not in sys.stdlib_module_names and name != "runway_for_ml" and "distutils" not in name:
                if name.startswith("__"):
                    continue
                names.add(name)
    third_party = []
    for name in sorted(names):
        spec = importlib.util.find_spec(name)
        origin = (spec.origin or "") if spec else ""
        if "site-packages" in origin or "dist-packages" in origin:
            third_party.append(name)
    return third_party


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    runway = _runway()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "proj"
        subprocess.run([*runway, "init", str(project)], env=ENV, capture_output=True, check=True)
        needed = dag_imports(runway, project)
        assert "datasets" not in needed, needed
        deps = "imports dag needs"
        commands = {
            "runway --help": [*runway, "--help"],
            deps: [sys.executable, "-c", f"import {', '.join(needed)}"],
            "runway dag digits": [*runway, "dag", "digits"],
            "runway config digits": [*runway, "config", "digits", "--plain"],
            "import datasets": [sys.executable, "-c", "import datasets"],
            # What `runway dag` loaded before it imported only the code the pipeline needs.
            "import pytorch_lightning": [sys.executable, "-c", "import pytorch_lightning"],
        }
        for cmd in commands.values():  # warm the file system cache (.pyc files) once
            _time(cmd, project)
        times: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotating order
                times[name].append(_time(commands[name], project))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"median (min-max) of {args.rounds} rounds in rotating order, each a new process, fresh `runway init` project:"
    )
    for name, value in median.items():
        print(f"  {name:<40} {value:6.3f} s  ({min(times[name]):.3f}-{max(times[name]):.3f})")
    help_s, deps_s, dag_s = median["runway --help"], median[deps], median["runway dag digits"]
    budget = help_s + deps_s
    # Per-round ratios give the spread of the ratio itself.
    per_round = [
        d / (h + i) for d, h, i in zip(times["runway dag digits"], times["runway --help"], times[deps], strict=True)
    ]
    ratio = dag_s / budget
    ok_ratio, ok_abs = ratio <= RATIO_TARGET, dag_s <= SECONDS_TARGET
    print(f"runway dag imports (third-party, -X importtime): {', '.join(needed)}; datasets: not imported")
    print(
        f"dag / (--help + {deps}) = {ratio:.2f}x  (per round {min(per_round):.2f}-{max(per_round):.2f}; "
        f"target <= {RATIO_TARGET}) {'PASS' if ok_ratio else 'MISS'}"
    )
    print(f"dag = {dag_s:.3f} s  (target <= {SECONDS_TARGET:.0f} s) {'PASS' if ok_abs else 'MISS'}")
    anchor = f"runway --help + python -c 'import {', '.join(needed)}', {args.rounds} rounds"
    record(
        "bench_startup",
        "runway dag digits / (--help + its imports)",
        round(ratio, 3),
        unit="x",
        target=f"<= {RATIO_TARGET}",
        passed=ok_ratio,
        anchor=anchor,
        spread=[round(min(per_round), 3), round(max(per_round), 3)],
    )
    record(
        "bench_startup",
        "runway dag digits",
        round(dag_s, 3),
        unit="s",
        target=f"<= {SECONDS_TARGET:.0f} s",
        passed=ok_abs,
        anchor="wall time of a new process",
        spread=_spread(times["runway dag digits"]),
    )
    for name in ("runway --help", deps, "runway config digits", "import datasets", "import pytorch_lightning"):
        record(
            "bench_startup",
            name,
            round(median[name], 3),
            unit="s",
            anchor="context (new process)",
            spread=_spread(times[name]),
        )
    print("OK" if ok_ratio and ok_abs else "TARGET MISSED")
    return 0 if ok_ratio and ok_abs else 1


def _spread(values: list[float]) -> list[float]:
    return [round(min(values), 3), round(max(values), 3)]


if __name__ == "__main__":
    sys.exit(main())
