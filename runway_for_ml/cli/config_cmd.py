"""``runway config <config|experiment> [--opts …]``: print the resolved config as JSON.

Overridden values are marked: on a terminal each overridden line ends with ``// <- --opts (was …)``;
when piped, stdout is plain JSON and the list of overrides goes to stderr. ``--defaults`` prints every
framework key with its value or default (what a version folder keeps in ``config.resolved.json``).

``runway config --schema`` prints the JSON Schema of the whole config (for editors: a ``.json`` config
with ``"$schema"`` pointing at the file gets completion and checks); ``--schema --markdown`` prints
``docs/config-reference.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runway_for_ml.config import Override, config_json_schema, load_config
from runway_for_ml.config.reference import render_reference
from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.project import resolve_config_arg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, optional=True)
    parser.add_argument("--plain", action="store_true", help="plain JSON on stdout, even on a terminal")
    parser.add_argument(
        "--defaults", action="store_true", help="every framework key with its value or default (typed config)"
    )
    parser.add_argument("--schema", action="store_true", help="print the JSON Schema of the whole config and exit")
    parser.add_argument(
        "--markdown", action="store_true", help="with --schema: the Markdown reference (docs/config-reference.md)"
    )


def add_config_arguments(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """The config argument, ``--opts`` and ``--ext-var`` shared by every config-taking command."""
    parser.add_argument(
        "config",
        nargs="?" if optional else None,
        help="a .jsonnet file, or an experiment name of the current project",
    )
    parser.add_argument(
        "--opts", nargs="+", default=[], metavar="KEY=VALUE", help="override config values after evaluation"
    )
    parser.add_argument(
        "--ext-var", action="append", default=[], metavar="NAME=VALUE", help="set a jsonnet std.extVar (repeatable)"
    )


def ext_vars_from(args: argparse.Namespace) -> dict[str, str]:

    out = {}
    for item in getattr(args, "ext_var", []) or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"malformed --ext-var {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    if args.schema:
        return _print_schema(markdown=args.markdown)
    if args.markdown:
        raise RunwayError("--markdown goes with --schema", hint="runway config --schema --markdown")
    if args.config is None:
        raise RunwayError(
            "runway config needs a config file or an experiment name (or --schema)",
            hint="e.g. runway config digits, runway config configs/experiments/digits.jsonnet --opts train.batch_size=64",
        )
    config = load_config(resolve_config_arg(args.config), args.opts, ext_vars_from(args))
    if args.defaults:
        sys.stdout.write(json.dumps(config.resolved_data(), indent=2) + "\n")
        return 0
    marked = sys.stdout.isatty() and not args.plain
    if marked:
        sys.stdout.write(render_marked(config.data, config.overridden_paths()) + "\n")
    else:
        sys.stdout.write(config.to_json() + "\n")
        for override in config.overrides:
            sys.stderr.write(f"override {override.describe()}\n")
    return 0


def _print_schema(*, markdown: bool) -> int:
    if markdown:
        sys.stdout.write(render_reference())
    else:
        sys.stdout.write(json.dumps(config_json_schema(), indent=2) + "\n")
    return 0


def render_marked(data: Any, overrides: dict[str, Override]) -> str:
    """Pretty JSON where each overridden line carries a ``// <- source (was …)`` note."""
    lines: list[str] = []
    _emit(data, "", 0, lines, overrides, prefix="")
    return "\n".join(lines)


def _emit(
    value: Any, path: str, depth: int, lines: list[str], overrides: dict[str, Override], prefix: str, comma: str = ""
) -> None:
    pad = "  " * depth
    note = ""
    if path in overrides:
        o = overrides[path]
        note = f"  // <- {o.source}" + (f" (was {json.dumps(o.previous)})" if o.existed else " (new)")
    if isinstance(value, dict) and value and path not in overrides:
        lines.append(f"{pad}{prefix}{{")
        items = list(value.items())
        for i, (k, v) in enumerate(items):
            child = f"{path}.{k}" if path else k
            _emit(v, child, depth + 1, lines, overrides, json.dumps(k) + ": ", "," if i < len(items) - 1 else "")
        lines.append(f"{pad}}}{comma}")
    elif isinstance(value, list) and value and path not in overrides:
        lines.append(f"{pad}{prefix}[")
        for i, v in enumerate(value):
            _emit(v, f"{path}.{i}", depth + 1, lines, overrides, "", "," if i < len(value) - 1 else "")
        lines.append(f"{pad}]{comma}")
    else:
        lines.append(f"{pad}{prefix}{json.dumps(value)}{comma}{note}")
