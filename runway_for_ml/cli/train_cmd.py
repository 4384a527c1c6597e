"""``runway-train <exp> [--from EXISTING] [--opts ...] [--resume [--version N]] [--launcher local|slurm]``.

Each run trains in a new version folder ``experiments/<exp>_V<n>/``; ``--resume`` continues the latest
(or ``--version N``) from its ``last.ckpt`` in the same folder with the same logger run.

>>> main(["train", "digits", "--opts", "train.batch_size=64"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runway_for_ml.cli.common import (
    add_launch_arguments,
    add_new_version_arguments,
    command_line,
    join_ddp_rank,
    new_version_or_submit,
    print_metrics,
    replayed_options,
    submit_or_none,
)
from runway_for_ml.cli.output import work_on_stderr
from runway_for_ml.cli.preflight import add_ext_var_argument
from runway_for_ml.cli.preflight import preflight as _preflight
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.names import require_project_root, resolve_experiment
from runway_for_ml.experiment.preflight import removed_on_user_error
from runway_for_ml.launcher import VERSION_DIR, JobSpec


def job_spec(args: argparse.Namespace, config: Any, version_dir: Path) -> Any:
    """The SLURM job of ``runway train``: train in the version folder made at submit time.

    ``--opts`` / ``--from`` are in that folder's resolved config and ``--resume`` / ``--version``
    chose it, so the job needs only the folder.
    """

    return JobSpec(
        "train",
        ["train", args.experiment, *replayed_options(args), "--in-version", VERSION_DIR],
        config,
        version_dir=version_dir,
        experiment=args.experiment,
        command_line=command_line(args),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_new_version_arguments(parser)
    parser.add_argument(
        "--resume", action="store_true", help="continue the latest version (or --version N) from its last checkpoint"
    )
    parser.add_argument("--version", type=int, default=None, metavar="N", help="with --resume: the version to continue")
    # Used by SLURM jobs: train in a version folder created at submit time.
    parser.add_argument("--in-version", dest="in_version", default=None, help=argparse.SUPPRESS)
    add_launch_arguments(parser, sweep=True)
    add_ext_var_argument(parser)


def run(args: argparse.Namespace) -> int:

    if join_ddp_rank(args):
        return 0
    root = require_project_root()
    _preflight("train", args, root)  # checks everything before any folder is created
    if args.in_version:
        from runway_for_ml.experiment.training import train_in_version

        metrics = train_in_version(Path(args.in_version))
        print_metrics(f"{Path(args.in_version).name}: final training metrics", metrics)
        return 0
    if args.version is not None and not args.resume:
        raise RunwayError(
            "--version is only used with --resume",
            hint=f"runway-train {args.experiment} --resume --version {args.version}",
        )
    if args.resume:
        return _resume(args, root)
    from runway_for_ml.experiment.training import train_in_version

    version_dir, code = new_version_or_submit(args, root, job_spec)
    if code is not None:
        return code
    with removed_on_user_error(version_dir, produced=str(VersionDir(version_dir).last_ckpt)), work_on_stderr():
        metrics = train_in_version(version_dir)
    print_metrics(f"{version_dir.name}: final training metrics", metrics)
    print(version_dir.name)
    return 0


def _resume(args: argparse.Namespace, root: Path) -> int:
    """``--resume``: continue the latest (or ``--version N``) version from its ``last.ckpt``, in its folder."""
    from runway_for_ml.experiment.training import train_in_version

    if args.opts or args.from_name:
        raise RunwayError(
            "--resume continues a version with its own config; --opts/--from cannot change it",
            hint="drop --opts/--from, or start a new version without --resume",
        )
    layout = VersionDir(resolve_experiment(args.experiment, root).version(args.version, flag="--version"))
    status = layout.manifest().get("status", "unknown")
    if status == "completed":
        print(f"{layout.name} is already completed; nothing to resume.")
        return 0
    code = submit_or_none(job_spec(args, layout.read_config(), layout.path), args)
    if code is not None:
        return code
    print(f"resuming {layout.name} (status: {status})", file=sys.stderr)
    metrics = train_in_version(layout.path)
    print_metrics(f"{layout.name}: final training metrics", metrics)
    return 0
