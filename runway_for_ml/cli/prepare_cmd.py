"""``runway prepare <config|experiment> [--opts …] [--regenerate NODE …] [--dummy] [--targets NODE …]``.

Runs the data pipeline of a config: loads cached nodes, runs the others, prints one line per node
while it works and a table at the end (node, hit/ran, seconds, rows).

    runway prepare configs/experiments/digits.jsonnet --opts data_pipeline.transforms.output:Split.setup_kwargs.test_size=0.2
    runway prepare digits --regenerate process:Normalize --dummy
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runway_for_ml.cli.config_cmd import add_config_arguments, ext_vars_from
from runway_for_ml.cli.output import rich_console
from runway_for_ml.config import load_config
from runway_for_ml.launcher import JobSpec, add_launcher_arguments, maybe_submit
from runway_for_ml.pipeline.inspect import render_inspection
from runway_for_ml.pipeline.user_code import import_pipeline_code
from runway_for_ml.progress import Heartbeats
from runway_for_ml.project import find_project_root, resolve_config_arg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_pipeline_arguments(parser)

    add_launcher_arguments(parser)


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by commands that run or plan the pipeline (``prepare``, ``dag``)."""
    parser.add_argument(
        "--targets", nargs="+", default=None, metavar="NODE", help="nodes to produce (default: every output: node)"
    )
    parser.add_argument(
        "--regenerate", nargs="+", default=[], metavar="NODE", help="re-run these nodes and everything downstream"
    )
    parser.add_argument("--dummy", action="store_true", default=None, help="dummy-data mode (small data, own cache)")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default: meta.default_cache_dir)")


def build_pipeline(args: argparse.Namespace, progress: Any = None) -> Any:
    """Resolve the config argument, import user modules, and build the DataPipeline (nothing runs)."""
    from runway_for_ml.pipeline.runner import DataPipeline

    path = resolve_config_arg(args.config)
    # --dummy is an explicit CLI flag: it goes in before --opts (precedence: file < flags < --opts).
    flags = {"meta.use_dummy_data": True} if args.dummy else None
    config = load_config(path, args.opts, ext_vars_from(args), cli_overrides=flags)
    root = find_project_root(path.resolve().parent) or find_project_root()
    # Only the project code the pipeline's nodes need: no executors/metrics, so no torch/Lightning.
    import_pipeline_code(root, config.data)
    return DataPipeline(
        config,
        cache_dir=args.cache_dir,
        dummy=None,  # meta.use_dummy_data, after --dummy and --opts
        regenerate_nodes=args.regenerate,
        progress=progress,
    )


def run(args: argparse.Namespace) -> int:

    console = rich_console(stderr=False, highlight=False)

    beats = Heartbeats("data")  # in a log: "still running" lines while a long node runs

    def progress(node: str, event: str, record: Any) -> None:
        if event == "start":
            console.print(f"[bold]→[/bold] running {node}")
            beats.start(node)
            return
        beats.stop(node)
        if record is not None:
            mark = "[green]✓ hit[/green]" if record.status == "hit" else "[yellow]✓ ran[/yellow]"
            console.print(f"{mark} {node}  {record.seconds:.2f}s  {_rows_text(record.rows)} rows")

    pipeline = build_pipeline(args, progress)

    code = maybe_submit(job_spec(args, pipeline.config), args)
    if code is not None:  # submitted to SLURM (validated above): the job runs the pipeline
        return code
    mode = " (dummy data)" if pipeline.dummy else ""
    console.print(f"data pipeline [bold]{pipeline.graph.name or args.config}[/bold]{mode}, cache {pipeline.store.dir}")
    try:
        report = pipeline.run(args.targets)
    finally:
        beats.stop_all()
    console.print(run_table(report))
    for node, info in report.inspections.items():
        render_inspection(node, info, console)
    return 0


def job_spec(args: argparse.Namespace, config: Any) -> Any:
    """The SLURM job of ``runway prepare``: the same config, overrides and pipeline options."""

    argv = ["prepare", args.config]
    for flag, values in (("--opts", args.opts), ("--targets", args.targets), ("--regenerate", args.regenerate)):
        if values:
            argv += [flag, *values]
    for item in args.ext_var or []:
        argv += ["--ext-var", item]
    if args.dummy:
        argv.append("--dummy")
    if args.cache_dir:
        argv += ["--cache-dir", args.cache_dir]
    if getattr(args, "debug", False):
        argv.append("--debug")
    return JobSpec("prepare", argv, config, experiment=Path(args.config).stem, command_line=["runway", *argv])


def run_table(report: Any) -> Any:
    """The closing table of ``runway prepare``: node, hit/ran, seconds, rows."""
    from rich.table import Table

    table = Table(title="prepared", title_justify="left")
    table.add_column("node")
    table.add_column("hit/ran")
    table.add_column("seconds", justify="right")
    table.add_column("rows", justify="right")
    styles = {"hit": "green", "ran": "yellow", "skipped": "dim"}
    for record in report.nodes:
        style = styles.get(record.status, "")
        status = record.status if record.status != "skipped" else "skipped (downstream cached)"
        seconds = f"{record.seconds:.2f}" if record.status != "skipped" else "-"
        table.add_row(record.node, f"[{style}]{status}[/{style}]", seconds, _rows_text(record.rows))
    return table


def _rows_text(rows: Any) -> str:
    if rows is None:
        return "-"
    if isinstance(rows, dict):
        return f"{sum(rows.values())} (" + ", ".join(f"{k}={v}" for k, v in rows.items()) + ")"
    return str(rows)
