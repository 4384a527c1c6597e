"""Helpers shared by the experiment commands (train, run, infer, eval): common options, the command line
recorded in manifests, SLURM submission, metric tables, and joining a DDP fit as a worker rank.

>>> command_line(argparse.Namespace(_runway_argv=["train", "digits"]))
['runway', 'train', 'digits']
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runway_for_ml.cli.output import rich_console
from runway_for_ml.experiment.ddp import worker_version_dir

__all__ = [
    "add_launch_arguments",
    "add_new_version_arguments",
    "add_opts_argument",
    "command_line",
    "join_ddp_rank",
    "new_version_or_submit",
    "print_metrics",
    "replayed_options",
    "submit_or_none",
]


def add_new_version_arguments(parser: argparse.ArgumentParser) -> None:
    """``EXPERIMENT [--from EXISTING] [--opts ...]``: what train and run need to make a new version."""
    parser.add_argument("experiment", help="experiment name (configs/experiments/<name>.jsonnet)")
    parser.add_argument(
        "--from", dest="from_name", metavar="EXISTING", help="first clone this experiment's config into <experiment>"
    )
    add_opts_argument(parser)


def add_opts_argument(parser: argparse.ArgumentParser) -> None:
    """``--opts key.path=value ...`` (shared by train / infer / eval / run)."""
    parser.add_argument(
        "--opts",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help='override config values, e.g. train.batch_size=64 \'eval.metrics=[{"name":"f1"}]\' (value parsed as JSON)',
    )


def add_launch_arguments(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """``--launcher`` / ``--slurm`` / ``--wait`` (and ``--sweep``): the launcher's own options."""
    from runway_for_ml.launcher import add_launcher_arguments

    add_launcher_arguments(parser, sweep=sweep)


def submit_or_none(spec: Any, args: argparse.Namespace) -> int | None:
    """Submit the command's :class:`~runway_for_ml.launcher.JobSpec` when SLURM was chosen (returns the
    exit code), or ``None`` to run here."""
    from runway_for_ml.launcher import maybe_submit

    return maybe_submit(spec, args)


def replayed_options(args: argparse.Namespace) -> list[str]:
    """Options of ``runway`` itself that the command line of a SLURM job keeps: ``--debug``."""
    return ["--debug"] if getattr(args, "debug", False) else []


def command_line(args: argparse.Namespace | None = None) -> list[str]:
    """The command line (recorded in manifests): ``["runway", "train", "digits", ...]``."""
    argv = getattr(args, "_runway_argv", None)
    if argv:
        return ["runway", *argv]
    return [Path(sys.argv[0]).name, *sys.argv[1:]]


def print_metrics(title: str, metrics: dict[str, Any], *, stderr: bool = False) -> None:
    """A rich table of scalar metrics."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, (list, dict)):
            continue
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    rich_console(stderr=stderr).print(table)


def join_ddp_rank(args: argparse.Namespace) -> bool:
    """When this process is a DDP rank > 0, join rank 0's fit in its version folder and return True.

    Local DDP: Lightning starts ranks > 0 by re-running the command line; rank 0 exported its folder
    (``RUNWAY_VERSION_DIR``). SLURM: ``srun`` starts every task with the same ``--in-version``.
    Creating versions, writing manifests and printing results stay rank 0's job.
    """

    worker_dir = worker_version_dir(getattr(args, "in_version", None))
    if worker_dir is None:
        return False
    from runway_for_ml.experiment.training import train_in_version

    train_in_version(worker_dir)
    return True


def new_version_or_submit(args: argparse.Namespace, root: Path, job_spec: Any) -> tuple[Path, int | None]:
    """Create the new version folder of ``runway train`` / ``runway run`` (``--from``/``--opts`` applied) and
    submit ``job_spec(args, config, version_dir)`` when SLURM was chosen.

    Returns ``(version_dir, exit code)``; the code is ``None`` when the command runs here.
    """
    from runway_for_ml.experiment.training import prepare_training

    _, config, version_dir = prepare_training(
        args.experiment,
        from_name=args.from_name,
        opts=args.opts,
        project_root=root,
        command_line=command_line(args),
        config=getattr(args, "resolved_config", None),  # the preflight's: the jsonnet is evaluated once
    )
    print(f"version folder: {version_dir}", file=sys.stderr)
    return version_dir, submit_or_none(job_spec(args, config, version_dir), args)
