"""``runway diff A B [--json]``: config, data node keys and metrics of two versions side by side.

``A`` and ``B`` are version names (``digits_V0``) or experiment names (their latest version).

>>> main(["diff", "digits_V0", "digits_lr3_V0"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json

from runway_for_ml.cli.output import rich_console
from runway_for_ml.experiment.diff import diff_versions
from runway_for_ml.experiment.names import require_project_root, resolve_version


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="first version (e.g. digits_V0) or experiment (its latest version)")
    parser.add_argument("b", help="second version or experiment")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)


def run(args: argparse.Namespace) -> int:
    root = require_project_root()
    a_dir, b_dir = resolve_version(args.a, root), resolve_version(args.b, root)
    result = diff_versions(a_dir, b_dir)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    from rich.table import Table

    console = rich_console()
    a, b = result["a"], result["b"]
    for section, title in (
        ("config", "config (changed keys)"),
        ("data_nodes", "data node cache keys"),
        ("consumed", "consumed experiments (PredictWithExperiment lineage)"),
        ("metrics", "metrics"),
    ):
        if section == "consumed" and not result[section]:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("key")
        table.add_column(a)
        table.add_column(b)
        for row in result[section]:
            same = row["a"] == row["b"]
            style = "dim" if same else None
            table.add_row(row["path"], _show(row["a"]), _show(row["b"]), style=style)
        if not result[section]:
            table.add_row("(identical)" if section == "config" else "(none)", "", "")
        console.print(table)
    return 0
