"""``runway-eval <exp>_V<n>/infer-<suffix> [--opts ...]``: recompute metrics from saved predictions.

The model is not loaded; ``--opts`` can change ``eval.metrics`` for this evaluation.

>>> main(["eval", "digits_V0/infer-test", "--opts", 'eval.metrics=[{"name":"f1","kwargs":{"average":"macro"}}]'])  # doctest: +SKIP
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("infer_run", help="inference run name printed by runway-infer, e.g. digits_V0/infer-test")
    add_opts_argument(parser)
    add_launch_arguments(parser)


def job_spec(args: argparse.Namespace, config: Any, infer_dir: Path) -> Any:
    """The SLURM job of ``runway eval``: evaluate the inference folder again, with the same ``--opts``."""
    from runway_for_ml.launcher import JobSpec

    opts = ["--opts", *args.opts] if args.opts else []
    return JobSpec(
        "eval",
        ["eval", str(Path(infer_dir).resolve()), *opts, *replayed_options(args)],
        config,
        version_dir=infer_dir,
        command_line=command_line(args),
    )


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.experiment.inference import evaluate_infer_dir, infer_config, infer_run_name
    from runway_for_ml.experiment.names import require_project_root, resolve_infer_dir

    root = require_project_root()
    infer_dir = resolve_infer_dir(args.infer_run, root)
    code = submit_or_none(job_spec(args, infer_config(infer_dir, args.opts), infer_dir), args)
    if code is not None:
        return code
    metrics = evaluate_infer_dir(infer_dir, args.opts)
    print_metrics(f"{infer_run_name(infer_dir)}: metrics", metrics)
    return 0
