"""``runway export VERSION -o DIR``: a self-contained Runway model folder plus its ``models.json`` entry.

>>> main(["export", "digits_V0", "-o", "exported/digits"])  # doctest: +SKIP
exported/digits
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "version", help="a version (digits_V0), an experiment (its latest completed version), or a version folder"
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="the folder to write (must be new or empty)"
    )
    parser.add_argument("--checkpoint", default="best", help="best (default), last, or a .ckpt path")
    parser.add_argument("--catalog", type=Path, default=None, help="the models.json to update (default: beside DIR)")
    parser.add_argument("--port", type=int, default=9000, help="the port runway_model.py serves on (default 9000)")
    parser.add_argument("--tag", default=None, help="the catalog tag (default: <experiment>:<version number>)")
    parser.add_argument("--force", action="store_true", help="replace DIR if it is not empty")


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.serving.experiment_model import load_experiment
    from runway_for_ml.serving.export import export_version

    exp = load_experiment(args.version)
    folder = export_version(
        exp,
        args.output,
        checkpoint=args.checkpoint,
        catalog=args.catalog,
        force=args.force,
        port=args.port,
        tag=args.tag,
    )
    print(folder)
    return 0
