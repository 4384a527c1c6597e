"""``runway ls [EXPERIMENT] [--json]``: experiments, versions, status and key metric.

Reads only JSON files, never imports torch.

>>> main(["ls", "--json"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json

from runway_for_ml.experiment.compare import list_runs
from runway_for_ml.experiment.experiment import require_project_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", nargs="?", help="only this experiment's versions")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")


def _fmt_metric(km: dict | None) -> str:
    if not km or km.get("value") is None:
        return "-" if not km else f"{km['name']}: -"
    value = km["value"]
    shown = f"{value:.4f}" if isinstance(value, float) else str(value)
    return f"{km['name']}: {shown}"


def run(args: argparse.Namespace) -> int:
    root = require_project_root()
    rows = list_runs(root)
    if args.experiment:
        rows = [r for r in rows if r["experiment"] == args.experiment]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"experiments in {root}", title_justify="left")
    for col in ("experiment", "version", "status", "key metric", "inference runs", "created"):
        table.add_column(col)
    colours = {"completed": "green", "failed": "red", "interrupted": "yellow", "running": "cyan", "queued": "blue"}
    for r in rows:
        status = r["status"]
        table.add_row(
            r["experiment"],
            r["run_name"] or "-",
            f"[{colours.get(status, 'white')}]{status}[/]",
            _fmt_metric(r["key_metric"]),
            ", ".join(r["infer_runs"]) or "-",
            (r["created_at"] or "-")[:19].replace("T", " "),
        )
    Console().print(table)
    if not rows:
        print("no experiments yet: create one with `runway-experiment NAME`")
    return 0
