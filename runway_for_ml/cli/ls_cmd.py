"""``runway ls [EXPERIMENT] [--json]``: experiments, versions, status and key metric.

Reads only JSON files, never imports torch.

>>> main(["ls", "--json"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json

from runway_for_ml.experiment.compare import list_runs
from runway_for_ml.experiment.names import require_project_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", nargs="?", help="only this experiment's versions")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")


_SPLIT_LABELS = {"validation": "val", "val": "val", "test": "test", "train": "train"}


def _fmt_metric(km: dict | None) -> str:
    """``test accuracy: 0.9722`` / ``val accuracy: 0.9500``: the metric named with the split it was measured on."""
    if not km:
        return "-"
    split = km.get("split")
    label = f"{_SPLIT_LABELS.get(split, split)} {km['name']}" if split else km["name"]
    if km.get("value") is None:
        return f"{label}: -"
    value = km["value"]
    shown = f"{value:.4f}" if isinstance(value, float) else str(value)
    return f"{label}: {shown}"


def _check_experiment_name(name: str, with_versions: set[str], root) -> None:
    """An experiment that has neither versions nor a config is an error with the closest name."""
    from runway_for_ml.errors import RunwayError, did_you_mean
    from runway_for_ml.experiment.names import list_experiment_names

    known = sorted(with_versions | set(list_experiment_names(root)))
    if name not in known:
        raise RunwayError(
            f"no experiment '{name}'{did_you_mean(name, known)}",
            hint=f"experiments: {', '.join(known)}" if known else "create one with `runway-experiment NAME`",
        )


def run(args: argparse.Namespace) -> int:
    root = require_project_root()
    rows = list_runs(root)
    if args.experiment:
        names = {r["experiment"] for r in rows}
        rows = [r for r in rows if r["experiment"] == args.experiment]
        _check_experiment_name(args.experiment, names, root)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    from runway_for_ml.cli.output import rich_console

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
    rich_console().print(table)
    if not rows and args.experiment:
        print(f"experiment '{args.experiment}' has no versions yet: train it with `runway-train {args.experiment}`")
    elif not rows:
        print("no experiments yet: create one with `runway-experiment NAME`")
    return 0
