"""``runway migrate OLD_CONFIG [-o NEW]``: rewrite a config of the original runway_for_ml into this format.

Prints, key by key, what moved, was renamed, converted or dropped and why, then checks the result
against this project's validation. Without ``-o`` the new config goes to stdout (the report to
stderr); with ``-o`` it is written atomically (an existing file is kept unless ``--force``).

    runway migrate old_project/configs/exp_configs/imdb.jsonnet -o configs/experiments/imdb.jsonnet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.errors import RunwayError

# Named here rather than read from the executor registry: importing executors loads torch and
# Lightning, seconds that a config rewrite should not cost.
_BUILTIN_EXECUTORS = ("ClassificationExecutor", "SequenceClassificationExecutor", "Seq2SeqExecutor", "CausalLMExecutor")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old_config", metavar="OLD_CONFIG", help="a config file of the original runway_for_ml")
    parser.add_argument("-o", "--output", metavar="NEW", help="write the new config here (default: print it)")
    parser.add_argument("--force", action="store_true", help="overwrite NEW when it exists")
    parser.add_argument("--show-kept", action="store_true", help="list unchanged keys one per line too")


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.config.migrate import migrate_file, render_config, render_report

    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.force:
        raise RunwayError(
            f"{output} exists; runway migrate does not overwrite it", hint="pass --force, or choose another -o"
        )
    migration = migrate_file(args.old_config)
    report = render_report(migration, show_kept=args.show_kept)
    checks = _checks(migration.config)
    text = render_config(migration, args.old_config)
    summary = report + "\n" + "\n".join(checks) + "\n"
    if output is None:
        sys.stdout.write(text)
        sys.stderr.write(summary)
        return 0
    write_text_atomic(output, text)
    sys.stdout.write(summary + f"wrote {output}\n")
    return 0


def _checks(config: dict[str, Any]) -> list[str]:
    """What runway's own validation says about the result (and transforms a project must register)."""
    from runway_for_ml.config.schema import validate_config
    from runway_for_ml.experiment.sections import validate_sections
    from runway_for_ml.pipeline.transform import TRANSFORMS

    lines = []
    try:
        validate_config(config)
        validate_sections(config)
        lines.append("check     the new config passes runway's config checks")
    except RunwayError as exc:
        lines.append(f"check     still to fix: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
    executor = (config.get("executor") or {}).get("ExecutorClass")
    if isinstance(executor, str) and "." not in executor and executor not in _BUILTIN_EXECUTORS:
        lines.append(
            f"check     executor.ExecutorClass: '{executor}' is not a built-in executor; an executor written for "
            "the original framework must be ported to runway_for_ml.BaseExecutor (see docs/migrating.md)"
        )
    nodes = ((config.get("data_pipeline") or {}).get("transforms") or {}).items()
    for node, spec in nodes:
        name = spec.get("transform_name") if isinstance(spec, dict) else None
        if isinstance(name, str) and "." not in name and name not in TRANSFORMS:
            lines.append(
                f"check     data_pipeline.transforms.{node}: '{name}' is not a built-in transform; "
                "register it in your project's data_processing/ (@register_transform_functor)"
            )
    return lines
