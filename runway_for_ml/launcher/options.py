"""The launcher's own command-line options: ``--slurm``, ``--launcher``, ``--wait``, ``--dry-run``, ``--sweep``.

These are the only flags the launcher knows. Every other flag belongs to the command, which writes
the command line its job replays itself (:class:`~runway_for_ml.launcher.spec.JobSpec`).

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_launcher_arguments(parser)
>>> chosen_launcher(parser.parse_args(["--slurm"]), {"meta": {"launcher": "local"}})
'slurm'
>>> chosen_launcher(parser.parse_args([]), {"meta": {"launcher": "slurm"}})
'slurm'
"""

from __future__ import annotations

import argparse
from typing import Any

from runway_for_ml.config.schema import typed_config

__all__ = ["LAUNCHERS", "add_launcher_arguments", "chosen_launcher"]

LAUNCHERS = ("local", "slurm")


def add_launcher_arguments(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """Add ``--slurm``, ``--launcher {local,slurm}``, ``--wait``, ``--dry-run`` (and ``--sweep KEY=V1,V2`` when ``sweep``)."""
    group = parser.add_argument_group("where to run (docs/hpc.md)")
    group.add_argument(
        "--slurm",
        action="store_true",
        help="submit to SLURM through submitit (settings: the config's `slurm` section) and return",
    )
    group.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default=None,
        help="run here (local) or on SLURM; default: meta.launcher, else local",
    )
    group.add_argument(
        "--wait", action="store_true", help="with SLURM: block, stream the job's log, exit with its status"
    )
    group.add_argument(
        "--dry-run",
        action="store_true",
        help="with SLURM: check everything, print the sbatch script and the srun line, submit nothing",
    )
    if sweep:
        group.add_argument(
            "--sweep",
            action="append",
            default=[],
            metavar="KEY=V1,V2,...",
            help="sweep a config key over values (repeatable: cartesian product); one SLURM job array, "
            "one experiment version per point",
        )


def chosen_launcher(args: argparse.Namespace, config: Any = None) -> str:
    """``local`` or ``slurm``: ``--launcher`` wins, then ``--slurm``, then ``meta.launcher``."""
    explicit = getattr(args, "launcher", None)
    if explicit:
        return str(explicit)
    if getattr(args, "slurm", False):
        return "slurm"
    return typed_config(config if config is not None else {}).meta.launcher
