"""``runway-infer <exp> <infer_suffix> [--version N] [--checkpoint best|last|PATH] [--config FILE] [--opts ...] [--no-eval]``.

Writes ``<exp>_V<n>/infer-<suffix>/`` and prints its run name (what ``runway-eval`` takes) on stdout.

>>> main(["infer", "digits", "test", "--checkpoint", "best"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runway_for_ml.cli.common import (
    add_launch_arguments,
    add_opts_argument,
    command_line,
    print_metrics,
    replayed_options,
    submit_or_none,
)
from runway_for_ml.cli.output import work_on_stderr
from runway_for_ml.cli.preflight import add_ext_var_argument
from runway_for_ml.cli.preflight import preflight as _preflight
from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.experiment.names import require_project_root, resolve_experiment, split_version_name
from runway_for_ml.experiment.preflight import removed_on_user_error
from runway_for_ml.launcher import VERSION_DIR, JobSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment name (or <exp>_V<n>)")
    parser.add_argument("infer_suffix", help="name of this inference run: the folder is infer-<suffix>")
    parser.add_argument("--version", type=int, default=None, metavar="N", help="version to use (default: the latest)")
    parser.add_argument("--checkpoint", default=None, help="best (default), last, or a .ckpt path")
    parser.add_argument(
        "--config", dest="config_file", type=Path, default=None, help="use this config file instead of the version's"
    )
    add_opts_argument(parser)
    parser.add_argument("--no-eval", dest="evaluate", action="store_false", help="only save predictions")
    parser.add_argument("--in-dir", dest="in_dir", default=None, help=argparse.SUPPRESS)
    add_launch_arguments(parser)
    add_ext_var_argument(parser)


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.experiment.inference import infer_config, prepare_inference

    root = require_project_root()
    _preflight("infer", args, root)  # checks everything before any folder is created
    if args.in_dir:
        infer_dir = Path(args.in_dir)
    else:
        name, number = split_version_name(args.experiment)
        version = args.version if args.version is not None else number
        exp = resolve_experiment(name, root)  # default: the latest completed version (as Experiment.load)
        version_dir = exp.version(version, flag="--version") if version is not None else exp.latest_completed()
        queued = _queued_infer_dir(version_dir, args.infer_suffix)
        if queued is not None:  # a SLURM job running the command submitted earlier
            infer_dir = queued
            return _run_here(infer_dir)
        infer_dir = prepare_inference(
            version_dir,
            args.infer_suffix,
            checkpoint=args.checkpoint,
            config_file=args.config_file,
            opts=args.opts,
            evaluate=args.evaluate,
            command_line=command_line(args),
        )
        code = submit_or_none(job_spec(args, infer_config(infer_dir), infer_dir), args)
        if code is not None:
            return code
    return _run_here(infer_dir)


def job_spec(args: argparse.Namespace, config: Any, infer_dir: Path) -> Any:
    """The SLURM job of ``runway infer``: run the inference folder made at submit time.

    ``--checkpoint``, ``--config``, ``--opts`` and ``--no-eval`` are in that folder already.
    """

    return JobSpec(
        "infer",
        ["infer", args.experiment, args.infer_suffix, *replayed_options(args), "--in-dir", VERSION_DIR],
        config,
        version_dir=infer_dir,
        experiment=split_version_name(args.experiment)[0],
        command_line=command_line(args),
    )


def _queued_infer_dir(version_dir: Path, suffix: str) -> Path | None:
    """The infer folder created at submit time, when this process is the SLURM job that runs it."""
    import os

    infer_dir = VersionDir(version_dir).infer_dir(suffix)
    if os.environ.get("RUNWAY_LAUNCHER") != "slurm" or not infer_dir.is_dir():
        return None
    status = read_manifest(infer_dir).get("status")
    return infer_dir if status in ("created", "queued", "running", "interrupted") else None


def _run_here(infer_dir: Path) -> int:
    from runway_for_ml.experiment.inference import infer_in_dir, infer_run_name
    from runway_for_ml.metrics.recorder import PREDICTIONS_JSONL

    with removed_on_user_error(infer_dir, produced=PREDICTIONS_JSONL), work_on_stderr():
        metrics = infer_in_dir(infer_dir)
    if metrics:
        print_metrics(f"{infer_run_name(infer_dir)}: metrics", metrics, stderr=True)
    print(infer_run_name(infer_dir))
    return 0
