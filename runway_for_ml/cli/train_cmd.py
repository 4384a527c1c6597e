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

from runway_for_ml.cli.output import work_on_stderr
from runway_for_ml.cli.preflight import add_ext_var_argument
from runway_for_ml.cli.preflight import preflight as _preflight
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.preflight import removed_on_user_error


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


def job_spec(args: argparse.Namespace, config: Any, version_dir: Path) -> Any:
    """The SLURM job of ``runway train``: train in the version folder made at submit time.

    ``--opts`` / ``--from`` are in that folder's resolved config and ``--resume`` / ``--version``
    chose it, so the job needs only the folder.
    """
    from runway_for_ml.launcher import VERSION_DIR, JobSpec

    return JobSpec(
        "train",
        ["train", args.experiment, *replayed_options(args), "--in-version", VERSION_DIR],
        config,
        version_dir=version_dir,
        experiment=args.experiment,
        command_line=command_line(args),
    )


def command_line(args: argparse.Namespace | None = None) -> list[str]:
    """The command line (recorded in manifests): ``["runway", "train", "digits", ...]``."""
    argv = getattr(args, "_runway_argv", None)
    if argv:
        return ["runway", *argv]
    return [Path(sys.argv[0]).name, *sys.argv[1:]]


def print_metrics(title: str, metrics: dict[str, Any], *, stderr: bool = False) -> None:
    """A rich table of scalar metrics."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, (list, dict)):
            continue
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console(stderr=stderr).print(table)


def join_ddp_rank(args: argparse.Namespace) -> bool:
    """When this process is a DDP rank > 0, join rank 0's fit in its version folder and return True.

    Local DDP: Lightning starts ranks > 0 by re-running the command line; rank 0 exported its folder
    (``RUNWAY_VERSION_DIR``). SLURM: ``srun`` starts every task with the same ``--in-version``.
    Creating versions, writing manifests and printing results stay rank 0's job.
    """
    from runway_for_ml.experiment import training

    rank = training.global_rank()
    if rank == 0:
        return False
    worker_dir = training.ddp_worker_version_dir()
    if worker_dir is None and getattr(args, "in_version", None):
        worker_dir = Path(args.in_version)
    if worker_dir is None:
        raise RunwayError(
            f"this process is distributed rank {rank} but does not know rank 0's version folder "
            f"(neither {training.VERSION_DIR_ENV} nor --in-version is set); it would train in a second folder",
            hint="start multi-process training through runway-train itself (trainer_paras.devices/strategy) "
            "or with --slurm (slurm.tasks_per_node = devices)",
        )
    training.train_in_version(worker_dir)
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment name (configs/experiments/<name>.jsonnet)")
    parser.add_argument(
        "--from", dest="from_name", metavar="EXISTING", help="first clone this experiment's config into <experiment>"
    )
    add_opts_argument(parser)
    parser.add_argument(
        "--resume", action="store_true", help="continue the latest version (or --version N) from its last checkpoint"
    )
    parser.add_argument("--version", type=int, default=None, metavar="N", help="with --resume: the version to continue")
    # Used by SLURM jobs: train in a version folder created at submit time.
    parser.add_argument("--in-version", dest="in_version", default=None, help=argparse.SUPPRESS)
    add_launch_arguments(parser, sweep=True)
    add_ext_var_argument(parser)


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.experiment.experiment import require_project_root, resolve_experiment
    from runway_for_ml.experiment.manifest import read_manifest

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
        if args.opts or args.from_name:
            raise RunwayError(
                "--resume continues a version with its own config; --opts/--from cannot change it",
                hint="drop --opts/--from, or start a new version without --resume",
            )
        from runway_for_ml.experiment.training import load_version_config, train_in_version

        version_dir = resolve_experiment(args.experiment, root).version(args.version)
        manifest = read_manifest(version_dir)
        if manifest.get("status") == "completed":
            print(f"{version_dir.name} is already completed; nothing to resume.")
            return 0
        config = load_version_config(version_dir)
        code = submit_or_none(job_spec(args, config, version_dir), args)
        if code is not None:
            return code
        print(f"resuming {version_dir.name} (status: {manifest.get('status', 'unknown')})", file=sys.stderr)
        metrics = train_in_version(version_dir)
        print_metrics(f"{version_dir.name}: final training metrics", metrics)
        return 0
    from runway_for_ml.experiment.training import prepare_training, train_in_version

    _, config, version_dir = prepare_training(
        args.experiment, from_name=args.from_name, opts=args.opts, project_root=root, command_line=command_line(args)
    )
    print(f"version folder: {version_dir}", file=sys.stderr)
    code = submit_or_none(job_spec(args, config, version_dir), args)
    if code is not None:
        return code
    with removed_on_user_error(version_dir, produced="train/checkpoints/last.ckpt"), work_on_stderr():
        metrics = train_in_version(version_dir)
    print_metrics(f"{version_dir.name}: final training metrics", metrics)
    print(version_dir.name)
    return 0
