"""``runway-eval <exp>_V<n>/infer-<suffix> [--opts ...]``: recompute metrics from saved predictions.

The model is not loaded; ``--opts`` can change ``eval.metrics`` for this evaluation.

>>> main(["eval", "digits_V0/infer-test", "--opts", 'eval.metrics=[{"name":"f1","kwargs":{"average":"macro"}}]'])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from runway_for_ml.cli.train_cmd import add_launch_arguments, add_opts_argument, print_metrics, submit_or_none


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("infer_run", help="inference run name printed by runway-infer, e.g. digits_V0/infer-test")
    add_opts_argument(parser)
    add_launch_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from runway_for_ml.config import ResolvedConfig
    from runway_for_ml.experiment.experiment import require_project_root, resolve_infer_dir
    from runway_for_ml.experiment.inference import evaluate_infer_dir, infer_run_name

    root = require_project_root()
    infer_dir = resolve_infer_dir(args.infer_run, root)
    path = infer_dir / "config.json"
    config = ResolvedConfig.from_dict(json.loads(path.read_text(encoding="utf-8")), args.opts, path=path)
    code = submit_or_none("eval", args, config, infer_dir)
    if code is not None:
        return code
    metrics = evaluate_infer_dir(infer_dir, args.opts)
    print_metrics(f"{infer_run_name(infer_dir)}: metrics", metrics)
    return 0
