"""``runway compare [NAME ...] [-o compare.html] [--group-by KEY] [--search STUDY] [--metric M] [--all]``.

Writes one self-contained HTML page (plotly.js inlined, opens offline) comparing versions: a sortable
table of the config keys that differ and each metric's last and best value, training curves (mean ± std
over seeds with ``--group-by``) and parallel coordinates. Reads the versions' own files; runs nothing.

>>> main(["compare", "digits", "--group-by", "train.optimizer_config.optimizer_params.lr"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.compare import compare_versions
from runway_for_ml.experiment.compare_page import build_compare_page
from runway_for_ml.experiment.names import require_project_root
from runway_for_ml.experiment.selection import select_versions

DEFAULT_OUTPUT = "compare.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="versions (digits_V0) or experiments (digits: all its completed versions); none: every completed version",
    )
    parser.add_argument("-o", "--output", default=DEFAULT_OUTPUT, help=f"the page to write (default: {DEFAULT_OUTPUT})")
    parser.add_argument(
        "--group-by",
        metavar="KEY",
        help="config key (dotted path) to group by: one line per value, mean ± std over versions differing in meta.seed",
    )
    parser.add_argument("--search", metavar="STUDY", help="add the trials of a search study (e.g. digits_search_S0)")
    parser.add_argument(
        "--metric",
        help="metric of the parallel coordinates and the table's metric column (a logged metric, e.g. val_loss, "
        "or an evaluation metric, e.g. test/accuracy; default: the versions' key metric)",
    )
    parser.add_argument("--all", action="store_true", help="also versions that did not complete (failed, running...)")
    parser.add_argument("--json", action="store_true", help="print the table's data as JSON instead of writing a page")


def run(args: argparse.Namespace) -> int:
    root = require_project_root()
    version_dirs = select_versions(root, args.names, search=args.search, include_all=args.all)
    data = compare_versions(version_dirs, group_by=args.group_by, metric=args.metric)
    if args.json:
        print(json.dumps(_json_rows(data), indent=2, default=str))
        return 0

    title = f"runway compare: {' '.join([*args.names, *([args.search] if args.search else [])]) or root.name}"
    try:
        out = build_compare_page(data, Path(args.output), title=title)
    except OSError as exc:
        raise RunwayError(
            f"-o {args.output}: cannot write the page ({exc.strerror or exc})",
            hint="choose a file in a folder you can write to, e.g. -o compare.html",
        ) from exc
    no_curves = [v["name"] for v in data["versions"] if not v["curves"]]
    print(f"{out}: {len(data['versions'])} versions, {len(data['differing'])} differing config keys")
    if no_curves:
        print(f"without training curves (table row only): {', '.join(no_curves)}")
    return 0


def _json_rows(data: dict) -> dict:
    """The page's data without the curves: one row per version, plus the differing keys and groups."""
    rows = []
    for v in data["versions"]:
        rows.append(
            {
                "name": v["name"],
                "status": v["status"],
                "created_at": v["created_at"],
                "config": {k: v["config"].get(k) for k in data["differing"]},
                "metrics": v["metrics"],
                "eval": v["eval"],
                "metric": data["metric"]["values"].get(v["name"]),
                "report": v["report"],
                "note": v["note"],
            }
        )
    return {
        "differing": data["differing"],
        "metric": {k: data["metric"][k] for k in ("name", "direction")},
        "groups": data["groups"],
        "versions": rows,
    }
