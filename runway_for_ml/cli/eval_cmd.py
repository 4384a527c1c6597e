"""``runway-eval <exp>_V<n>/infer-<suffix> [--opts ...]``: recompute metrics from saved predictions.

The model is not loaded; ``--opts`` can change ``eval.metrics`` for this evaluation. Earlier metrics
stay in ``metrics.json`` (a metric computed again is replaced; ``--replace`` keeps only the new ones),
the confusion-matrix pictures are drawn again and an existing ``report.html`` is rebuilt.

>>> main(["eval", "digits_V0/infer-test", "--opts", 'eval.metrics=[{"name":"f1","kwargs":{"average":"macro"}}]'])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
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
from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.experiment.names import require_project_root, resolve_infer_dir
from runway_for_ml.experiment.report import build_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("infer_run", help="inference run name printed by runway-infer, e.g. digits_V0/infer-test")
    add_opts_argument(parser)
    parser.add_argument(
        "--replace",
        action="store_true",
        help="keep only the metrics of this evaluation (default: add them to the earlier ones in metrics.json)",
    )
    add_launch_arguments(parser)


def job_spec(args: argparse.Namespace, config: Any, infer_dir: Path) -> Any:
    """The SLURM job of ``runway eval``: evaluate the inference folder again, with the same ``--opts``."""
    from runway_for_ml.launcher import JobSpec

    opts = ["--opts", *args.opts] if args.opts else []
    if getattr(args, "replace", False):
        opts.append("--replace")
    return JobSpec(
        "eval",
        ["eval", str(Path(infer_dir).resolve()), *opts, *replayed_options(args)],
        config,
        version_dir=infer_dir,
        command_line=command_line(args),
    )


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.experiment.inference import evaluate_infer_dir, infer_config, infer_run_name

    root = require_project_root()
    infer_dir = resolve_infer_dir(args.infer_run, root)
    code = submit_or_none(job_spec(args, infer_config(infer_dir, args.opts), infer_dir), args)
    if code is not None:
        return code
    from runway_for_ml.metrics.evaluate import METRICS_JSON

    before = _saved_keys(infer_dir / METRICS_JSON)
    metrics = evaluate_infer_dir(infer_dir, args.opts, replace=args.replace)
    kept = [key for key in metrics if key in before and key not in _evaluated_now(infer_dir)]
    if kept:
        sys.stderr.write(f"[eval] kept from earlier evaluations: {', '.join(kept)} (--replace drops them)\n")
    _rebuild_report(infer_dir.parent)
    print_metrics(f"{infer_run_name(infer_dir)}: metrics", metrics)
    return 0


def _saved_keys(path: Path) -> set[str]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return set()
    return set(data) if isinstance(data, dict) else set()


def _evaluated_now(infer_dir: Path) -> set[str]:

    history = read_manifest(infer_dir).get("evaluations") or [{}]
    return set(history[-1].get("keys") or [])


def _rebuild_report(version_dir: Path) -> None:
    """An existing report.html shows the metrics and pictures: draw it again (a failure is only reported)."""

    layout = VersionDir(version_dir)
    if not layout.report_path.is_file():
        return

    try:
        build_report(layout.path)
        sys.stderr.write(f"[eval] report updated: {layout.report_path}\n")
    except Exception as exc:  # the metrics are written; an old report that cannot be rebuilt is not an error
        sys.stderr.write(f"[eval] report not updated: {type(exc).__name__}: {exc}\n")
