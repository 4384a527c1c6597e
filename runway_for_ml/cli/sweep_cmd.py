"""``runway sweep status <exp|sweep> [--retry-failed] [--json]``: the points of a SLURM sweep.

Examples::

    runway sweep status digits                 # latest sweep of digits: point, overrides, version, state, metric
    runway sweep status digits_0               # a given sweep
    runway sweep status digits --retry-failed  # resubmit only the points whose job failed

Sweeps are started with ``runway-train EXP --slurm --sweep KEY=V1,V2 [--sweep …]`` (see docs/hpc.md).
"""

from __future__ import annotations

import argparse
import json

from runway_for_ml.cli.output import rich_console
from runway_for_ml.experiment.layout import experiments_dir
from runway_for_ml.experiment.names import require_project_root

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status",), help="what to do (status)")
    parser.add_argument("name", help="an experiment (its latest sweep) or a sweep name such as digits_0")
    parser.add_argument("--retry-failed", action="store_true", help="resubmit the failed points as one job array")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.launcher.sweep import load_sweep, retry_failed, sweep_rows

    root = experiments_dir(require_project_root())
    if args.retry_failed:
        resubmitted = retry_failed(root, args.name)
        if resubmitted:
            print(
                f"resubmitted {len(resubmitted)} failed point(s): "
                + ", ".join(f"{version} -> job {job.job_id}" for version, job in resubmitted)
            )
        else:
            print("no failed points to resubmit")
    _, state = load_sweep(root, args.name)
    rows = sweep_rows(root, state)
    if args.json:
        print(
            json.dumps(
                {"sweep": state["name"], "experiment": state["experiment"], "points": rows}, indent=2, default=str
            )
        )
        return 0
    from rich.table import Table

    table = Table(title=f"sweep {state['name']} ({state['command']} of {state['experiment']})", title_justify="left")
    for column in ("point", "overrides", "version", "job id", "tries", "state", "elapsed", "key metric"):
        table.add_column(column)
    for row in rows:
        metric = row["key_metric"] or {}
        value = metric.get("value")
        shown = f"{metric.get('name')}={value:.4g}" if isinstance(value, (int, float)) else "-"
        overrides = ", ".join(f"{k}={json.dumps(v)}" for k, v in row["overrides"].items())
        table.add_row(
            str(row["point"]),
            overrides,
            row["version"],
            row["job_id"],
            str(row["attempts"]),
            row["state"],
            row["elapsed"] or "-",
            shown,
        )
    rich_console(highlight=False).print(table)
    return 0
