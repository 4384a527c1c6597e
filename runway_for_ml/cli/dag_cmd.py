"""``runway dag <config|experiment> [--opts …] [--format text|mermaid|dot|png|svg] [-o FILE]``.

Shows every node the requested outputs need with its cache status, computed without running
anything: ``cached``, ``will run``, or ``stale`` with the reason (which kwarg, input or code changed).

    runway dag configs/experiments/digits.jsonnet
    runway dag digits --format png -o dag.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runway_for_ml.cli.config_cmd import add_config_arguments
from runway_for_ml.cli.output import rich_console
from runway_for_ml.cli.prepare_cmd import add_pipeline_arguments, build_pipeline
from runway_for_ml.pipeline.render import dag_table, render_dag

FORMATS = ("text", "mermaid", "dot", "png", "svg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_pipeline_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("-o", "--output", default=None, help="write to this file (png/svg default: dag.<format>)")


def run(args: argparse.Namespace) -> int:

    pipeline = build_pipeline(args)
    plan = pipeline.plan(args.targets)
    if args.format == "text" and args.output is None:
        rich_console(highlight=False).print(dag_table(plan))
        return 0
    output = args.output
    if output is None and args.format in ("png", "svg"):
        output = f"dag.{args.format}"
    text = render_dag(plan, args.format, output)
    if output is None:
        sys.stdout.write(text or "")
    else:
        sys.stderr.write(f"wrote {Path(output)}\n")
    return 0
