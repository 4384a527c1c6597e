"""``runway-experiment <name> [--from <existing>]``: create an experiment config.

>>> main(["experiment", "digits_small", "--from", "digits"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from runway_for_ml.experiment.names import create_experiment_config, require_project_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="name of the new experiment (configs/experiments/<name>.jsonnet)")
    parser.add_argument("--from", dest="from_name", metavar="EXISTING", help="clone this experiment's config")


def run(args: argparse.Namespace) -> int:
    root = require_project_root()
    path = create_experiment_config(root, args.name, from_name=args.from_name)
    origin = f"cloned from '{args.from_name}'" if args.from_name else "from the template"
    print(f"Created {path.relative_to(root)} ({origin}).")
    print(f"Edit it, then: runway-train {args.name}")
    return 0
