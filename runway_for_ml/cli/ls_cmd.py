"""``runway ls [EXPERIMENT] [--format table|csv|md|json]``: experiments, versions, status and key metric.

Reads only JSON files, never imports torch. ``csv``, ``md`` (a Markdown table for papers and READMEs)
and ``json`` are for scripts; ``--json`` is ``--format json``.

>>> main(["ls", "--format", "csv"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runway_for_ml.cli.output import rich_console
from runway_for_ml.cli.search_cmd import print_study_listing
from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.listing import list_runs
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.experiment.names import list_experiment_names, require_project_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", nargs="?", help="only this experiment's versions")
    parser.add_argument(
        "--search",
        metavar="STUDY",
        default=None,
        help="the trials of one search study (e.g. digits_search_S0), best first",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default), csv, md (Markdown table) or json",
    )
    parser.add_argument("--json", action="store_true", help="same as --format json")


FORMATS = ("table", "csv", "md", "json")
# Columns of --format csv / md, one row per version (or untrained experiment).
COLUMNS = (
    "experiment",
    "version",
    "status",
    "key_metric",
    "split",
    "value",
    "inference_runs",
    "created_at",
    "path",
)


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

    known = sorted(with_versions | set(list_experiment_names(root)))
    if name not in known:
        raise RunwayError(
            f"no experiment '{name}'{did_you_mean(name, known)}",
            hint=f"experiments: {', '.join(known)}" if known else "create one with `runway-experiment NAME`",
        )


def run(args: argparse.Namespace) -> int:
    root = require_project_root()
    rows = list_runs(root)
    if args.search:
        return print_study_listing(root, args.search, as_json=args.json or args.format == "json")
    _mark_search_trials(rows)
    if args.experiment:
        names = {r["experiment"] for r in rows}
        rows = [r for r in rows if r["experiment"] == args.experiment]
        _check_experiment_name(args.experiment, names, root)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if fmt in ("csv", "md"):
        sys.stdout.write(_csv(rows) if fmt == "csv" else _markdown(rows))
        return 0
    from rich.table import Table

    table = Table(title=f"experiments in {root}", title_justify="left")
    for col in ("experiment", "version", "status", "key metric", "inference runs", "created"):
        table.add_column(col)
    colours = {
        "completed": "green",
        "failed": "red",
        "interrupted": "yellow",
        "running": "cyan",
        "queued": "blue",
        "pruned": "magenta",
    }
    for r in rows:
        status = r["status"]
        table.add_row(
            r["experiment"],
            _version_cell(r),
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


def _flat(row: dict) -> dict:
    km = row["key_metric"] or {}
    return {
        "experiment": row["experiment"],
        "version": row["run_name"] or "",
        "status": row["status"],
        "key_metric": km.get("name") or "",
        "split": km.get("split") or "",
        "value": "" if km.get("value") is None else km["value"],
        "inference_runs": " ".join(row["infer_runs"]),
        "created_at": row["created_at"] or "",
        "path": row["path"] or "",
    }


def _csv(rows: list[dict]) -> str:
    """One header line and one line per row, RFC 4180 quoting (``csv`` module)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_flat(r) for r in rows)
    return out.getvalue()


def _markdown(rows: list[dict]) -> str:
    """A GitHub-flavoured Markdown table (``|`` in values escaped), the metric shown as ``ls`` shows it."""
    headers = ("experiment", "version", "status", "key metric", "inference runs", "created")

    def cell(text: object) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        values = (
            r["experiment"],
            r["run_name"] or "-",
            r["status"],
            _fmt_metric(r["key_metric"]),
            ", ".join(r["infer_runs"]) or "-",
            (r["created_at"] or "-")[:19].replace("T", " "),
        )
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def _mark_search_trials(rows: list[dict]) -> None:
    """``row["search"]``: ``{study, trial, state}`` of a version made by ``runway search`` (else None)."""

    for row in rows:
        record = None
        if row.get("path"):
            try:
                record = read_manifest(Path(row["path"])).get("search")
            except Exception:  # a corrupt manifest is already shown as such
                record = None
        row["search"] = {k: record.get(k) for k in ("study", "trial", "state")} if isinstance(record, dict) else None


def _version_cell(row: dict) -> str:
    """``digits_V3``, or ``digits_V3 (search S0 #3)`` for a search trial."""
    name = row["run_name"] or "-"
    record = row.get("search")
    if not record:
        return name
    study = str(record.get("study") or "")
    return f"{name} (search S{study.rpartition('_search_S')[2]} #{record.get('trial')})"
