"""Start-up cost of the data commands, measured side by side in one run.

In a fresh ``runway init`` project, each command is run as a new process (what a user's shell does),
interleaved round by round so that machine load hits all of them alike:

- ``runway --help``          the floor: Python, runway's CLI, argparse
- ``python -c "import datasets"``  the cost of the data library a pipeline needs anyway
- ``runway dag digits``      plan the example pipeline and print each node's cache status
- ``runway config digits``   resolve and print the config
- ``python -c "import pytorch_lightning"``  what ``runway dag`` used to load through the template's executor

Targets (issue 10): ``runway dag digits`` <= 1 s, and <= 3 x ``runway --help`` + ``import datasets``.

    python benchmarks/bench_startup.py            # 7 rounds
    python benchmarks/bench_startup.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    runway = _runway()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "proj"
        subprocess.run([*runway, "init", str(project)], env=ENV, capture_output=True, check=True)
        commands = {
            "runway --help": [*runway, "--help"],
            "import datasets": [sys.executable, "-c", "import datasets"],
            "runway dag digits": [*runway, "dag", "digits"],
            "runway config digits": [*runway, "config", "digits", "--plain"],
            # What `runway dag` loaded before it imported only the code the pipeline needs.
            "import pytorch_lightning": [sys.executable, "-c", "import pytorch_lightning"],
        }
        for cmd in commands.values():  # warm the file system cache (.pyc files) once
            _time(cmd, project)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, cmd in commands.items():
                times[name].append(_time(cmd, project))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"median of {args.rounds} rounds, each a new process, in a fresh `runway init` project:")
    for name, value in median.items():
        print(f"  {name:<24} {value:6.3f} s")
    help_s, datasets_s, dag_s = median["runway --help"], median["import datasets"], median["runway dag digits"]
    budget = 3 * help_s + datasets_s
    print(f"dag / --help                      {dag_s / help_s:5.2f}x")
    print(f"dag / (3 x --help + import datasets) {dag_s / budget:5.2f}  (target <= 1.00; budget {budget:.3f} s)")
    print(f"dag <= 1 s                        {'yes' if dag_s <= 1.0 else 'NO'} ({dag_s:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
