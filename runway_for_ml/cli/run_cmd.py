"""``runway-run <exp> [--from EXISTING] [--opts ...] [--checkpoint best|last]``: train, infer, evaluate, report.

Inference runs on the config's ``test.split``. Prints a results table and writes ``report.html`` into the version folder.

>>> main(["run", "digits_lr3", "--from", "digits", "--opts", "train.optimizer_config.optimizer_params.lr=3e-3"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runway_for_ml.cli.common import (
    add_launch_arguments,
    add_new_version_arguments,
    command_line,
    join_ddp_rank,
    new_version_or_submit,
    replayed_options,
)
from runway_for_ml.cli.output import rich_console, work_on_stderr
from runway_for_ml.cli.preflight import add_ext_var_argument
from runway_for_ml.cli.preflight import preflight as _preflight
from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.experiment.names import require_project_root
from runway_for_ml.experiment.preflight import removed_on_user_error
from runway_for_ml.experiment.run import run_in_version
from runway_for_ml.launcher import VERSION_DIR, JobSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_new_version_arguments(parser)
    parser.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default=None,
        help="checkpoint the test split is inferred with (default: test.checkpoint, else best)",
    )
    parser.add_argument("--in-version", dest="in_version", default=None, help=argparse.SUPPRESS)
    add_launch_arguments(parser, sweep=True)
    add_ext_var_argument(parser)


def print_results(result: dict[str, Any]) -> None:
    """The rich results table of a run."""
    from rich.table import Table

    version_dir = result["version_dir"]
    manifest = read_manifest(version_dir)
    key = manifest.get("key_metric")
    table = Table(title=f"runway-run {version_dir.name}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result["metrics"].items():
        if isinstance(value, (list, dict)):
            continue
        label = f"[bold]{name}[/] (key)" if name == key else name
        table.add_row(f"test {label}", f"{value:.4f}" if isinstance(value, float) else str(value))
    train = result["train_metrics"]
    for name in sorted(train):
        if name.startswith("val_"):
            table.add_row(name, f"{train[name]:.4f}")
    if manifest.get("train_seconds") is not None:
        table.add_row("training time", f"{manifest['train_seconds']:.1f} s")
    console = rich_console()
    console.print(table)
    console.print(f"version folder: {version_dir}")
    console.print(f"report:         {result['report']}")


def job_spec(args: argparse.Namespace, config: Any, version_dir: Path) -> Any:
    """The SLURM job of ``runway run``: train, infer and evaluate in the version folder made at submit time."""

    checkpoint = ["--checkpoint", args.checkpoint] if args.checkpoint else []
    return JobSpec(
        "run",
        ["run", args.experiment, *checkpoint, *replayed_options(args), "--in-version", VERSION_DIR],
        config,
        version_dir=version_dir,
        experiment=args.experiment,
        command_line=command_line(args),
    )


def run(args: argparse.Namespace) -> int:

    if join_ddp_rank(args):  # a DDP rank > 0 only trains; rank 0 infers, evaluates and reports
        return 0
    root = require_project_root()
    _preflight("run", args, root)  # checks everything before any folder is created
    if args.in_version:
        print_results(run_in_version(Path(args.in_version).resolve(), command_line(args), checkpoint=args.checkpoint))
        return 0
    version_dir, code = new_version_or_submit(args, root, job_spec)
    if code is not None:
        return code
    with removed_on_user_error(version_dir, produced=str(VersionDir(version_dir).last_ckpt)), work_on_stderr():
        result = run_in_version(version_dir, command_line(args), checkpoint=args.checkpoint)
    print_results(result)
    return 0
