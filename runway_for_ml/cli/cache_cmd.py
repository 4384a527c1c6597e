"""``runway cache ls|gc|verify``: list cache entries, remove the ones not used for a while, prove nodes reproducible.

    runway cache ls                          # every namespace of the project's local_cache/
    runway cache ls --namespace dummy --json
    runway cache gc --older-than 7d --dry-run
    runway cache gc --older-than 12h --cache-dir /shared/cache
    runway cache verify digits               # recompute every node in a scratch area, compare digests
    runway cache verify digits output:Normalised process:Split --json

The cache folder is, in order: ``--cache-dir``; ``meta.default_cache_dir`` of ``--config``; else
``local_cache/`` in the project root (or the working directory outside a project).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.cache import CacheStore
from runway_for_ml.project import resolve_config_arg

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cache_action", metavar="ACTION")
    ls = sub.add_parser("ls", help="list cache entries (key, node, transform, size, rows, age)")
    gc = sub.add_parser("gc", help="remove entries not used for a while, and leftovers of killed writers")
    gc.add_argument(
        "--older-than", required=True, metavar="DURATION", help="e.g. 7d, 12h, 30m, 90s (units s, m, h, d, w)"
    )
    gc.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    for p in (ls, gc):
        p.add_argument("--cache-dir", help="cache folder (default: meta.default_cache_dir, else local_cache/)")
        p.add_argument("--config", help="read meta.default_cache_dir from this config")
        p.add_argument("--namespace", help="only this namespace (e.g. default, dummy); default: all")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verify = sub.add_parser(
        "verify",
        help="recompute nodes in a scratch area and check that they reproduce their cache entries",
        description="Recompute the named nodes (default: every node of the pipeline) without touching the "
        "cache and compare a content digest of each output with the one recorded in its entry. Prints "
        "'reproducible' or 'differs' (with the first differing split, column and row) per node; exit "
        "code 1 when a node differs.",
    )
    from runway_for_ml.cli.config_cmd import add_config_arguments

    add_config_arguments(verify)
    verify.add_argument("nodes", nargs="*", metavar="NODE", help="nodes to verify (default: every node)")
    verify.add_argument("--dummy", action="store_true", default=None, help="verify the dummy-data cache")
    verify.add_argument("--cache-dir", default=None, help="cache folder (default: meta.default_cache_dir)")
    verify.add_argument("--json", action="store_true", help="print JSON instead of one line per node")


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "cache_action", None)
    if action is None:
        raise RunwayError(
            "missing action for 'runway cache'",
            hint="use 'runway cache ls', 'runway cache gc --older-than 7d' or 'runway cache verify EXPERIMENT'",
        )
    if action == "verify":
        return _verify(args)
    root = cache_folder(args.cache_dir, args.config)
    if action == "ls":
        return _ls(root, args.namespace, as_json=args.json)
    return _gc(root, args.namespace, parse_duration(args.older_than), dry_run=args.dry_run, as_json=args.json)


def _verify(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from runway_for_ml.cli.prepare_cmd import build_pipeline
    from runway_for_ml.pipeline.verify import DIFFERS, verifiable_nodes, verify_nodes

    args.regenerate, args.targets = [], None
    pipeline = build_pipeline(args)
    verifiable_nodes(pipeline, args.nodes or None)  # bad input: exit 2 before the progress bar starts
    columns = (TextColumn("verify"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(node: str, index: int, total: int) -> None:
            bar.update(task, total=total, completed=index, description=node)

        results = verify_nodes(pipeline, args.nodes or None, progress)
        bar.update(task, completed=len(results))
    failed = any(r.status == DIFFERS for r in results)
    if args.json:
        payload = {"config": args.config, "reproducible": not failed, "nodes": [r.as_json() for r in results]}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return 1 if failed else 0
    width = max(len(r.node) for r in results) if results else 0
    for r in results:
        line = f"{r.node:<{width}}  {r.status}"
        where = ", ".join(
            f"{k} {r.where[k]!r}" if k != "row" else f"row {r.where[k]}"
            for k in ("split", "column", "row")
            if r.where.get(k) not in (None, "")
        )
        detail = r.where.get("detail")
        if r.status == DIFFERS:
            line += f": first difference at {where}" if where else ""
            line += f" ({detail})" if detail else ""
        elif detail:
            line += f" ({detail})"
        if r.digest_recorded_now:
            line += "  [digest recorded now]"
        sys.stdout.write(line + "\n")
    return 1 if failed else 0


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``7d``, ``12h``, ``30m``, ``90s`` or ``2w``.

    >>> parse_duration("12h")
    43200.0
    """
    match = _DURATION_RE.match(str(text))
    if not match:
        raise RunwayError(
            f"invalid duration '{text}' for --older-than: expected a number and a unit",
            hint="for example --older-than 7d (units: s, m, h, d, w — 90s, 30m, 12h, 7d, 2w)",
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def cache_folder(cache_dir: str | None, config: str | None) -> Path:
    """The cache folder the command works on (see the module docstring for the order)."""
    from runway_for_ml.config import load_config, resolve_cache_dir

    loaded = load_config(resolve_config_arg(config)) if config and not cache_dir else None
    return resolve_cache_dir(loaded, cache_dir=cache_dir).resolve()


def _stores(root: Path, namespace: str | None) -> list:

    if namespace:
        return [CacheStore(root, namespace)]
    if not root.is_dir():
        return []
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [CacheStore(root, name) for name in names]


def _ls(root: Path, namespace: str | None, *, as_json: bool) -> int:
    now = time.time()
    rows = [(store.namespace, entry) for store in _stores(root, namespace) for entry in store.entries()]
    if as_json:
        sys.stdout.write(json.dumps([_entry_json(ns, e, now) for ns, e in rows], indent=2) + "\n")
        return 0
    if not rows:
        where = f"namespace '{namespace}' of " if namespace else ""
        sys.stdout.write(f"no cache entries in {where}{root}\n")
        return 0
    _print_table(f"cache {root}", rows, now)
    total = sum(e.size_bytes for _, e in rows)
    sys.stdout.write(f"{len(rows)} entries, {human_size(total)}\n")
    return 0


def _gc(root: Path, namespace: str | None, older_than: float, *, dry_run: bool, as_json: bool) -> int:
    now = time.time()
    removed, locks = [], []
    for store in _stores(root, namespace):
        for entry in store.gc(older_than, dry_run=dry_run):
            # Lock files of entries that no longer exist are listed apart: there is one per key ever computed.
            (locks if entry.node == "(lock)" else removed).append((store.namespace, entry))
    if as_json:
        payload = {
            "dry_run": dry_run,
            "removed": [_entry_json(ns, e, now) for ns, e in removed],
            "lock_files_removed": [str(e.path) for _, e in locks],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return 0
    verb = "would remove" if dry_run else "removed"
    if removed:
        _print_table(f"{verb} (not used for {_age(older_than)})", removed, now)
    total = sum(e.size_bytes for _, e in removed)
    lock_note = f" and {len(locks)} lock files of entries that no longer exist" if locks else ""
    sys.stdout.write(f"{verb} {len(removed)} entries, {human_size(total)}{lock_note} from {root}\n")
    return 0


def _entry_json(namespace: str, entry: Any, now: float) -> dict:
    return {
        "namespace": namespace,
        "key": entry.key,
        "node": entry.node,
        "transform": entry.meta.get("transform"),
        "size_bytes": entry.size_bytes,
        "rows": entry.rows,
        "created": entry.meta.get("created"),
        "age_seconds": round(now - entry.created_epoch, 3) if entry.created_epoch else None,
        "last_used_seconds_ago": round(now - entry.last_used_epoch, 3),
        "path": str(entry.path),
    }


def _print_table(title: str, rows: list, now: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    show_ns = len({ns for ns, _ in rows}) > 1
    if show_ns:
        table.add_column("namespace")
    for name, justify in (("key", "left"), ("node", "left"), ("transform", "left"), ("size", "right")):
        table.add_column(name, justify=justify)
    table.add_column("rows", justify="right")
    table.add_column("age", justify="right")
    table.add_column("used", justify="right")
    for ns, entry in rows:
        transform = str(entry.meta.get("transform") or "")
        cells = [
            entry.key[:12],
            entry.node,
            transform.rsplit(".", 1)[-1],
            human_size(entry.size_bytes),
            "" if entry.rows is None else f"{entry.rows:,}",
            _age(now - entry.created_epoch) if entry.created_epoch else "",
            _age(now - entry.last_used_epoch) + " ago",
        ]
        table.add_row(*([ns] if show_ns else []), *cells)
    # Piped output would be squeezed to 80 columns; a table only takes the width it needs anyway.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def human_size(num_bytes: float) -> str:
    """``1536 -> '1.5 KB'``."""
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}" if seconds / size >= 10 else f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
